using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Keys;

/// <summary>GET /v1/api-keys: the merchant's keys, newest first, revoked and expired ones included; never a secret or hash.</summary>
public static class ListApiKeys
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/api-keys", List).RequireScope(ApiKeyEndpoints.ReadScope);

    static async Task<Results<Ok<ListPage<ApiKeyView>>, ProblemHttpResult>> List(
        AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, CancellationToken ct, int? limit, string? starting_after)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var now = clock.GetUtcNow().UtcDateTime;
        var rows = await ListAsync(db, merchant.Id, take + 1, starting_after, ct);
        return TypedResults.Ok(Paging.Page(rows, take, k => ApiKeyView.From(k, now), k => k.Id));
    }

    /// <summary>Also the CLI's <c>keys list</c>.</summary>
    public static Task<List<ApiKey>> ListAsync(KnowPayDb db, string merchantId, int take, string? startingAfter, CancellationToken ct)
    {
        var query = db.ApiKeys.AsNoTracking().Where(k => k.MerchantId == merchantId);
        if (startingAfter is not null) query = query.Where(k => string.Compare(k.Id, startingAfter) < 0);
        return query.OrderByDescending(k => k.Id).Take(take).ToListAsync(ct);
    }
}
