using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

/// <summary>
/// Balances are sums of append-only entries (debit positive, credit negative); no balance row is stored, so hot
/// accounts (platform revenue, provider clearing) never serialise payments. A creator's payable balances are credits:
/// a creator owed 100 has a balance of −100.
/// </summary>
public static class LedgerBalances
{
    /// <summary>The balance of one account (its id names the currency). Stable: the refunds feature calls it.</summary>
    public static Task<long> AccountBalanceAsync(KnowPayDb db, string merchantId, string account, CancellationToken ct) =>
        db.LedgerEntries.Where(e => e.MerchantId == merchantId && e.Account == account).SumAsync(e => e.Amount, ct);

    /// <summary>Every account of the merchant whose id starts with the prefix, with its currency and balance.</summary>
    public static async Task<List<AccountBalance>> ByAccountAsync(KnowPayDb db, string merchantId, string? accountPrefix, CancellationToken ct)
    {
        var query = db.LedgerEntries.Where(e => e.MerchantId == merchantId);
        if (accountPrefix is not null) query = query.Where(e => e.Account.StartsWith(accountPrefix));
        var rows = await query.GroupBy(e => new { e.Account, e.Currency })
            .Select(g => new AccountBalance(g.Key.Account, g.Key.Currency, g.Sum(e => e.Amount)))
            .ToListAsync(ct);
        return rows.OrderBy(r => r.Currency, StringComparer.Ordinal).ThenBy(r => r.Account, StringComparer.Ordinal).ToList();
    }
}

public sealed record AccountBalance(string Account, string Currency, long Balance);
