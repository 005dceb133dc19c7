using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>
/// <c>Risk:Anomaly:*</c>: the success-rate baselines (<see cref="AnomalyBaseline"/>) and when the current window is an
/// anomaly (<see cref="AnomalyJudge.Judge"/>).
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
    [Between(0, 1)] public double MinDrop { get; set; } = 0.1;
    /// <summary>A payment still pending this long after its creation counts as settled and not succeeded.</summary>
    [Between(0, 86_400)] public int PendingGraceSeconds { get; set; } = 300;

    public AnomalyThresholds Thresholds() => new(MinAttempts, MinBaselineAttempts, ZScore, MinDrop);
}

/// <summary>One merchant's baseline at one provider, folded through the hour starting at <see cref="FoldedThrough"/>.</summary>
public sealed class ProviderBaseline
{
    public required string MerchantId { get; init; }
    public required string Provider { get; init; }
    public double Settled { get; set; }
    public double Succeeded { get; set; }
    public double Hours { get; set; }
    public DateTime FoldedThrough { get; set; }

    public AnomalyBaseline Baseline => new(Settled, Succeeded, Hours);

    public static void Configure(ModelBuilder model) => model.Entity<ProviderBaseline>(e =>
    {
        e.ToTable("risk_anomaly_baselines");
        e.HasKey(x => new { x.MerchantId, x.Provider });
    });
}

/// <summary>
/// Folds each finished hour of payments (finished = its end plus the pending grace has passed) into the baselines: one
/// grouped query per hour over all merchants, then in one transaction every baseline decays (a set-based update of the
/// rows folded through the hour before) and the hour's counts are added, except where a success_rate_anomaly alert is
/// firing (for at most a day). The decay's condition admits one node per
/// hour: a node whose decay moves nothing while baselines exist leaves the hour to the node that did it.
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
                .SetProperty(b => b.Settled, b => b.Settled * decay).SetProperty(b => b.Succeeded, b => b.Succeeded * decay)
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
        var counts = await db.Payments.AsNoTracking().Where(p => p.CreatedAt >= hour && p.CreatedAt < end)
            .GroupBy(p => new { p.MerchantId, p.Provider })
            .Select(g => new { g.Key.MerchantId, g.Key.Provider, Settled = g.Count(), Succeeded = g.Count(p => p.Status == PaymentStatus.Succeeded) })
            .ToListAsync(ct);
        // While its anomaly alert fires, a baseline only decays: the bad hours must not become the standard they are judged by.
        var frozenSince = end - FreezeAtMost;
        var frozen = (await db.Alerts.AsNoTracking()
            .Where(a => a.Rule == Anomalies.Rule && a.ResolvedAt == null && a.FiredAt > frozenSince)
            .Select(a => new { a.MerchantId, a.Subject }).ToListAsync(ct)).Select(a => (a.MerchantId, a.Subject)).ToHashSet();
        counts.RemoveAll(c => frozen.Contains((c.MerchantId, c.Provider)));
        var decay = AnomalyBaseline.Decay(halfLifeHours, 1);
        var previous = hour.AddHours(-1);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var decayed = await db.Set<ProviderBaseline>().Where(b => b.FoldedThrough == previous).ExecuteUpdateAsync(s => s
            .SetProperty(b => b.Settled, b => b.Settled * decay).SetProperty(b => b.Succeeded, b => b.Succeeded * decay)
            .SetProperty(b => b.Hours, b => b.Hours * decay + 1).SetProperty(b => b.FoldedThrough, hour), ct);
        var existing = (await db.Set<ProviderBaseline>().AsNoTracking().Where(b => b.FoldedThrough >= hour)
            .Select(b => new { b.MerchantId, b.Provider }).ToListAsync(ct)).Select(b => (b.MerchantId, b.Provider)).ToHashSet();
        if (decayed == 0 && existing.Count > 0) return false;
        foreach (var c in counts)
        {
            if (existing.Contains((c.MerchantId, c.Provider)))
                await db.Set<ProviderBaseline>().Where(b => b.MerchantId == c.MerchantId && b.Provider == c.Provider).ExecuteUpdateAsync(s => s
                    .SetProperty(b => b.Settled, b => b.Settled + c.Settled).SetProperty(b => b.Succeeded, b => b.Succeeded + c.Succeeded), ct);
            else
                db.Add(new ProviderBaseline { MerchantId = c.MerchantId, Provider = c.Provider, Settled = c.Settled, Succeeded = c.Succeeded, Hours = 1, FoldedThrough = hour });
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
