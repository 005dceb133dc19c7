using KnowPay.Data;
using KnowPay.Features.Monitoring;
using Microsoft.EntityFrameworkCore;
using KnowPay.Infrastructure;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Webhooks;

/// <summary>
/// The outbox backlog from the webhook deliveries table, per merchant: every delivery still <c>pending</c> (due now or
/// waiting for its next retry) plus every event not yet fanned out for a merchant that has an enabled endpoint (a
/// stalled dispatcher shows here before any delivery row exists). The age of a pending delivery counts from the start of
/// its current retry window (creation, or the last redelivery: <c>retry_until − Webhooks:RetryForHours</c>), the age of
/// an event not fanned out from its creation. Delivered and finally failed deliveries are not backlog.
/// </summary>
public sealed class WebhookBacklog(IOptions<WebhooksOptions> webhooks) : IOutboxBacklog
{
    public async Task<IReadOnlyList<OutboxBacklog>> MeasureAsync(KnowPayDb db, DateTime now, CancellationToken ct)
    {
        var window = webhooks.Value.RetryFor;
        var pending = await db.WebhookDeliveries.AsNoTracking().Where(d => d.Status == WebhookDelivery.Pending)
            .GroupBy(d => d.MerchantId)
            .Select(g => new { MerchantId = g.Key, Count = g.LongCount(), Since = g.Min(d => d.RetryUntil) })
            .ToListAsync(ct);
        var notFannedOut = await db.PendingFanOuts.AsNoTracking()
            .Where(e => db.WebhookEndpoints.Any(w => w.MerchantId == e.MerchantId && !w.Disabled))
            .GroupBy(e => e.MerchantId)
            .Select(g => new { MerchantId = g.Key, Count = g.LongCount(), Since = g.Min(e => e.CreatedAt) })
            .ToListAsync(ct);
        return pending.Select(p => (p.MerchantId, p.Count, Since: p.Since - window))
            .Concat(notFannedOut.Select(e => (e.MerchantId, e.Count, e.Since)))
            .GroupBy(x => x.MerchantId, StringComparer.Ordinal)
            .Select(g => new OutboxBacklog(g.Key, g.Sum(x => x.Count), Math.Max(0, (now - g.Min(x => x.Since)).TotalSeconds)))
            .OrderBy(b => b.MerchantId, StringComparer.Ordinal)
            .ToList();
    }
}
