using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Features.Entitlements;

public sealed record EntitlementView(
    string Id, string Object, string CustomerId, string ProductId, string OrderId, DateTime GrantedAt, DateTime? ExpiresAt,
    DateTime? RevokedAt, bool Active)
{
    public static EntitlementView From(Entitlement e, DateTime? now = null) => new(
        e.Id, "entitlement", e.CustomerId, e.ProductId, e.OrderId, e.GrantedAt, e.ExpiresAt, e.RevokedAt,
        e.RevokedAt is null && (e.ExpiresAt is null || e.ExpiresAt > (now ?? DateTime.UtcNow)));
}

public static class Access
{
    /// <summary>Access from a paid order: for ever for courses and columns, the order's period for memberships.</summary>
    public static Entitlement Grant(StagedRows rows, Order order, DateTime now)
    {
        var entitlement = new Entitlement
        {
            Id = Ids.New("ent"), MerchantId = order.MerchantId, CustomerId = order.CustomerId, ProductId = order.ProductId, OrderId = order.Id,
            GrantedAt = now, ExpiresAt = order.AccessDays is { } days ? now.AddDays(days) : null,
        };
        return rows.Insert(entitlement);
    }
}
