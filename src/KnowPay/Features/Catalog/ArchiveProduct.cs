using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Catalog;

/// <summary>
/// POST /v1/products/{id}/archive: the product takes no new orders (POST /v1/orders answers 409 product_archived);
/// orders already created keep their locked price and can still be paid and refunded. Archiving twice is harmless.
/// </summary>
public static class ArchiveProduct
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/products/{id}/archive", Handle).RequireScope("catalog:write");

    static async Task<Results<Ok<ProductView>, ProblemHttpResult>> Handle(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var product = await db.Products.Include(p => p.Prices).SingleOrDefaultAsync(p => p.Id == id && p.MerchantId == merchant.Id, ct);
        if (product is null) return Problems.NotFound("product", id);
        product.Status = ProductStatus.Archived;
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(ProductView.From(product));
    }
}
