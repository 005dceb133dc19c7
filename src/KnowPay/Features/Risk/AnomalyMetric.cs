using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Risk;

/// <summary>One merchant's counts of one metric at one provider over a span of time.</summary>
public sealed record MetricTally(string MerchantId, string Provider, long Total, long Hits);

/// <summary>
/// The span counted: [From, To). A payment still pending at GraceCutoff counts as settled and not succeeded; a finished
/// hour passes its end, so everything in it counts.
/// </summary>
public sealed record MetricSpan(DateTime From, DateTime To, DateTime GraceCutoff);

/// <summary>
/// A metric with a baseline and an alert (its <see cref="Rule"/>): how a span is counted, and which baselines it keeps.
/// Every metric keeps one per hour of day, as rates and volumes follow the day's rhythm; a rate also keeps the pooled one
/// of every hour (<see cref="KeepsEveryHour"/>), judged by until its hour of day has learnt enough days. A rate is judged
/// in its <see cref="Direction"/>; a volume both ways. The same baselines job, freeze and alert engine serve them all.
/// </summary>
public sealed record AnomalyMetric(string Name, string Rule, string What, AnomalyDirection? Direction,
    Func<KnowPayDb, MetricSpan, CancellationToken, Task<List<MetricTally>>> CountAsync)
{
    /// <summary>A pooled baseline carries this hour of day.</summary>
    public const int EveryHour = -1;

    /// <summary>Risk decisions are mostly made before a provider is chosen (at order creation): their baseline is per merchant.</summary>
    public const string AllProviders = "all";

    /// <summary>A volume has no pooled fallback: against the day's mean volume, every night would be an anomaly.</summary>
    public bool KeepsEveryHour => Direction is not null;

    /// <summary>The baselines (their hour of day) an hour starting at <paramref name="hourOfDay"/> is folded into.</summary>
    public int[] Slots(int hourOfDay) => KeepsEveryHour ? [EveryHour, hourOfDay] : [hourOfDay];

    /// <summary>Succeeded ÷ settled payments; falls when a provider or method breaks.</summary>
    public static readonly AnomalyMetric SuccessRate = new("success_rate", "success_rate_anomaly", "success rate", AnomalyDirection.Falls,
        (db, s, ct) => db.Payments.AsNoTracking()
            .Where(p => p.CreatedAt >= s.From && p.CreatedAt < s.To && (p.Status != PaymentStatus.Pending || p.CreatedAt <= s.GraceCutoff))
            .GroupBy(p => new { p.MerchantId, p.Provider })
            .Select(g => new MetricTally(g.Key.MerchantId, g.Key.Provider, g.Count(), g.Count(p => p.Status == PaymentStatus.Succeeded)))
            .ToListAsync(ct));

    /// <summary>Refunds requested ÷ payments paid in the span; rises with buy–consume–refund abuse or a broken product.</summary>
    public static readonly AnomalyMetric RefundRate = new("refund_rate", "refund_rate_anomaly", "refund rate", AnomalyDirection.Rises,
        async (db, s, ct) =>
        {
            var paid = await db.Payments.AsNoTracking()
                .Where(p => p.CreatedAt >= s.From && p.CreatedAt < s.To && p.Status == PaymentStatus.Succeeded)
                .GroupBy(p => new { p.MerchantId, p.Provider }).Select(g => new { g.Key.MerchantId, g.Key.Provider, Count = g.Count() })
                .ToDictionaryAsync(x => (x.MerchantId, x.Provider), x => (long)x.Count, ct);
            // Every state named, so the (status, created_at) index serves the time range.
            RefundState[] states = [RefundState.Pending, RefundState.Succeeded, RefundState.Failed];
            var refunds = await db.Refunds.AsNoTracking()
                .Where(r => states.Contains(r.Status) && r.CreatedAt >= s.From && r.CreatedAt < s.To)
                .GroupBy(r => new { r.MerchantId, r.Provider }).Select(g => new { g.Key.MerchantId, g.Key.Provider, Count = g.Count() })
                .ToDictionaryAsync(x => (x.MerchantId, x.Provider), x => (long)x.Count, ct);
            return paid.Keys.Union(refunds.Keys)
                .Select(k => new MetricTally(k.MerchantId, k.Provider, paid.GetValueOrDefault(k), refunds.GetValueOrDefault(k))).ToList();
        });

    /// <summary>Blocked ÷ all risk decisions (orders, payments, refunds); rises with a fraud wave or a rule gone wrong.</summary>
    public static readonly AnomalyMetric RiskBlockRate = new("risk_block_rate", "risk_block_rate_anomaly", "risk block rate", AnomalyDirection.Rises,
        async (db, s, ct) =>
        {
            // Per merchant, so the (merchant_id, created_at) index serves the time range.
            var merchants = await db.Merchants.AsNoTracking().Select(m => m.Id).ToListAsync(ct);
            return await db.RiskDecisions.AsNoTracking()
                .Where(d => merchants.Contains(d.MerchantId) && d.CreatedAt >= s.From && d.CreatedAt < s.To)
                .GroupBy(d => d.MerchantId)
                .Select(g => new MetricTally(g.Key, AllProviders, g.Count(), g.Count(d => d.Action == RiskAction.Block)))
                .ToListAsync(ct);
        });

    /// <summary>Orders with a payment started at the provider in the span, against the same hour of day; far off either way.</summary>
    public static readonly AnomalyMetric OrderVolume = new("order_volume", "order_volume_anomaly", "order volume", null,
        (db, s, ct) => db.Payments.AsNoTracking()
            .Where(p => p.CreatedAt >= s.From && p.CreatedAt < s.To)
            .GroupBy(p => new { p.MerchantId, p.Provider })
            .Select(g => new MetricTally(g.Key.MerchantId, g.Key.Provider, g.Select(p => p.OrderId).Distinct().Count(), 0))
            .ToListAsync(ct));

    public static readonly IReadOnlyList<AnomalyMetric> All = [SuccessRate, RefundRate, RiskBlockRate, OrderVolume];
}
