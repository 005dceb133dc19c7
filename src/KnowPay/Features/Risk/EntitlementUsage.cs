using KnowPay.Data;
using KnowPay.Features.Entitlements;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Risk;

public sealed record EntitlementUsageBody(int? Progress);

public sealed record EntitlementUsageView(string Id, string Object, string OrderId, int Progress);

/// <summary>
/// POST /v1/entitlements/{id}/usage {progress}: how much of the content the learner consumed (0–100), as the platform
/// measures it. The latest report is kept; a refund request reads it (<c>:consumed_progress:</c>, the refund-abuse signal).
/// </summary>
public static class EntitlementUsage
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/entitlements/{id}/usage", Handle).RequireScope("orders:write");

    static async Task<Results<Ok<EntitlementUsageView>, ProblemHttpResult>> Handle(string id, EntitlementUsageBody body, AuthenticatedMerchant merchant,
        KnowPayDb db, CancellationToken ct)
    {
        if (body.Progress is not (>= 0 and <= 100)) return Problems.Invalid("progress_invalid", "progress", "progress is an integer from 0 to 100.");
        var changed = await db.Entitlements.Where(e => e.Id == id && e.MerchantId == merchant.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.Progress, body.Progress), ct);
        if (changed == 0) return Problems.NotFound("entitlement", id);
        var orderId = await db.Entitlements.Where(e => e.Id == id).Select(e => e.OrderId).SingleAsync(ct);
        return TypedResults.Ok(new EntitlementUsageView(id, "entitlement_usage", orderId, body.Progress.Value));
    }
}
