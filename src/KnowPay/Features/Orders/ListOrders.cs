using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Orders;

/// <summary>GET /v1/orders?limit=&amp;starting_after=&amp;status=&amp;customer_id=: newest first; ids are time-sortable so the cursor is the last id.</summary>
public static class ListOrders
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/orders", Handle).RequireScope("orders:read");

    static async Task<Results<Ok<ListPage<OrderView>>, ProblemHttpResult>> Handle(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct,
        int? limit, string? starting_after, string? status, string? customer_id)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Orders.AsNoTracking().Where(o => o.MerchantId == merchant.Id);
        if (status is not null)
        {
            if (!ListFilters.TryStatus<OrderStatus>(status, out var s)) return ListFilters.StatusProblem<OrderStatus>();
            query = query.Where(o => o.Status == s);
        }
        if (customer_id is not null) query = query.Where(o => o.CustomerId == customer_id);
        if (starting_after is not null) query = query.Where(o => string.Compare(o.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(o => o.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, o => OrderView.From(o), o => o.Id));
    }
}

public static class Paging
{
    public static int? Limit(int? limit) => limit switch { null => 20, >= 1 and <= 100 => limit, _ => null };

    public static readonly ProblemHttpResult LimitProblem = Problems.Invalid("limit_invalid", "limit", "limit must be between 1 and 100.");

    public static ListPage<TView> Page<TRow, TView>(List<TRow> rows, int take, Func<TRow, TView> view, Func<TRow, string> cursor)
    {
        var hasMore = rows.Count > take;
        var page = rows.Take(take).ToList();
        return new ListPage<TView>(page.Select(view).ToList(), hasMore, hasMore ? cursor(page[^1]) : null);
    }
}
