using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Catalog;

/// <summary>GET /v1/products?limit=&amp;starting_after=&amp;status=&amp;creator_id=: newest first; ids are time-sortable so the cursor is the last id.</summary>
public static class ListProducts
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/products", Handle).RequireScope("catalog:read");

    static async Task<Results<Ok<ListPage<ProductView>>, ProblemHttpResult>> Handle(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct,
        int? limit, string? starting_after, string? status, string? creator_id)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Products.AsNoTracking().Where(p => p.MerchantId == merchant.Id);
        if (status is not null)
        {
            if (!ListFilters.TryStatus<ProductStatus>(status, out var s)) return ListFilters.StatusProblem<ProductStatus>();
            query = query.Where(p => p.Status == s);
        }
        if (!string.IsNullOrEmpty(creator_id)) query = query.Where(p => p.CreatorId == creator_id);
        if (starting_after is not null) query = query.Where(p => string.Compare(p.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(p => p.Id).Take(take + 1).Include(p => p.Prices).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, ProductView.From, p => p.Id));
    }
}
