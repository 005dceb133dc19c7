using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

public sealed record InvariantResult(string Name, bool Passed, long Checked, IReadOnlyList<string> Failures);

public sealed record InvariantReport(string Object, bool Passed, DateTime CheckedAt, IReadOnlyList<InvariantResult> Checks);

/// <summary>
/// POST (or GET) /v1/ledger/invariants/check: verifies the merchant's whole ledger on demand. Read-only.
/// There is no stored balance to compare with its entries (balances are always sums of entries), so a
/// balance-against-entries check holds by construction and is not listed.
/// </summary>
public static class LedgerInvariants
{
    const int MaxFailures = 20;

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/ledger/invariants/check", Handle).RequireScope("ledger:read");
        v1.MapGet("/ledger/invariants/check", Handle).RequireScope("ledger:read");
    }

    static async Task<Ok<InvariantReport>> Handle(AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, CancellationToken ct) =>
        TypedResults.Ok(await CheckAsync(db, merchant.Id, clock.GetUtcNow().UtcDateTime, ct));

    public static async Task<InvariantReport> CheckAsync(KnowPayDb db, string merchantId, DateTime now, CancellationToken ct)
    {
        var checks = new List<InvariantResult>
        {
            await Guarded("journals_balance", () => JournalsBalanceAsync(db, merchantId, ct)),
            await Guarded("trial_balance_zero", () => TrialBalanceZeroAsync(db, merchantId, ct)),
            await Guarded("balances_in_range", () => BalancesInRangeAsync(db, merchantId, ct)),
            await Guarded("payment_clearing_matches", () => PaymentClearingAsync(db, merchantId, ct)),
            await Guarded("payment_split_sums", () => PaymentSplitAsync(db, merchantId, ct)),
        };
        return new InvariantReport("ledger_invariants", checks.All(c => c.Passed), now, checks);
    }

    /// <summary>A check that cannot be computed (an amount or sum out of range) fails and says so: it never passes unseen.</summary>
    static async Task<InvariantResult> Guarded(string name, Func<Task<InvariantResult>> check)
    {
        try
        {
            return await check();
        }
        catch (Exception e) when (e is OverflowException or InvalidCastException or System.Data.Common.DbException)
        {
            return new InvariantResult(name, false, 0, [$"could not be computed: {e.Message}"]);
        }
    }

    /// <summary>Every account's balance fits the long the API reports it in (sums taken in numeric/decimal).</summary>
    static async Task<InvariantResult> BalancesInRangeAsync(KnowPayDb db, string merchantId, CancellationToken ct)
    {
        var sums = await db.LedgerEntries.Where(e => e.MerchantId == merchantId).GroupBy(e => e.Account)
            .Select(g => new { Account = g.Key, Sum = g.Sum(e => (decimal)e.Amount) }).ToListAsync(ct);
        var bad = sums.Where(s => !AmountLimit.TryToMinorUnits(s.Sum, out _)).Take(MaxFailures)
            .Select(s => $"{s.Account} balance {s.Sum} is beyond the range of a 64-bit amount").ToList();
        return new InvariantResult("balances_in_range", bad.Count == 0, sums.Count, bad);
    }

    /// <summary>Every journal sums to zero in each currency.</summary>
    static async Task<InvariantResult> JournalsBalanceAsync(KnowPayDb db, string merchantId, CancellationToken ct)
    {
        var count = await db.Journals.LongCountAsync(j => j.MerchantId == merchantId, ct);
        var bad = await db.LedgerEntries.Where(e => e.MerchantId == merchantId)
            .GroupBy(e => new { e.JournalId, e.Currency })
            .Select(g => new { g.Key.JournalId, g.Key.Currency, Sum = g.Sum(e => (decimal)e.Amount) })
            .Where(g => g.Sum != 0).OrderBy(g => g.JournalId).Take(MaxFailures).ToListAsync(ct);
        return new InvariantResult("journals_balance", bad.Count == 0, count, bad.Select(b => $"{b.JournalId} {b.Currency} sums to {b.Sum}").ToList());
    }

    /// <summary>The trial balance (all accounts) is zero in each currency.</summary>
    static async Task<InvariantResult> TrialBalanceZeroAsync(KnowPayDb db, string merchantId, CancellationToken ct)
    {
        var sums = await db.LedgerEntries.Where(e => e.MerchantId == merchantId).GroupBy(e => e.Currency)
            .Select(g => new { Currency = g.Key, Sum = g.Sum(e => (decimal)e.Amount) }).ToListAsync(ct);
        var bad = sums.Where(s => s.Sum != 0).Select(s => $"{s.Currency} sums to {s.Sum}").ToList();
        return new InvariantResult("trial_balance_zero", bad.Count == 0, sums.Count, bad);
    }

    /// <summary>
    /// For every succeeded payment: captured − refunded (its succeeded refunds) = the net of the provider clearing
    /// postings linked to it; and its reserved refunded amount = its pending + succeeded refunds. (The payment's
    /// refunded_amount also holds pending reservations, so it alone cannot be compared with the ledger while a refund
    /// is in flight.)
    /// </summary>
    static async Task<InvariantResult> PaymentClearingAsync(KnowPayDb db, string merchantId, CancellationToken ct)
    {
        var payments = await db.Payments.AsNoTracking().Where(p => p.MerchantId == merchantId && p.SucceededAt != null)
            .Select(p => new { p.Id, p.Amount, p.RefundedAmount, p.Currency }).ToListAsync(ct);
        var ledger = await db.LedgerEntries.Where(e => e.MerchantId == merchantId && e.Account.StartsWith("provider:") && e.Account.Contains(":clearing:"))
            .Join(db.Journals.Where(j => j.MerchantId == merchantId && j.PaymentId != null), e => e.JournalId, j => j.Id, (e, j) => new { j.PaymentId, e.Amount })
            .GroupBy(x => x.PaymentId!).Select(g => new { PaymentId = g.Key, Sum = g.Sum(x => (decimal)x.Amount) })
            .ToDictionaryAsync(x => x.PaymentId, x => x.Sum, ct);
        var refunds = (await db.Refunds.AsNoTracking().Where(r => r.MerchantId == merchantId && r.Status != RefundState.Failed)
                .GroupBy(r => new { r.PaymentId, r.Status }).Select(g => new { g.Key.PaymentId, g.Key.Status, Sum = g.Sum(r => (decimal)r.Amount) })
                .ToListAsync(ct))
            .ToLookup(r => r.PaymentId);
        var bad = new List<string>();
        foreach (var p in payments)
        {
            var booked = ledger.GetValueOrDefault(p.Id);
            var succeeded = refunds[p.Id].Where(r => r.Status == RefundState.Succeeded).Sum(r => r.Sum);
            var reserved = refunds[p.Id].Sum(r => r.Sum);
            if ((booked != p.Amount - succeeded || reserved != p.RefundedAmount) && bad.Count < MaxFailures)
                bad.Add($"{p.Id}: captured {p.Amount} − refunded {succeeded} {p.Currency}, ledger clearing {booked}; " +
                    $"reserved {p.RefundedAmount}, pending + succeeded refunds {reserved}");
        }
        return new InvariantResult("payment_clearing_matches", bad.Count == 0, payments.Count, bad);
    }

    /// <summary>
    /// Every payment journal debits clearing with exactly the captured amount and credits the creator exactly the
    /// largest-remainder share of the order's basis points (of the price at the locked rate, and in the creator's payout
    /// currency when converted); creator + platform + fee = captured follows from balancing in the paid currency.
    /// </summary>
    static async Task<InvariantResult> PaymentSplitAsync(KnowPayDb db, string merchantId, CancellationToken ct)
    {
        var journals = await db.Journals.AsNoTracking().Where(j => j.MerchantId == merchantId && j.SourceType == "payment_confirmed")
            .Join(db.Payments, j => j.SourceId, p => p.Id, (j, p) => new { j.Id, Payment = p })
            .Join(db.Orders, x => x.Payment.OrderId, o => o.Id, (x, o) => new { x.Id, x.Payment, Order = o })
            .ToListAsync(ct);
        var entries = (await db.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == merchantId)
                .Join(db.Journals.Where(j => j.MerchantId == merchantId && j.SourceType == "payment_confirmed"), e => e.JournalId, j => j.Id, (e, _) => e)
                .ToListAsync(ct))
            .ToLookup(e => e.JournalId);
        var bad = new List<string>();
        foreach (var j in journals)
        {
            var (p, o) = (j.Payment, j.Order);
            var lines = entries[j.Id].ToList();
            var clearingAccount = Accounts.ProviderClearing(p.Provider, p.Currency);
            var clearing = lines.Where(e => e.Account == clearingAccount).Sum(e => e.Amount);
            var priced = Fx.FxLedger.Of(o, p)?.Priced ?? new Money(p.Amount, Currency.Of(p.Currency));
            var expected = Fx.FxLedger.CreatorConversionOf(o, p)?.Converted
                ?? new Money(RevenueSplit.For(priced.MinorUnits, o.CreatorShareBps, ProviderFee.None).Creator, priced.Currency);
            var creatorCurrency = expected.Currency.Code;
            var creator = -lines.Where(e => e.Account == Accounts.CreatorPending(o.CreatorId, creatorCurrency)).Sum(e => e.Amount);
            var parts = -lines.Where(e => e.Account != clearingAccount && e.Currency == p.Currency).Sum(e => e.Amount);   // creator + platform + fee (+ FX)
            if ((clearing != p.Amount || creator != expected.MinorUnits || parts != p.Amount) && bad.Count < MaxFailures)
                bad.Add($"{p.Id}: captured {p.Amount}, clearing {clearing}, creator {creator} {creatorCurrency} (expected {expected.MinorUnits}), creator+platform+fee {parts}");
        }
        return new InvariantResult("payment_split_sums", bad.Count == 0, journals.Count, bad);
    }
}
