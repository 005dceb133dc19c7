using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>One merchant's current window at one provider judged against its baseline.</summary>
public sealed record AnomalyFinding(string MerchantId, string Provider, AnomalyVerdict Verdict, string Message);

/// <summary>
/// The current window (<c>Risk:Anomaly:WindowMinutes</c>) of every merchant and provider that has a baseline, judged by
/// <see cref="AnomalyJudge.Judge"/>: one grouped query over the window's payments and one read of the baselines.
/// The alert engine (<c>alert_evaluator</c>) calls it and fires or resolves <c>success_rate_anomaly</c> alerts.
/// </summary>
public sealed class Anomalies(IOptions<RiskAnomalyOptions> options)
{
    public const string Rule = "success_rate_anomaly";

    public bool Enabled => options.Value.Enabled;

    public async Task<IReadOnlyList<AnomalyFinding>> EvaluateAsync(KnowPayDb db, DateTime now, CancellationToken ct)
    {
        var o = options.Value;
        var from = now.AddMinutes(-o.WindowMinutes);
        var graceCutoff = now.AddSeconds(-o.PendingGraceSeconds);
        var baselines = await db.Set<ProviderBaseline>().AsNoTracking().ToListAsync(ct);
        if (baselines.Count == 0) return [];
        var windows = await db.Payments.AsNoTracking()
            .Where(p => p.CreatedAt > from && p.CreatedAt <= now && (p.Status != PaymentStatus.Pending || p.CreatedAt <= graceCutoff))
            .GroupBy(p => new { p.MerchantId, p.Provider })
            .Select(g => new { g.Key.MerchantId, g.Key.Provider, Settled = g.Count(), Succeeded = g.Count(p => p.Status == PaymentStatus.Succeeded) })
            .ToDictionaryAsync(w => (w.MerchantId, w.Provider), w => (Settled: (long)w.Settled, Succeeded: (long)w.Succeeded), ct);
        var thresholds = o.Thresholds();
        return baselines.Select(b =>
        {
            var (settled, succeeded) = windows.GetValueOrDefault((b.MerchantId, b.Provider));
            var verdict = AnomalyJudge.Judge(b.Baseline, settled, succeeded, thresholds);
            var perHour = settled * 60.0 / o.WindowMinutes;
            return new AnomalyFinding(b.MerchantId, b.Provider, verdict, string.Create(CultureInfo.InvariantCulture,
                $"{b.Provider} success rate {verdict.Rate:P1} ({succeeded}/{settled}) over {o.WindowMinutes} min against a baseline of {verdict.BaselineRate:P1} (z = {verdict.Z:F1}); {perHour:F0} payments/h against {b.Baseline.HourlyVolume:F0}/h"));
        }).ToList();
    }
}
