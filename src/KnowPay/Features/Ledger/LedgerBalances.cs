using KnowPay.Data;
using KnowPay.Domain;
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
    /// <exception cref="LedgerSumOutOfRangeException">The balance does not fit a long.</exception>
    public static async Task<long> AccountBalanceAsync(KnowPayDb db, string merchantId, string account, CancellationToken ct) =>
        ToMinorUnits(await db.LedgerEntries.Where(e => e.MerchantId == merchantId && e.Account == account).SumAsync(e => (decimal)e.Amount, ct),
            merchantId, account);

    /// <summary>Every account of the merchant whose id starts with the prefix, with its currency and balance.</summary>
    /// <exception cref="LedgerSumOutOfRangeException">A balance does not fit a long.</exception>
    public static async Task<List<AccountBalance>> ByAccountAsync(KnowPayDb db, string merchantId, string? accountPrefix, CancellationToken ct)
    {
        var query = db.LedgerEntries.Where(e => e.MerchantId == merchantId);
        if (accountPrefix is not null) query = query.Where(e => e.Account.StartsWith(accountPrefix));
        var rows = await query.GroupBy(e => new { e.Account, e.Currency })
            .Select(g => new { g.Key.Account, g.Key.Currency, Sum = g.Sum(e => (decimal)e.Amount) })
            .ToListAsync(ct);
        return rows.Select(r => new AccountBalance(r.Account, r.Currency, ToMinorUnits(r.Sum, merchantId, r.Account)))
            .OrderBy(r => r.Currency, StringComparer.Ordinal).ThenBy(r => r.Account, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Sums are taken in numeric (PostgreSQL) or decimal (SQLite), where they cannot overflow; one that does not fit the
    /// long every balance is reported in is an error naming the account, never a wrong number.
    /// </summary>
    public static long ToMinorUnits(decimal sum, string merchantId, string account) =>
        AmountLimit.TryToMinorUnits(sum, out var balance) ? balance : throw new LedgerSumOutOfRangeException(merchantId, account, sum);
}

/// <summary>A ledger sum beyond the range of a long (only possible with amounts stored before <see cref="AmountLimit"/>).</summary>
public sealed class LedgerSumOutOfRangeException(string merchantId, string account, decimal sum)
    : OverflowException($"The balance of {account} ({sum}) is beyond what this API can report.")
{
    public string MerchantId { get; } = merchantId;
    public string Account { get; } = account;
}

public sealed record AccountBalance(string Account, string Currency, long Balance);
