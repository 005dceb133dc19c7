using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Webhooks;

public sealed record DeliveryView(string Id, string Object, string EventId, string EndpointId, string Status, int Attempts,
    DateTime NextAttemptAt, int? LastStatusCode, string? LastError, DateTime? DeliveredAt)
{
    public static DeliveryView From(WebhookDelivery d) => new(
        d.Id, "webhook_delivery", d.EventId, d.EndpointId, d.Status, d.Attempts, d.NextAttemptAt, d.LastStatusCode, d.LastError, d.DeliveredAt);
}

/// <summary>
/// POST /v1/events/{id}/redeliver: sends the event again to every enabled endpoint that matches it (a delivery that
/// failed, succeeded or never existed becomes pending, due now, with a fresh 3-day retry window).
/// GET /v1/events/{id}/deliveries: where the event went.
/// </summary>
public static class Redeliver
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/events/{id}/redeliver", Handle).RequireScope("webhooks:write");
        v1.MapGet("/events/{id}/deliveries", Deliveries).RequireScope("events:read");
    }

    static async Task<Results<Accepted<ListPage<DeliveryView>>, ProblemHttpResult>> Handle(string id, AuthenticatedMerchant merchant, KnowPayDb db,
        TimeProvider clock, IOptions<WebhooksOptions> webhooks, CancellationToken ct)
    {
        var evt = await db.Events.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id && e.MerchantId == merchant.Id, ct);
        if (evt is null) return Problems.NotFound("event", id);
        var now = clock.GetUtcNow().UtcDateTime;
        var until = now + webhooks.Value.RetryFor;
        var endpoints = (await db.WebhookEndpoints.AsNoTracking().Where(e => e.MerchantId == merchant.Id && !e.Disabled).ToListAsync(ct))
            .Where(e => e.Matches(evt.Type)).ToList();
        foreach (var endpoint in endpoints)
        {
            await WebhookDispatcher.InsertDeliveryAsync(db, evt, endpoint, now, until, ct);
            await db.WebhookDeliveries.Where(d => d.EventId == evt.Id && d.EndpointId == endpoint.Id)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(d => d.Status, WebhookDelivery.Pending)
                    .SetProperty(d => d.NextAttemptAt, now)
                    .SetProperty(d => d.RetryUntil, until)
                    .SetProperty(d => d.ClaimToken, (string?)null), ct);
        }
        var deliveries = await db.WebhookDeliveries.AsNoTracking().Where(d => d.EventId == evt.Id).OrderBy(d => d.Id).ToListAsync(ct);
        return TypedResults.Accepted($"/v1/events/{id}/deliveries", new ListPage<DeliveryView>(deliveries.Select(DeliveryView.From).ToList(), false, null));
    }

    static async Task<Results<Ok<ListPage<DeliveryView>>, ProblemHttpResult>> Deliveries(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        if (!await db.Events.AnyAsync(e => e.Id == id && e.MerchantId == merchant.Id, ct)) return Problems.NotFound("event", id);
        var deliveries = await db.WebhookDeliveries.AsNoTracking().Where(d => d.EventId == id).OrderBy(d => d.Id).ToListAsync(ct);
        return TypedResults.Ok(new ListPage<DeliveryView>(deliveries.Select(DeliveryView.From).ToList(), false, null));
    }
}
