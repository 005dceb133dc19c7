using System.Globalization;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

public sealed record AdjustmentEntry(string? Account, string? Currency, long? Amount);

/// <param name="Date">The UTC ledger day to post on, yyyy-MM-dd (default today); a closed day is refused with 409 period_closed.</param>
public sealed record AdjustmentRequest(string? Description, string? Date, IReadOnlyList<AdjustmentEntry>? Entries);

/// <summary>
/// POST /v1/ledger/journals: an operator's balanced adjustment journal (source type "adjustment"), on today or an earlier
/// day that is still open. A correction of a closed day is posted on an open day with the closed one in its description.
/// </summary>
public static partial class AdjustmentJournals
{
    const int MaxEntries = 50;

    [GeneratedRegex("^[a-z_]+(:[A-Za-z0-9_]+)*:[A-Z]{3}$")]
    private static partial Regex AccountPattern();

    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/ledger/journals", Handle).RequireScope("ledger:write");

    static async Task<Results<Created<JournalView>, ProblemHttpResult>> Handle(
        AdjustmentRequest body, AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var today = LedgerPeriods.DayOf(now);
        if (body.Description is not { Length: > 0 and <= 200 } description)
            return Problems.Invalid("description_invalid", "description", "description is required, at most 200 characters.");
        var day = today;
        if (body.Date is not null && !DateOnly.TryParseExact(body.Date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day) || day > today)
            return Problems.Invalid("date_invalid", "date", "date is a UTC day as yyyy-MM-dd, not in the future.");
        if (body.Entries is not { Count: >= 2 and <= MaxEntries } entries)
            return Problems.Invalid("entries_invalid", "entries", $"entries holds 2 to {MaxEntries} postings.");
        var postings = new List<Posting>();
        foreach (var e in entries)
        {
            if (e.Currency is null || !Currency.TryFind(e.Currency, out var currency) || e.Currency != currency.Code)
                return Problems.Invalid("currency_unsupported", "entries", "each entry's currency is an upper-case ISO 4217 code KnowPay supports.");
            if (e.Account is not { } account || !AccountPattern().IsMatch(account) || !account.EndsWith(":" + currency.Code, StringComparison.Ordinal))
                return Problems.Invalid("account_invalid", "entries", "each entry's account is a ledger account id ending in its currency, e.g. platform:revenue:CNY.");
            if (e.Amount is not { } amount || amount == 0 || !AmountLimit.Default.Allows(Math.Abs(amount), currency))
                return Problems.Invalid("amount_invalid", "entries", "each entry's amount is a non-zero integer in minor units within the amount limit (debit positive).");
            postings.Add(new Posting(account, currency.Code, amount));
        }
        if (postings.GroupBy(p => p.Currency).Any(g => g.Sum(p => p.Amount) != 0))
            return Problems.Invalid("journal_unbalanced", "entries", "the entries of each currency sum to zero.");

        var currencies = postings.Select(p => p.Currency).Distinct().ToList();
        if (await LedgerPeriods.ClosedCurrencyAsync(db, merchant.Id, currencies, day, ct) is { } closed)
            throw new PeriodClosedException(day, closed);
        var journal = Journals.Build(merchant.Id, "adjustment", Ids.New("adj"), description, postings, day == today ? now : LedgerPeriods.Start(day));
        db.Journals.Add(journal);
        await db.SaveChangesAsync(ct);   // a close committed meanwhile: the trigger refuses it, answered 409 period_closed
        return TypedResults.Created($"/v1/ledger/journals/{journal.Id}", JournalView.From(journal));
    }
}
