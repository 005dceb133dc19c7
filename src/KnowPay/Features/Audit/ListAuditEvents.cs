using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Audit;

public sealed record AuditEventView(
    string Id, string Object, string ActorType, string ActorId, string Operation, string? ObjectType, string? ObjectId,
    DateTime OccurredAt, string? Ip, string? UserAgent, int? Status, string Outcome, string? RequestId)
{
    public static AuditEventView From(AuditEvent e) => new(
        e.Id, "audit_event", e.ActorType, e.ActorId, e.Operation, e.ObjectType, e.ObjectId, e.OccurredAt, e.Ip, e.UserAgent, e.Status, e.Outcome, e.RequestId);
}

/// <summary>
/// GET /v1/audit-events?actor_id=&amp;operation=&amp;object_id=&amp;since=&amp;until=&amp;limit=&amp;starting_after=: the merchant's
/// own audit trail, newest first (ids are time-sortable, so the cursor is the last id). Events still queued for writing
/// when the call arrives are written first, so a caller sees the calls it made before.
/// </summary>
public static class ListAuditEvents
{
    public const string Scope = "audit:read";

    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/audit-events", Handle).RequireScope(Scope);

    static async Task<Results<Ok<ListPage<AuditEventView>>, ProblemHttpResult>> Handle(
        AuthenticatedMerchant merchant, KnowPayDb db, AuditTrail trail, CancellationToken ct,
        int? limit, string? starting_after, string? actor_id, string? operation, string? object_id, string? since, string? until)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var (range, problem) = ListFilters.Range(since, until, "since", "until");
        if (problem is not null) return problem;
        await trail.FlushedAsync(TimeSpan.FromSeconds(5), ct);
        var query = db.AuditEvents.AsNoTracking().Where(e => e.MerchantId == merchant.Id);
        if (actor_id is not null) query = query.Where(e => e.ActorId == actor_id);
        if (operation is not null) query = query.Where(e => e.Operation == operation);
        if (object_id is not null) query = query.Where(e => e.ObjectId == object_id);
        if (range!.From is { } from) query = query.Where(e => e.OccurredAt >= from);
        if (range.Until is { } to) query = query.Where(e => e.OccurredAt < to);
        if (starting_after is not null) query = query.Where(e => string.Compare(e.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(e => e.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, AuditEventView.From, e => e.Id));
    }
}
