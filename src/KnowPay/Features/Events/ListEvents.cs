using System.Text.Json;
using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Events;

/// <summary>The event envelope, the same in GET /v1/events and in webhook bodies: {id, type, created_at, data}.</summary>
public sealed record EventView(string Id, string Type, DateTime CreatedAt, JsonElement Data)
{
    public static EventView From(OutboxEvent e)
    {
        using var doc = JsonDocument.Parse(e.Data);
        return new(e.Id, e.Type, e.CreatedAt, doc.RootElement.Clone());
    }

    /// <summary>The exact bytes a webhook carries (and its signature covers).</summary>
    public static string Body(OutboxEvent e) => KnowPayJson.Serialize(From(e));
}

/// <summary>GET /v1/events?type=&amp;limit=&amp;starting_after= (newest first; ids are time-sortable) and GET /v1/events/{id}: the pull side of the outbox.</summary>
public static class ListEvents
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/events", List).RequireScope("events:read");
        v1.MapGet("/events/{id}", Get).RequireScope("events:read");
    }

    static async Task<Results<Ok<ListPage<EventView>>, ProblemHttpResult>> List(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct,
        int? limit, string? starting_after, string? type)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Events.AsNoTracking().Where(e => e.MerchantId == merchant.Id);
        if (!string.IsNullOrEmpty(type)) query = query.Where(e => e.Type == type);
        if (starting_after is not null) query = query.Where(e => string.Compare(e.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(e => e.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, EventView.From, e => e.Id));
    }

    static async Task<Results<Ok<EventView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var evt = await db.Events.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id && e.MerchantId == merchant.Id, ct);
        return evt is null ? Problems.NotFound("event", id) : TypedResults.Ok(EventView.From(evt));
    }
}
