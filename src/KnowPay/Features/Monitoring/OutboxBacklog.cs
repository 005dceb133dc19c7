using KnowPay.Data;

namespace KnowPay.Features.Monitoring;

/// <summary>One merchant's undelivered events.</summary>
public sealed record OutboxBacklog(string MerchantId, long Undelivered, double OldestAgeSeconds);

public sealed record OutboxBacklogTotal(long Undelivered, double OldestAgeSeconds);

/// <summary>
/// How many events wait for delivery, and how old the oldest is. The events feature (which owns delivery state)
/// registers the real implementation; until then nothing is known to be undelivered.
/// </summary>
public interface IOutboxBacklog
{
    Task<IReadOnlyList<OutboxBacklog>> MeasureAsync(KnowPayDb db, DateTime now, CancellationToken ct);
}

sealed class NoOutboxBacklog : IOutboxBacklog
{
    public Task<IReadOnlyList<OutboxBacklog>> MeasureAsync(KnowPayDb db, DateTime now, CancellationToken ct) => Task.FromResult<IReadOnlyList<OutboxBacklog>>([]);
}

/// <summary>Backs the outbox gauges: one cheap query at most every 5 s, whatever the scrape rate.</summary>
public sealed class OutboxBacklogProbe(IServiceScopeFactory scopes, TimeProvider clock, ILogger<OutboxBacklogProbe> log)
{
    readonly Lock gate = new();
    OutboxBacklogTotal last = new(0, 0);
    long measuredAt = long.MinValue;

    public OutboxBacklogTotal Read()
    {
        lock (gate)
        {
            if (Environment.TickCount64 - measuredAt < 5_000) return last;
            measuredAt = Environment.TickCount64;
            try
            {
                using var scope = scopes.CreateScope();
                var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var all = scope.ServiceProvider.GetRequiredService<IOutboxBacklog>().MeasureAsync(db, clock.GetUtcNow().UtcDateTime, cts.Token).GetAwaiter().GetResult();
                last = new(all.Sum(b => b.Undelivered), all.Count == 0 ? 0 : all.Max(b => b.OldestAgeSeconds));
            }
            catch (Exception e)
            {
                log.LogWarning(e, "Outbox backlog could not be measured; the gauge keeps its last value");
            }
            return last;
        }
    }
}
