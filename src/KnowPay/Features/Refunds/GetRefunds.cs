using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Refunds;

/// <summary>GET /v1/refunds/{id} and GET /v1/payments/{id}/refunds (newest first, cursor).</summary>
public static class GetRefunds
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/refunds/{id}", Get).RequireScope("orders:read");
        v1.MapGet("/payments/{paymentId}/refunds", List).RequireScope("orders:read");
    }

    static async Task<Results<Ok<RefundView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var refund = await db.Refunds.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id && r.MerchantId == merchant.Id, ct);
        return refund is null ? Problems.NotFound("refund", id) : TypedResults.Ok(RefundView.From(refund));
    }

    static async Task<Results<Ok<ListPage<RefundView>>, ProblemHttpResult>> List(
        string paymentId, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, int? limit, string? starting_after)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        if (!await db.Payments.AnyAsync(p => p.Id == paymentId && p.MerchantId == merchant.Id, ct)) return Problems.NotFound("payment", paymentId);
        var query = db.Refunds.AsNoTracking().Where(r => r.PaymentId == paymentId && r.MerchantId == merchant.Id);
        if (starting_after is not null) query = query.Where(r => string.Compare(r.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(r => r.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, RefundView.From, r => r.Id));
    }
}
