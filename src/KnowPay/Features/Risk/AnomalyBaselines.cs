using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>
/// <c>Risk:Anomaly:*</c>: the baselines of every <see cref="AnomalyMetric"/> (<see cref="ProviderBaseline"/>) and when the
/// current window is an anomaly (<see cref="AnomalyJudge"/>).
/// </summary>
public sealed class RiskAnomalyOptions : IBoundOptions
{
    public static string Section => "Risk:Anomaly";
    /// <summary>Off: no baselines kept, no anomaly alerts.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>An hour's weight halves after this many hours: a week, so the baseline is "the last weeks" and a bad hour moves it by 0.4 %.</summary>
    [Between(1, 24 * 90)] public double HalfLifeHours { get; set; } = 168;
    [Between(5, 24 * 60)] public int WindowMinutes { get; set; } = 60;
    [Between(1, 1_000_000)] public int MinAttempts { get; set; } = 30;
    [Between(1, 10_000_000)] public double MinBaselineAttempts { get; set; } = 200;
    [Between(1, 100)] public double ZScore { get; set; } = 4;
    /// <summary>How far a rate must move, in rate points, besides ZScore: down for success, up for refunds and blocks.</summary>
    [Between(0, 1)] public double MinRateChange { get; set; } = 0.1;
    /// <summary>How many times above or below its hour of day's baseline an order volume must be; 0 judges no volume.</summary>
    [Between(0, 1000)] public double VolumeFactor { get; set; } = 3;
    /// <summary>A payment still pending this long after its creation counts as settled and not succeeded.</summary>
    [Between(0, 86_400)] public int PendingGraceSeconds { get; set; } = 300;
    /// <summary>Days an hour of day's rate baseline must have learnt from before a rate is judged against it (a week: every weekday once).</summary>
    [Between(1, 365)] public int MinSameHourSamples { get; set; } = 7;

    public AnomalyThresholds Thresholds() => new(MinAttempts, MinBaselineAttempts, ZScore, MinRateChange, VolumeFactor, MinSameHourSamples);
}

/// <summary>
/// One merchant's baseline of one metric at one provider, folded through the hour starting at <see cref="FoldedThrough"/>.
/// <see cref="HourOfDay"/> is the UTC hour the row learns from, or <see cref="AnomalyMetric.EveryHour"/> for a rate's pooled row.
/// </summary>
public sealed class ProviderBaseline
{
    public required string MerchantId { get; init; }
    public required string Provider { get; init; }
    public required string Metric { get; init; }
    public int HourOfDay { get; init; }
    public double Total { get; set; }
    public double Hits { get; set; }
    public double Hours { get; set; }
    /// <summary>Hours whose counts the row has learnt, undecayed: days for an hour of day's row (its warm-up).</summary>
    public int Samples { get; set; }
    public DateTime FoldedThrough { get; set; }

    public AnomalyBaseline Baseline => new(Total, Hits, Hours);

    public static void Configure(ModelBuilder model) => model.Entity<ProviderBaseline>(e =>
    {
        e.ToTable("risk_anomaly_baselines");
        e.HasKey(x => new { x.MerchantId, x.Provider, x.Metric, x.HourOfDay });
        e.Property(x => x.Metric).HasMaxLength(32);
    });
}

/// <summary>
/// Folds each finished hour (finished = its end plus the pending grace has passed) of every <see cref="AnomalyMetric"/>
/// into the baselines: one count per metric over all merchants, then in one transaction every baseline decays (a
/// set-based update of the rows folded through the hour before) and the hour's counts are added to the row of the hour's
/// hour of day and, for a rate, to its pooled row; except where the metric's anomaly alert is firing (for at most a day).
/// Every row decays every hour, so a per-hour-of-day row has lost a day's decay by its next hour, as it should.
/// The decay's condition admits one node per hour: a node whose decay moves nothing while baselines exist leaves the hour
/// to the node that did it.
/// </summary>
public sealed class AnomalyBaselines(IServiceScopeFactory scopes, IOptions<RiskAnomalyOptions> options) : IJob
{
    /// <summary>Catching up after downtime folds at most this many hours; older ones have decayed to little anyway.</summary>
    const int MaxCatchUpHours = 24 * 7;
    /// <summary>An anomaly this old is the new normal: its hours are folded again, so the baseline follows and the alert clears.</summary>
    static readonly TimeSpan FreezeAtMost = TimeSpan.FromHours(24);

    public string Name => "risk_anomaly_baselines";
    public TimeSpan Every => TimeSpan.FromMinutes(5);

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.Enabled) return 0;
        var lastFinished = Hour(now.AddSeconds(-o.PendingGraceSeconds)).AddHours(-1);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var folded = await db.Set<ProviderBaseline>().MinAsync(b => (DateTime?)b.FoldedThrough, ct);
        // A first run also folds the day before it, so a new installation's baselines do not start empty.
        var from = folded is { } f ? f.AddHours(1) : lastFinished.AddHours(-23);
        if (from < lastFinished.AddHours(-MaxCatchUpHours + 1))
        {
            // Hours skipped beyond the catch-up are folded as empty: the baselines decay over them.
            from = lastFinished.AddHours(-MaxCatchUpHours + 1);
            var decay = AnomalyBaseline.Decay(o.HalfLifeHours, (from.AddHours(-1) - folded!.Value).TotalHours);
            await db.Set<ProviderBaseline>().Where(b => b.FoldedThrough < from.AddHours(-1)).ExecuteUpdateAsync(s => s
                .SetProperty(b => b.Total, b => b.Total * decay).SetProperty(b => b.Hits, b => b.Hits * decay)
                .SetProperty(b => b.Hours, b => b.Hours * decay).SetProperty(b => b.FoldedThrough, from.AddHours(-1)), ct);
        }
        var hours = 0;
        for (var hour = from; hour <= lastFinished; hour = hour.AddHours(1))
        {
            if (!await FoldAsync(db, hour, o.HalfLifeHours, ct)) break;
            hours++;
        }
        return hours;
    }

    /// <summary>Folds one hour; false when another node already folded it.</summary>
    static async Task<bool> FoldAsync(KnowPayDb db, DateTime hour, double halfLifeHours, CancellationToken ct)
    {
        var end = hour.AddHours(1);
        var span = new MetricSpan(hour, end, end);
        var rules = AnomalyMetric.All.ToDictionary(m => m.Rule, m => m.Name);
        // While its anomaly alert fires, a baseline only decays: the bad hours must not become the standard they are judged by.
        var frozenSince = end - FreezeAtMost;
        var frozen = (await db.Alerts.AsNoTracking()
            .Where(a => rules.Keys.Contains(a.Rule) && a.ResolvedAt == null && a.FiredAt > frozenSince)
            .Select(a => new { a.MerchantId, a.Subject, a.Rule }).ToListAsync(ct)).Select(a => (a.MerchantId, a.Subject, rules[a.Rule])).ToHashSet();
        var counts = new List<(AnomalyMetric Metric, MetricTally Tally)>();
        foreach (var metric in AnomalyMetric.All)
            counts.AddRange((await metric.CountAsync(db, span, ct))
                .Where(t => !frozen.Contains((t.MerchantId, t.Provider, metric.Name))).Select(t => (metric, t)));
        var decay = AnomalyBaseline.Decay(halfLifeHours, 1);
        var previous = hour.AddHours(-1);
        var hourOfDay = hour.Hour;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var decayed = await db.Set<ProviderBaseline>().Where(b => b.FoldedThrough == previous).ExecuteUpdateAsync(s => s
            .SetProperty(b => b.Total, b => b.Total * decay).SetProperty(b => b.Hits, b => b.Hits * decay)
            .SetProperty(b => b.Hours, b => b.Hours * decay + (b.HourOfDay == AnomalyMetric.EveryHour || b.HourOfDay == hourOfDay ? 1.0 : 0.0))
            .SetProperty(b => b.FoldedThrough, hour), ct);
        var existing = (await db.Set<ProviderBaseline>().AsNoTracking().Where(b => b.FoldedThrough >= hour)
            .Select(b => new { b.MerchantId, b.Provider, b.Metric, b.HourOfDay }).ToListAsync(ct))
            .Select(b => (b.MerchantId, b.Provider, b.Metric, b.HourOfDay)).ToHashSet();
        if (decayed == 0 && existing.Count > 0) return false;
        foreach (var (metric, c) in counts.Where(c => c.Tally.Total > 0 || c.Tally.Hits > 0))
            foreach (var slot in metric.Slots(hourOfDay))
            {
                if (existing.Contains((c.MerchantId, c.Provider, metric.Name, slot)))
                    await db.Set<ProviderBaseline>()
                        .Where(b => b.MerchantId == c.MerchantId && b.Provider == c.Provider && b.Metric == metric.Name && b.HourOfDay == slot)
                        .ExecuteUpdateAsync(s => s.SetProperty(b => b.Total, b => b.Total + c.Total).SetProperty(b => b.Hits, b => b.Hits + c.Hits)
                            .SetProperty(b => b.Samples, b => b.Samples + 1), ct);
                else
                    db.Add(new ProviderBaseline
                    {
                        MerchantId = c.MerchantId, Provider = c.Provider, Metric = metric.Name, HourOfDay = slot,
                        Total = c.Total, Hits = c.Hits, Hours = 1, Samples = 1, FoldedThrough = hour,
                    });
            }
        try
        {
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return true;
        }
        catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
        {
            return false; // another node folded this hour and created the same baselines first
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }

    public static DateTime Hour(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerHour, DateTimeKind.Utc);
}
