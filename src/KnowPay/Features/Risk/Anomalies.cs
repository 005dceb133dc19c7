using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>
/// One merchant's current window of one metric at one provider judged against its baseline; Rule is the metric's alert,
/// Baseline which baseline it was judged against.
/// </summary>
public sealed record AnomalyFinding(string MerchantId, string Provider, string Rule, AnomalyVerdict Verdict, AnomalyBaselineKind Baseline, string Message);

/// <summary>
/// The current window (<c>Risk:Anomaly:WindowMinutes</c>) of every <see cref="AnomalyMetric"/>, merchant and provider that
/// has a baseline, judged by <see cref="AnomalyJudge"/>: one count per metric over the window and one read of the
/// baselines of the hours of day it covers. A rate is judged against those hours of day once they are warm
/// (<see cref="AnomalyJudge.RateBaseline"/>), else against its pooled baseline; a volume against the hours of day, each in
/// proportion to its share of the window. The alert engine (<c>alert_evaluator</c>) calls it and fires or resolves each
/// metric's alert.
/// </summary>
public sealed class Anomalies(IOptions<RiskAnomalyOptions> options)
{
    public bool Enabled => options.Value.Enabled;

    public async Task<IReadOnlyList<AnomalyFinding>> EvaluateAsync(KnowPayDb db, DateTime now, CancellationToken ct)
    {
        var o = options.Value;
        var span = new MetricSpan(now.AddMinutes(-o.WindowMinutes), now, now.AddSeconds(-o.PendingGraceSeconds));
        var covered = CoveredHours(span);
        var slots = covered.Select(h => h.HourOfDay).Append(AnomalyMetric.EveryHour).ToArray();
        // A rate's pooled row and the hours of day the window covers; every volume row, so a merchant without one at these
        // hours is still judged (too few) and its open alert waits for data.
        var baselines = await db.Set<ProviderBaseline>().AsNoTracking()
            .Where(b => slots.Contains(b.HourOfDay) || b.Metric == AnomalyMetric.OrderVolume.Name).ToListAsync(ct);
        if (baselines.Count == 0) return [];
        var thresholds = o.Thresholds();
        var findings = new List<AnomalyFinding>();
        foreach (var metric in AnomalyMetric.All)
        {
            if (metric.Direction is null && o.VolumeFactor == 0) continue;
            var own = baselines.Where(b => b.Metric == metric.Name).ToList();
            if (own.Count == 0) continue;
            var windows = (await metric.CountAsync(db, span, ct)).ToDictionary(w => (w.MerchantId, w.Provider));
            foreach (var rows in own.GroupBy(b => (b.MerchantId, b.Provider)))
            {
                var key = rows.Key;
                var (total, hits) = windows.GetValueOrDefault(key) is { } w ? (w.Total, w.Hits) : (0L, 0L);
                var hours = covered.Select(h => rows.FirstOrDefault(r => r.HourOfDay == h.HourOfDay) is { } r
                    ? new HourOfDayBaseline(r.Baseline, r.Samples, h.Share) : new HourOfDayBaseline(AnomalyBaseline.Empty, 0, h.Share)).ToList();
                findings.Add(metric.Direction is { } direction
                    ? Rate(metric, key.MerchantId, key.Provider, rows, hours, total, hits, direction, thresholds, o.WindowMinutes)
                    : Volume(metric, key.MerchantId, key.Provider, hours, total, thresholds, o.WindowMinutes));
            }
        }
        return findings;
    }

    static AnomalyFinding Rate(AnomalyMetric metric, string merchantId, string provider, IEnumerable<ProviderBaseline> rows,
        List<HourOfDayBaseline> hours, long total, long hits, AnomalyDirection direction, AnomalyThresholds thresholds, int windowMinutes)
    {
        var everyHour = rows.FirstOrDefault(r => r.HourOfDay == AnomalyMetric.EveryHour)?.Baseline ?? AnomalyBaseline.Empty;
        var (baseline, kind) = AnomalyJudge.RateBaseline(everyHour, hours, thresholds);
        var v = AnomalyJudge.Rate(baseline, total, hits, direction, thresholds);
        var against = kind == AnomalyBaselineKind.SameHour ? "the same hours of day's baseline"
            : string.Create(CultureInfo.InvariantCulture, $"the every-hour baseline (these hours of day have learnt {hours.Min(h => h.Samples)} of {thresholds.MinSameHourSamples} days)");
        return new(merchantId, provider, metric.Rule, v, kind, string.Create(CultureInfo.InvariantCulture,
            $"{provider} {metric.What} {v.Rate:P1} ({hits}/{total}) over {windowMinutes} min against {against} of {v.BaselineRate:P1} (z = {v.Z:F1}); {total * 60.0 / windowMinutes:F0}/h against {baseline.HourlyVolume:F0}/h"));
    }

    /// <summary>The expected count is each covered hour of day's mean volume times the share of an hour the window spends in it.</summary>
    static AnomalyFinding Volume(AnomalyMetric metric, string merchantId, string provider, List<HourOfDayBaseline> hours, long count,
        AnomalyThresholds thresholds, int windowMinutes)
    {
        var expected = hours.Sum(h => h.Baseline.HourlyVolume * h.Share);
        var v = AnomalyJudge.Volume(expected, hours.Min(h => h.Baseline.Total), count, thresholds);
        return new(merchantId, provider, metric.Rule, v, AnomalyBaselineKind.SameHour, string.Create(CultureInfo.InvariantCulture,
            $"{provider} {metric.What} {count} over {windowMinutes} min against {expected:F0} usual at these hours of day (z = {v.Z:F1})"));
    }

    /// <summary>The hours of day the span covers, with the share of an hour it spends in each.</summary>
    static List<(int HourOfDay, double Share)> CoveredHours(MetricSpan span)
    {
        var covered = new List<(int, double)>();
        for (var hour = AnomalyBaselines.Hour(span.From); hour < span.To; hour = hour.AddHours(1))
            covered.Add((hour.Hour, (Min(hour.AddHours(1), span.To) - Max(hour, span.From)).TotalHours));
        return covered;
    }

    static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;
    static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;
}
