using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

public sealed record EntryView(string Account, string Currency, long Amount);

/// <param name="CorrectsDay">The closed day a later correction concerns (it is posted on an open day).</param>
public sealed record JournalView(string Id, string Object, string SourceType, string SourceId, string? PaymentId, string? Description, DateTime CreatedAt,
    IReadOnlyList<EntryView> Entries, DateOnly? CorrectsDay = null)
{
    public static JournalView From(LedgerJournal j) => new(j.Id, "ledger_journal", j.SourceType, j.SourceId, j.PaymentId, j.Description, j.CreatedAt,
        j.Entries.OrderBy(e => e.Id).Select(e => new EntryView(e.Account, e.Currency, e.Amount)).ToList(), j.CorrectsDay);
}

public sealed record TrialBalanceCurrency(string Currency, IReadOnlyList<EntryView> Accounts, long Total);

public sealed record TrialBalanceView(string Object, bool Balanced, IReadOnlyList<TrialBalanceCurrency> Currencies);

/// <summary>GET /v1/ledger/journals/{id} and GET /v1/ledger/trial-balance (every account with its balance, per currency).</summary>
public static class LedgerReports
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/ledger/journals/{id}", GetJournal).RequireScope("ledger:read");
        v1.MapGet("/ledger/trial-balance", TrialBalance).RequireScope("ledger:read");
    }

    static async Task<Results<Ok<JournalView>, ProblemHttpResult>> GetJournal(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var journal = await db.Journals.AsNoTracking().Include(j => j.Entries).SingleOrDefaultAsync(j => j.Id == id && j.MerchantId == merchant.Id, ct);
        return journal is null ? Problems.NotFound("journal", id) : TypedResults.Ok(JournalView.From(journal));
    }

    static async Task<Ok<TrialBalanceView>> TrialBalance(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var view = Build(await LedgerBalances.ByAccountAsync(db, merchant.Id, null, ct));
        return TypedResults.Ok(view);
    }

    public static TrialBalanceView Build(IReadOnlyList<AccountBalance> accounts)
    {
        var currencies = accounts.GroupBy(a => a.Currency)
            .Select(g => new TrialBalanceCurrency(g.Key, g.Select(a => new EntryView(a.Account, a.Currency, a.Balance)).ToList(),
                LedgerBalances.ToMinorUnits(g.Sum(a => (decimal)a.Balance), "", $"the trial balance in {g.Key}")))
            .ToList();
        return new TrialBalanceView("trial_balance", currencies.All(c => c.Total == 0), currencies);
    }
}
