using KnowPay.Domain;
using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Refunds;

/// <summary>
/// GET /v1/refunds?limit=&amp;starting_after=&amp;payment_id=&amp;status=&amp;created_gte=&amp;created_lt=: all of the
/// merchant's refunds, newest first; ids are time-sortable so the cursor is the last id.
/// </summary>
public static class ListRefunds
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/refunds", Handle).RequireScope("orders:read");

    static async Task<Results<Ok<ListPage<RefundView>>, ProblemHttpResult>> Handle(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, int? limit, string? starting_after,
        string? payment_id, string? status, string? created_gte, string? created_lt)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Refunds.AsNoTracking().Where(r => r.MerchantId == merchant.Id);
        if (status is not null)
        {
            if (!ListFilters.TryStatus<RefundState>(status, out var s)) return ListFilters.StatusProblem<RefundState>();
            query = query.Where(r => r.Status == s);
        }
        var (created, problem) = ListFilters.Created(created_gte, created_lt);
        if (problem is not null) return problem;
        if (created!.From is { } from) query = query.Where(r => r.CreatedAt >= from);
        if (created.Until is { } until) query = query.Where(r => r.CreatedAt < until);
        if (!string.IsNullOrEmpty(payment_id)) query = query.Where(r => r.PaymentId == payment_id);
        if (starting_after is not null) query = query.Where(r => string.Compare(r.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(r => r.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, RefundView.From, r => r.Id));
    }
}
