using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>One merchant's current window of one metric at one provider judged against its baseline; Rule is the metric's alert.</summary>
public sealed record AnomalyFinding(string MerchantId, string Provider, string Rule, AnomalyVerdict Verdict, string Message);

/// <summary>
/// The current window (<c>Risk:Anomaly:WindowMinutes</c>) of every <see cref="AnomalyMetric"/>, merchant and provider that
/// has a baseline, judged by <see cref="AnomalyJudge"/>: one count per metric over the window and one read of the
/// baselines. A rate is judged against its pooled baseline; a volume against the baselines of the hours of day the window
/// covers, each in proportion to its share of the window. The alert engine (<c>alert_evaluator</c>) calls it and fires or
/// resolves each metric's alert.
/// </summary>
public sealed class Anomalies(IOptions<RiskAnomalyOptions> options)
{
    public bool Enabled => options.Value.Enabled;

    public async Task<IReadOnlyList<AnomalyFinding>> EvaluateAsync(KnowPayDb db, DateTime now, CancellationToken ct)
    {
        var o = options.Value;
        var span = new MetricSpan(now.AddMinutes(-o.WindowMinutes), now, now.AddSeconds(-o.PendingGraceSeconds));
        var baselines = await db.Set<ProviderBaseline>().AsNoTracking().ToListAsync(ct);
        if (baselines.Count == 0) return [];
        var thresholds = o.Thresholds();
        var findings = new List<AnomalyFinding>();
        foreach (var metric in AnomalyMetric.All)
        {
            if (metric.PerHourOfDay && o.VolumeFactor == 0) continue;
            var own = baselines.Where(b => b.Metric == metric.Name).ToList();
            if (own.Count == 0) continue;
            var windows = (await metric.CountAsync(db, span, ct)).ToDictionary(w => (w.MerchantId, w.Provider));
            foreach (var key in own.Select(b => (b.MerchantId, b.Provider)).Distinct())
            {
                var (total, hits) = windows.GetValueOrDefault(key) is { } w ? (w.Total, w.Hits) : (0L, 0L);
                var rows = own.Where(b => b.MerchantId == key.MerchantId && b.Provider == key.Provider).ToList();
                findings.Add(metric.Direction is { } direction
                    ? Rate(metric, key.MerchantId, key.Provider, rows.Single().Baseline, total, hits, direction, thresholds, o.WindowMinutes)
                    : Volume(metric, key.MerchantId, key.Provider, rows, total, span, thresholds, o.WindowMinutes));
            }
        }
        return findings;
    }

    static AnomalyFinding Rate(AnomalyMetric metric, string merchantId, string provider, AnomalyBaseline baseline, long total, long hits,
        AnomalyDirection direction, AnomalyThresholds thresholds, int windowMinutes)
    {
        var v = AnomalyJudge.Rate(baseline, total, hits, direction, thresholds);
        return new(merchantId, provider, metric.Rule, v, string.Create(CultureInfo.InvariantCulture,
            $"{provider} {metric.What} {v.Rate:P1} ({hits}/{total}) over {windowMinutes} min against a baseline of {v.BaselineRate:P1} (z = {v.Z:F1}); {total * 60.0 / windowMinutes:F0}/h against {baseline.HourlyVolume:F0}/h"));
    }

    /// <summary>The expected count is each covered hour of day's mean volume times the share of an hour the window spends in it.</summary>
    static AnomalyFinding Volume(AnomalyMetric metric, string merchantId, string provider, List<ProviderBaseline> rows, long count,
        MetricSpan span, AnomalyThresholds thresholds, int windowMinutes)
    {
        double expected = 0, weight = double.MaxValue;
        for (var hour = AnomalyBaselines.Hour(span.From); hour < span.To; hour = hour.AddHours(1))
        {
            var overlap = (Min(hour.AddHours(1), span.To) - Max(hour, span.From)).TotalHours;
            var row = rows.FirstOrDefault(r => r.HourOfDay == hour.Hour);
            expected += (row?.Baseline.HourlyVolume ?? 0) * overlap;
            weight = Math.Min(weight, row?.Total ?? 0);
        }
        var v = AnomalyJudge.Volume(expected, weight, count, thresholds);
        return new(merchantId, provider, metric.Rule, v, string.Create(CultureInfo.InvariantCulture,
            $"{provider} {metric.What} {count} over {windowMinutes} min against {expected:F0} usual at these hours of day (z = {v.Z:F1})"));
    }

    static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;
    static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;
}
