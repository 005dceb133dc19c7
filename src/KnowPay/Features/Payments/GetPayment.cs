using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

public static class GetPayment
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/payments/{id}", Handle).RequireScope("orders:read");

    static async Task<Results<Ok<PaymentView>, ProblemHttpResult>> Handle(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var payment = await db.Payments.AsNoTracking().SingleOrDefaultAsync(p => p.Id == id && p.MerchantId == merchant.Id, ct);
        return payment is null ? Problems.NotFound("payment", id) : TypedResults.Ok(PaymentView.From(payment));
    }
}
