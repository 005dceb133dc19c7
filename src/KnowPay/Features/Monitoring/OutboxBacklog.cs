using KnowPay.Data;

namespace KnowPay.Features.Monitoring;

/// <summary>One merchant's undelivered events.</summary>
public sealed record OutboxBacklog(string MerchantId, long Undelivered, double OldestAgeSeconds);

public sealed record OutboxBacklogTotal(long Undelivered, double OldestAgeSeconds);

/// <summary>
/// How many deliveries wait, and how old the oldest is. Implemented by the webhooks feature, which owns delivery state
/// (<see cref="Webhooks.WebhookBacklog"/>).
/// </summary>
public interface IOutboxBacklog
{
    Task<IReadOnlyList<OutboxBacklog>> MeasureAsync(KnowPayDb db, DateTime now, CancellationToken ct);
}

/// <summary>Backs the outbox gauges: one cheap query at most every 5 s, whatever the scrape rate.</summary>
public sealed class OutboxBacklogProbe(IServiceScopeFactory scopes, TimeProvider clock, ILogger<OutboxBacklogProbe> log)
{
    readonly Lock gate = new();
    OutboxBacklogTotal last = new(0, 0);
    long? measuredAt;

    public OutboxBacklogTotal Read()
    {
        lock (gate)
        {
            if (measuredAt is { } at && Environment.TickCount64 - at < 5_000) return last;
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
