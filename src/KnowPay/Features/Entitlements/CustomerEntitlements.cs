using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Entitlements;

public sealed record EntitlementCheck(string Object, string CustomerId, string ProductId, bool Active, DateTime? ExpiresAt, EntitlementView? Entitlement);

/// <summary>
/// GET /v1/customers/{customer}/entitlements and the per-page-view check GET /v1/customers/{customer}/entitlements/{product_id}.
/// {customer} is KnowPay's cus_… id or else the platform's own user id (external_id), resolved inside the same query
/// through the unique (merchant, external_id) index. One indexed query either way; an unknown customer simply has no access.
/// </summary>
public static class CustomerEntitlements
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/customers/{customer}/entitlements", List).RequireScope("customers:read");
        v1.MapGet("/customers/{customer}/entitlements/{productId}", Check).RequireScope("customers:read");
    }

    static IQueryable<Entitlement> Of(KnowPayDb db, string merchantId, string customer) =>
        customer.StartsWith("cus_", StringComparison.Ordinal)
            ? db.Entitlements.AsNoTracking().Where(e => e.MerchantId == merchantId && e.CustomerId == customer)
            : db.Entitlements.AsNoTracking().Where(e => e.MerchantId == merchantId && e.CustomerId ==
                db.Customers.Where(c => c.MerchantId == merchantId && c.ExternalId == customer).Select(c => c.Id).FirstOrDefault());

    static async Task<Ok<EntitlementCheck>> Check(string customer, string productId, AuthenticatedMerchant merchant, KnowPayDb db,
        TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        // Active ones first, the one lasting longest (null = for ever) first among them.
        var best = await Of(db, merchant.Id, customer).Where(e => e.ProductId == productId)
            .OrderBy(e => e.RevokedAt == null && (e.ExpiresAt == null || e.ExpiresAt > now) ? 0 : 1)
            .ThenBy(e => e.ExpiresAt == null ? 0 : 1).ThenByDescending(e => e.ExpiresAt).ThenByDescending(e => e.Id)
            .FirstOrDefaultAsync(ct);
        var view = best is null ? null : EntitlementView.From(best, now);
        return TypedResults.Ok(new EntitlementCheck("entitlement_check", best?.CustomerId ?? customer, productId, view?.Active ?? false,
            view is { Active: true } ? view.ExpiresAt : null, view));
    }

    static async Task<Results<Ok<ListPage<EntitlementView>>, ProblemHttpResult>> List(string customer, AuthenticatedMerchant merchant, KnowPayDb db,
        TimeProvider clock, CancellationToken ct, int? limit, string? starting_after, bool? active)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var now = clock.GetUtcNow().UtcDateTime;
        var query = Of(db, merchant.Id, customer);
        if (active == true) query = query.Where(e => e.RevokedAt == null && (e.ExpiresAt == null || e.ExpiresAt > now));
        if (starting_after is not null) query = query.Where(e => string.Compare(e.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(e => e.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, e => EntitlementView.From(e, now), e => e.Id));
    }
}
