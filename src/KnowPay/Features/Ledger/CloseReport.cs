using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

/// <summary>
/// What one merchant's ledger day looked like in one currency, per account class: the opening balance (every entry
/// before the day), the day's entries by the kind of journal that posted them, and the closing balance.
/// </summary>
public static class CloseReport
{
    /// <summary>creator:cre_1:pending:CNY → creator:pending; provider:alipay:clearing:CNY → provider:alipay:clearing.</summary>
    public static string AccountClass(string account)
    {
        var parts = account.Split(':');
        var head = parts[..^1];
        return head is [("creator" or "customer") and var owner, _, .. var rest] ? string.Join(':', [owner, .. rest]) : string.Join(':', head);
    }

    /// <summary>
    /// The report's column of each kind of journal that has one; every other kind (adjustments, hold releases, credits)
    /// is "other". Exact kinds, never a pattern of their names: a new kind is "other" until it is placed here.
    /// </summary>
    static readonly Dictionary<string, string> ColumnOfKind = new(StringComparer.Ordinal)
    {
        ["payment_confirmed"] = "payments",
        ["refund"] = "refunds",
        [FeeTrueUpKind] = "fees",
        ["payout"] = "payouts", ["payout_paid"] = "payouts", ["payout_failed"] = "payouts",
    };

    /// <summary>The kind (source type) of the journal that moves a posted fee to the one the provider billed.</summary>
    public const string FeeTrueUpKind = "fee_true_up";

    /// <summary>The report's column of a journal of this kind (its source type).</summary>
    public static string Column(string sourceType) => ColumnOfKind.GetValueOrDefault(sourceType, "other");

    public static async Task<List<LedgerCloseLine>> BuildAsync(KnowPayDb db, string closeId, string merchantId, string currency, DateOnly day, CancellationToken ct)
    {
        var (start, end) = (LedgerPeriods.Start(day), LedgerPeriods.Start(day.AddDays(1)));
        var entries = db.LedgerEntries.Where(e => e.MerchantId == merchantId && e.Currency == currency && e.CreatedAt < end);
        var opening = await entries.Where(e => e.CreatedAt < start).GroupBy(e => e.Account)
            .Select(g => new { Account = g.Key, Sum = g.Sum(e => (decimal)e.Amount) }).ToListAsync(ct);
        var moves = await (
            from e in entries.Where(e => e.CreatedAt >= start)
            join j in db.Journals on e.JournalId equals j.Id
            group e by new { e.Account, j.SourceType } into g
            select new { g.Key.Account, g.Key.SourceType, Sum = g.Sum(x => (decimal)x.Amount) }).ToListAsync(ct);

        var sums = new Dictionary<(string Class, string Column), decimal>();
        void Add(string account, string column, decimal sum)
        {
            var key = (AccountClass(account), column);
            sums[key] = sums.GetValueOrDefault(key) + sum;
        }
        foreach (var o in opening) Add(o.Account, "opening", o.Sum);
        foreach (var m in moves) Add(m.Account, Column(m.SourceType), m.Sum);

        long Of(string cls, string column) => LedgerBalances.ToMinorUnits(sums.GetValueOrDefault((cls, column)), merchantId, cls);
        return sums.Keys.Select(k => k.Class).Distinct().Order(StringComparer.Ordinal).Select(cls => new LedgerCloseLine
        {
            CloseId = closeId, AccountClass = cls, Opening = Of(cls, "opening"), Payments = Of(cls, "payments"), Refunds = Of(cls, "refunds"),
            Fees = Of(cls, "fees"), Payouts = Of(cls, "payouts"), Other = Of(cls, "other"),
            Closing = LedgerBalances.ToMinorUnits(sums.Where(s => s.Key.Class == cls).Sum(s => s.Value), merchantId, cls),
        }).ToList();
    }
}
