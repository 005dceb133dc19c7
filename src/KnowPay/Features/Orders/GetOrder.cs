using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Orders;

public static class GetOrder
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/orders/{id}", Handle).RequireScope("orders:read");

    /// <summary>Compiled once (performance: the order-status poll is the most frequent read; no LINQ translation per call).</summary>
    static readonly CompiledQuery<Func<KnowPayDb, string, string, CancellationToken, Task<Order?>>> ById = new(() => EF.CompileAsyncQuery(
        (KnowPayDb db, string id, string merchantId, CancellationToken ct) => db.Orders.AsNoTracking().SingleOrDefault(o => o.Id == id && o.MerchantId == merchantId)));

    static async Task<Results<Ok<OrderView>, ProblemHttpResult>> Handle(string id, AuthenticatedMerchant merchant, KnowPayDb db, Checkout.CheckoutLinks checkout, CancellationToken ct)
    {
        var order = await ById.For(db)(db, id, merchant.Id, ct);
        return order is null ? Problems.NotFound("order", id) : TypedResults.Ok(OrderView.From(order, checkout.UrlFor(order)));
    }
}
