using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

/// <summary>What a creator is owed in one currency: held for the refund window (pending) and payable (available).</summary>
public sealed record CreatorBalance(string Currency, long Pending, long Available);

/// <param name="PayoutCurrency">The creator's payout currency (null: each sale's price currency); its balance is listed first.</param>
public sealed record CreatorBalancesView(string Object, string CreatorId, IReadOnlyList<CreatorBalance> Balances, string? PayoutCurrency = null);

/// <summary>
/// One line of a creator's statement. <c>Amount</c> is the change in what the creator is owed (positive: earned or
/// returned; negative: refunded or paid out), <c>BalanceAfter</c> that account's balance after the line, in the same sign.
/// </summary>
public sealed record StatementLine(
    string Id, string Object, string JournalId, string SourceType, string SourceId, string Balance, string Currency, long Amount, long BalanceAfter,
    string? Description, DateTime CreatedAt);

/// <summary>GET /v1/creators/{id}/balances and GET /v1/creators/{id}/statement (newest first, cursor = entry id).</summary>
public static class CreatorLedger
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/creators/{id}/balances", Balances).RequireScope("ledger:read");
        v1.MapGet("/creators/{id}/statement", Statement).RequireScope("ledger:read");
    }

    static async Task<Results<Ok<CreatorBalancesView>, ProblemHttpResult>> Balances(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var creator = await db.Creators.AsNoTracking().Where(c => c.Id == id && c.MerchantId == merchant.Id).Select(c => new { c.PayoutCurrency }).SingleOrDefaultAsync(ct);
        if (creator is null) return Problems.NotFound("creator", id);
        var accounts = await LedgerBalances.ByAccountAsync(db, merchant.Id, $"creator:{id}:", ct);
        var balances = accounts.GroupBy(a => a.Currency).Select(g => new CreatorBalance(g.Key,
                -g.Where(a => a.Account == Accounts.CreatorPending(id, g.Key)).Sum(a => a.Balance),
                -g.Where(a => a.Account == Accounts.CreatorAvailable(id, g.Key)).Sum(a => a.Balance)))
            .OrderBy(b => b.Currency == creator.PayoutCurrency ? 0 : 1).ThenBy(b => b.Currency, StringComparer.Ordinal)
            .ToList();
        return TypedResults.Ok(new CreatorBalancesView("creator_balances", id, balances, creator.PayoutCurrency));
    }

    static async Task<Results<Ok<ListPage<StatementLine>>, ProblemHttpResult>> Statement(
        string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, int? limit, string? starting_after, string? currency)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        if (!await db.Creators.AnyAsync(c => c.Id == id && c.MerchantId == merchant.Id, ct)) return Problems.NotFound("creator", id);
        long? after = null;
        if (starting_after is not null)
        {
            if (!long.TryParse(starting_after, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var cursor))
                return Problems.Invalid("starting_after_invalid", "starting_after", "starting_after is the id of a statement line.");
            after = cursor;
        }
        var prefix = $"creator:{id}:";
        var query = db.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == merchant.Id && e.Account.StartsWith(prefix));
        if (currency is not null) query = query.Where(e => e.Currency == currency.ToUpperInvariant());
        if (after is { } a) query = query.Where(e => e.Id < a);
        var rows = await query
            .Join(db.Journals, e => e.JournalId, j => j.Id, (e, j) => new { Entry = e, j.SourceType, j.SourceId, j.Description })
            .OrderByDescending(r => r.Entry.Id).Take(take + 1)
            .ToListAsync(ct);

        // Running balance per account: the balance up to the newest line on the page, then walk back.
        var running = new Dictionary<string, long>();
        foreach (var account in rows.Take(take).Select(r => r.Entry.Account).Distinct())
        {
            var newest = rows.First(r => r.Entry.Account == account).Entry.Id;
            running[account] = LedgerBalances.ToMinorUnits(
                await db.LedgerEntries.Where(e => e.MerchantId == merchant.Id && e.Account == account && e.Id <= newest).SumAsync(e => (decimal)e.Amount, ct),
                merchant.Id, account);
        }
        var lines = new List<StatementLine>();
        foreach (var r in rows.Take(take))
        {
            var e = r.Entry;
            lines.Add(new StatementLine(e.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "statement_line", e.JournalId, r.SourceType, r.SourceId,
                e.Account.Contains(":pending:", StringComparison.Ordinal) ? "pending" : "available", e.Currency, -e.Amount, -running[e.Account], r.Description, e.CreatedAt));
            running[e.Account] = checked(running[e.Account] - e.Amount);
        }
        var hasMore = rows.Count > take;
        return TypedResults.Ok(new ListPage<StatementLine>(lines, hasMore, hasMore ? lines[^1].Id : null));
    }
}
