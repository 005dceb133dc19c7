using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <param name="Action">acknowledge (any class), grant (an entitlement missing for a paid order), revoke (an entitlement without payment).</param>
public sealed record ResolveItemRequest(string? Action, string? Note);

/// <summary>
/// POST /v1/reconciliation/items/{id}/resolve: an operator's decision on a difference, stored with who, when and why.
/// grant and revoke act through the entitlements' own rows and events, on the item's order or entitlement (else its
/// payment's order), in the transaction that resolves the item; a conditional update admits one resolution, and the same
/// action again answers the item as it is.
/// </summary>
public static class ResolveItem
{
    public const string Acknowledge = "acknowledge", Grant = "grant", Revoke = "revoke";

    /// <summary>The classes each fixing action fits; acknowledge fits every class.</summary>
    static readonly Dictionary<string, string> FixFor = new(StringComparer.Ordinal)
    {
        [Grant] = "entitlement_missing",
        [Revoke] = "entitlement_without_payment",
    };

    public static void Map(RouteGroupBuilder v1) =>
        v1.MapPost("/reconciliation/items/{id}/resolve", Handle).RequireScope("ledger:write");

    static async Task<Results<Ok<ReconciliationItemView>, ProblemHttpResult>> Handle(
        string id, ResolveItemRequest body, AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        if (body.Action is not (Acknowledge or Grant or Revoke) || body.Action is not { } action)
            return Problems.Invalid("action_invalid", "action", "action is one of: acknowledge, grant, revoke.");
        if (body.Note is { Length: > 1000 })
            return Problems.Invalid("note_invalid", "note", "note is at most 1000 characters.");
        var item = await db.ReconciliationItems.AsNoTracking().SingleOrDefaultAsync(i => i.Id == id, ct);
        // An item of no merchant (a trade the bill names and KnowPay does not know) can only be acknowledged.
        if (item is null || item.MerchantId != merchant.Id && !(item.MerchantId is null && action == Acknowledge))
            return Problems.NotFound("reconciliation_item", id);
        if (item.Resolution is { } done)
            return done == action ? TypedResults.Ok(ReconciliationItemView.From(item)) : AlreadyResolved(item);
        if (FixFor.TryGetValue(action, out var fits) && item.Kind != fits)
            return Problems.Conflict("action_not_applicable", $"{action} fixes {fits} items; this item is {item.Kind}. acknowledge fits every class.");

        var now = clock.GetUtcNow().UtcDateTime;
        var orderId = item.OrderId ?? (item.PaymentId is null ? null
            : await db.Payments.Where(p => p.Id == item.PaymentId).Select(p => p.OrderId).SingleOrDefaultAsync(ct));
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var won = await db.ReconciliationItems.Where(i => i.Id == id && i.Resolution == null).ExecuteUpdateAsync(s => s
            .SetProperty(i => i.Resolution, action).SetProperty(i => i.ResolvedAt, now)
            .SetProperty(i => i.ResolvedBy, merchant.KeyId).SetProperty(i => i.ResolutionNote, body.Note), ct);
        if (won == 0)
        {
            await tx.RollbackAsync(CancellationToken.None);
            var current = await db.ReconciliationItems.AsNoTracking().SingleAsync(i => i.Id == id, ct);
            return current.Resolution == action ? TypedResults.Ok(ReconciliationItemView.From(current)) : AlreadyResolved(current);
        }
        var problem = action switch
        {
            Grant => await GrantAsync(db, merchant.Id, orderId, now, ct),
            Revoke => await RevokeAsync(db, merchant.Id, item.EntitlementId, orderId, now, ct),
            _ => null,
        };
        if (problem is not null)
        {
            await tx.RollbackAsync(CancellationToken.None);
            return problem;
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return TypedResults.Ok(ReconciliationItemView.From(await db.ReconciliationItems.AsNoTracking().SingleAsync(i => i.Id == id, ct)));
    }

    static ProblemHttpResult AlreadyResolved(ReconciliationItem item) =>
        Problems.Conflict("item_already_resolved", $"The item is already resolved ({item.Resolution}); it is not resolved again another way.");

    /// <summary>Access for the paid order: a new entitlement, or its revoked one restored (one per order); active already is left as it is.</summary>
    static async Task<ProblemHttpResult?> GrantAsync(KnowPayDb db, string merchantId, string? orderId, DateTime now, CancellationToken ct)
    {
        var order = orderId is null ? null : await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orderId && o.MerchantId == merchantId, ct);
        if (order is null) return Problems.Conflict("item_has_no_order", "The item names no order to grant access for.");
        if (order.Status != OrderStatus.Paid) return Problems.Conflict("order_not_paid", $"Order {order.Id} is {order.Status.ToString().ToLowerInvariant()}; access follows a paid order.");
        var existing = await db.Entitlements.AsNoTracking().SingleOrDefaultAsync(e => e.OrderId == order.Id, ct);
        Entitlement granted;
        if (existing is null)
        {
            var rows = new StagedRows();
            granted = Access.Grant(rows, order, now);
            rows.AddTo(db);
        }
        else if (existing.RevokedAt is not null)
        {
            var restored = await db.Entitlements.Where(e => e.Id == existing.Id && e.RevokedAt != null)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.RevokedAt, (DateTime?)null).SetProperty(e => e.RevokedReason, (string?)null), ct);
            if (restored == 0) return null;
            existing.RevokedAt = null;
            existing.RevokedReason = null;
            granted = existing;
        }
        else return null;
        Outbox.Add(db, merchantId, EventTypes.EntitlementGranted, granted.Id, EntitlementView.From(granted, now), now);
        return null;
    }

    /// <summary>Revokes the item's entitlement, else the order's active one; one already revoked is left as it is.</summary>
    static async Task<ProblemHttpResult?> RevokeAsync(KnowPayDb db, string merchantId, string? entitlementId, string? orderId, DateTime now, CancellationToken ct)
    {
        var target = await db.Entitlements.AsNoTracking().Where(e => e.MerchantId == merchantId)
            .Where(e => entitlementId != null ? e.Id == entitlementId : e.OrderId == orderId).SingleOrDefaultAsync(ct);
        if (target is null) return Problems.Conflict("item_has_no_entitlement", "The item names no entitlement to revoke.");
        var revoked = await db.Entitlements.Where(e => e.Id == target.Id && e.RevokedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.RevokedAt, now).SetProperty(e => e.RevokedReason, "reconciliation"), ct);
        if (revoked == 0) return null;
        target.RevokedAt = now;
        target.RevokedReason = "reconciliation";
        Outbox.Add(db, merchantId, EventTypes.EntitlementRevoked, target.Id, EntitlementView.From(target, now), now);
        return null;
    }
}
