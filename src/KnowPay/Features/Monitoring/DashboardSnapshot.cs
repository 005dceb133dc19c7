using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Fx;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Monitoring;

public sealed record RateBucket(DateTime Start, int Created, int Succeeded, int Failed);

public sealed record ProviderHealth(string Provider, int Created, int Settled, int Succeeded, int Failed, double? SuccessRate);

public sealed record RecentOrder(string Id, string Status, string Price, string Product, DateTime CreatedAt, DateTime? PaidAt);

public sealed record DashboardSnapshot(
    DateTime At, string Merchant, double SucceededPerSecond, double CreatedPerSecond, int Created, int Succeeded, int Failed, int Pending,
    double? SuccessRate, double? LatencyP50Ms, double? LatencyP99Ms, int LatencySamples, IReadOnlyList<string> Volume, int Refunds,
    IReadOnlyList<string> Refunded, IReadOnlyList<RateBucket> Series, IReadOnlyList<ProviderHealth> Providers,
    IReadOnlyList<RecentOrder> RecentOrders, IReadOnlyList<AlertView> Alerts, SubscriptionFigures Subscriptions,
    ConvertedTotal? VolumeInSettlement = null, ConvertedTotal? RefundedInSettlement = null);

/// <summary>
/// A per-currency total in the merchant's settlement currency at each day's rate (<see cref="SettlementTotals"/>):
/// <see cref="Amount"/> in minor units, <see cref="Formatted"/>, and in the viewer's language <see cref="Label"/> (null when
/// nothing was converted) and <see cref="UnconvertedLabel"/> (null when every currency was).
/// </summary>
public sealed record ConvertedTotal(string Currency, decimal Amount, string Formatted, IReadOnlyList<string> Converted, IReadOnlyList<string> Sources,
    IReadOnlyList<UnconvertedCurrency> Unconverted, string? Label = null, string? UnconvertedLabel = null)
{
    public static ConvertedTotal? Of(SettlementTotal? total, CultureInfo culture) => total is null ? null
        : new(total.Currency, total.Amount, MoneyFormat.Format(total.Amount, total.Currency, culture), total.Converted, total.Sources, total.Unconverted);
}

/// <summary>Monthly recurring revenue in one currency: <see cref="Amount"/> in minor units, <see cref="Formatted"/> for the viewer.</summary>
public sealed record MrrTotal(string Currency, long Amount, string Formatted);

/// <summary>The merchant's subscriptions now: counts by status, MRR per currency, and churn this calendar month
/// (<see cref="CanceledThisMonth"/> ÷ <see cref="ActiveAtMonthStart"/>; null while the denominator is zero).</summary>
public sealed record SubscriptionFigures(
    int Active, int PastDue, int Trialing, IReadOnlyList<MrrTotal> Mrr, int CanceledThisMonth, int ActiveAtMonthStart, double? ChurnRate);

/// <summary>
/// What the dashboard shows, computed from the database for one merchant: the last hour of payments (by the
/// (merchant_id, created_at) index), a 5-minute rate series in 10-second buckets, success rate per provider
/// (a payment pending over 5 minutes counts as not succeeded), confirmation latency percentiles (provider paid
/// time → confirmed), refunds that succeeded in the last hour (from the refunds table), the newest orders, open and
/// recently resolved alerts, the subscription figures (<see cref="SubscriptionsAsync"/>), and the paid and refunded totals
/// in the merchant's settlement currency at each day's rate. Read once per merchant; only the amounts depend on the viewer's language.
/// </summary>
public static class DashboardSnapshots
{
    public const int BucketSeconds = 10;
    public const int Buckets = 30;

    /// <summary>Reads and computes the merchant's figures; the function returned formats them for a language.</summary>
    public static async Task<Func<CultureInfo, DashboardSnapshot>> ReadAsync(KnowPayDb db, string merchantId, DateTime now, CancellationToken ct)
    {
        var hourAgo = now.AddHours(-1);
        var rows = await db.Payments.AsNoTracking().Where(p => p.MerchantId == merchantId && p.CreatedAt >= hourAgo)
            .OrderByDescending(p => p.CreatedAt).Take(50_000)
            .Select(p => new { p.Provider, p.Status, p.CreatedAt, p.SucceededAt, p.ProviderPaidAt, p.Amount, p.Currency })
            .ToListAsync(ct);
        var account = await db.Merchants.AsNoTracking().Where(m => m.Id == merchantId).Select(m => new { m.Name, m.SettlementCurrency }).SingleOrDefaultAsync(ct);
        var merchant = account?.Name ?? merchantId;

        var seriesStart = Floor(now, BucketSeconds).AddSeconds(-BucketSeconds * (Buckets - 1));
        var series = Enumerable.Range(0, Buckets).Select(i =>
        {
            var from = seriesStart.AddSeconds(i * BucketSeconds);
            var to = from.AddSeconds(BucketSeconds);
            return new RateBucket(from, rows.Count(r => r.CreatedAt >= from && r.CreatedAt < to),
                rows.Count(r => r.SucceededAt >= from && r.SucceededAt < to), rows.Count(r => r.Status == PaymentStatus.Failed && r.CreatedAt >= from && r.CreatedAt < to));
        }).ToList();

        var graceCutoff = now.AddMinutes(-5);
        bool Settled(PaymentStatus s, DateTime created) => s != PaymentStatus.Pending || created <= graceCutoff;
        var providers = rows.GroupBy(r => r.Provider).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            var settled = g.Count(r => Settled(r.Status, r.CreatedAt));
            var ok = g.Count(r => r.Status == PaymentStatus.Succeeded);
            return new ProviderHealth(g.Key, g.Count(), settled, ok, g.Count(r => r.Status == PaymentStatus.Failed), settled == 0 ? null : (double)ok / settled);
        }).ToList();
        var totalSettled = providers.Sum(p => p.Settled);
        var totalOk = providers.Sum(p => p.Succeeded);

        var latencies = rows.Where(r => r.SucceededAt is not null && r.ProviderPaidAt is not null)
            .Select(r => Math.Max(0, (r.SucceededAt!.Value - r.ProviderPaidAt!.Value).TotalMilliseconds)).Order().ToList();
        var minuteAgo = now.AddMinutes(-1);

        var recent = await db.Orders.AsNoTracking().Where(o => o.MerchantId == merchantId).OrderByDescending(o => o.Id).Take(8)
            .Join(db.Products, o => o.ProductId, p => p.Id, (o, p) => new { o.Id, o.Status, o.Amount, o.Currency, p.Name, o.CreatedAt, o.PaidAt })
            .ToListAsync(ct);
        var refunds = await db.Refunds.AsNoTracking()
            .Where(r => r.MerchantId == merchantId && r.Status == RefundState.Succeeded && r.CompletedAt >= hourAgo)
            .Select(r => new { r.Amount, r.Currency, r.CompletedAt }).ToListAsync(ct);
        var alerts = await db.Alerts.AsNoTracking().Where(a => a.MerchantId == merchantId && (a.ResolvedAt == null || a.ResolvedAt >= hourAgo))
            .OrderByDescending(a => a.FiredAt).Take(10).ToListAsync(ct);

        var subscriptions = await SubscriptionsAsync(db, merchantId, now, ct);

        var volume = Totals(rows.Where(r => r.Status == PaymentStatus.Succeeded).Select(r => (r.Amount, r.Currency)));
        var refunded = Totals(refunds.Select(r => (r.Amount, r.Currency)));
        var paidAt = rows.Where(r => r.Status == PaymentStatus.Succeeded).Select(r => new DatedAmount(r.Amount, r.Currency, r.SucceededAt ?? r.CreatedAt)).ToList();
        var refundedAt = refunds.Select(r => new DatedAmount(r.Amount, r.Currency, r.CompletedAt ?? now)).ToList();
        var rates = await DailyRates.ReadAsync(db, merchantId, paidAt.Concat(refundedAt).Where(a => a.Currency != account?.SettlementCurrency).Select(a => DateOnly.FromDateTime(a.At)), ct);
        var volumeInSettlement = account is null ? null : SettlementTotals.Convert(paidAt, account.SettlementCurrency, rates);
        var refundedInSettlement = account is null ? null : SettlementTotals.Convert(refundedAt, account.SettlementCurrency, rates);
        var alertViews = alerts.Select(AlertView.From).ToList();
        recent = [.. recent.OrderByDescending(o => o.Id, StringComparer.Ordinal)];
        return culture => new DashboardSnapshot(
            now, merchant,
            rows.Count(r => r.SucceededAt >= minuteAgo) / 60.0, rows.Count(r => r.CreatedAt >= minuteAgo) / 60.0,
            rows.Count, totalOk, rows.Count(r => r.Status == PaymentStatus.Failed), rows.Count(r => r.Status == PaymentStatus.Pending),
            totalSettled == 0 ? null : (double)totalOk / totalSettled,
            Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies.Count,
            Formatted(volume, culture), refunds.Count, Formatted(refunded, culture),
            series, providers,
            recent.Select(o => new RecentOrder(o.Id, o.Status.ToString().ToLowerInvariant(),
                MoneyFormat.Format(o.Amount, o.Currency, culture), o.Name, o.CreatedAt, o.PaidAt)).ToList(),
            alertViews,
            subscriptions with { Mrr = [.. subscriptions.Mrr.Select(m => m with { Formatted = MoneyFormat.Format(m.Amount, m.Currency, culture) })] },
            ConvertedTotal.Of(volumeInSettlement, culture), ConvertedTotal.Of(refundedInSettlement, culture));
    }

    /// <summary>
    /// Subscription figures. MRR: every active or past_due subscription's price normalised to one month (day × 30.4375,
    /// week × 52 / 12, month × 1, year / 12, each divided by the interval count), summed per currency in decimal and
    /// rounded once, half away from zero, to minor units. Churn this month: subscriptions that ended canceled in the
    /// calendar month (UTC) of <paramref name="now"/> ÷ subscriptions live at its start (created before it, not ended
    /// before it, first payment made or trial started, i.e. not incomplete or incomplete_expired now).
    /// </summary>
    public static async Task<SubscriptionFigures> SubscriptionsAsync(KnowPayDb db, string merchantId, DateTime now, CancellationToken ct)
    {
        var groups = await db.Subscriptions.AsNoTracking()
            .Where(s => s.MerchantId == merchantId &&
                        (s.Status == SubscriptionStatus.Active || s.Status == SubscriptionStatus.PastDue || s.Status == SubscriptionStatus.Trialing))
            .GroupBy(s => new { s.Status, s.Currency, s.Interval, s.IntervalCount })
            .Select(g => new { g.Key.Status, g.Key.Currency, g.Key.Interval, g.Key.IntervalCount, Count = g.Count(), Sum = g.Sum(s => s.Amount) })
            .ToListAsync(ct);
        var monthStart = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var nextMonth = monthStart.AddMonths(1);
        var canceled = await db.Subscriptions.AsNoTracking().CountAsync(s => s.MerchantId == merchantId && s.Status == SubscriptionStatus.Canceled &&
            s.EndedAt >= monthStart && s.EndedAt < nextMonth, ct);
        var atStart = await db.Subscriptions.AsNoTracking().CountAsync(s => s.MerchantId == merchantId && s.CreatedAt < monthStart &&
            (s.EndedAt == null || s.EndedAt >= monthStart) && s.Status != SubscriptionStatus.Incomplete && s.Status != SubscriptionStatus.IncompleteExpired, ct);
        var mrr = groups.Where(g => g.Status != SubscriptionStatus.Trialing).GroupBy(g => g.Currency).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new MrrTotal(g.Key, (long)Math.Round(g.Sum(x => x.Sum * MonthlyFactor(x.Interval, x.IntervalCount)), MidpointRounding.AwayFromZero), ""))
            .ToList();
        int Count(SubscriptionStatus status) => groups.Where(g => g.Status == status).Sum(g => g.Count);
        return new SubscriptionFigures(Count(SubscriptionStatus.Active), Count(SubscriptionStatus.PastDue), Count(SubscriptionStatus.Trialing), mrr,
            canceled, atStart, atStart == 0 ? null : (double)canceled / atStart);
    }

    /// <summary>What one period's price is worth per month (the rule the README states).</summary>
    public static decimal MonthlyFactor(string interval, int count) => (interval switch
    {
        "day" => 30.4375m,
        "week" => 52m / 12m,
        "year" => 1m / 12m,
        _ => 1m,
    }) / Math.Max(1, count);

    /// <summary>Nearest-rank percentile of a sorted list.</summary>
    public static double? Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    /// <summary>Per currency, summed in decimal: amounts stored before the amount limit must not overflow the page.</summary>
    static List<(decimal Sum, string Currency)> Totals(IEnumerable<(long Amount, string Currency)> amounts) =>
        amounts.GroupBy(a => a.Currency).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Sum(a => (decimal)a.Amount), g.Key)).ToList();

    static List<string> Formatted(List<(decimal Sum, string Currency)> totals, CultureInfo culture) =>
        totals.Select(t => MoneyFormat.Format(t.Sum, t.Currency, culture)).ToList();

    static DateTime Floor(DateTime t, int seconds) => new(t.Ticks - t.Ticks % TimeSpan.FromSeconds(seconds).Ticks, DateTimeKind.Utc);
}
