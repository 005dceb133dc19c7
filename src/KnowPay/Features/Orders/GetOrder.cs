using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Orders;

public static class GetOrder
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/orders/{id}", Handle).RequireScope("orders:read");

    static async Task<Results<Ok<OrderView>, ProblemHttpResult>> Handle(string id, AuthenticatedMerchant merchant, KnowPayDb db, Checkout.CheckoutLinks checkout, CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == id && o.MerchantId == merchant.Id, ct);
        return order is null ? Problems.NotFound("order", id) : TypedResults.Ok(OrderView.From(order, checkout.UrlFor(order)));
    }
}
