using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>
/// Limits in the order's minor units, creator payout limits in the payout's (null = none), and the score thresholds (null =
/// <c>Risk:ReviewThreshold</c>/<c>Risk:BlockThreshold</c>).
/// </summary>
public sealed record RiskSettingsBody(long? SinglePaymentMax, long? CustomerDailyAmount, long? CustomerDailyCount, long? ProductQuantityPerCustomer,
    int? ReviewThreshold, int? BlockThreshold, long? CreatorPayoutMax = null, long? CreatorDailyPayoutAmount = null);

public sealed record RiskSettingsView(string Object, long? SinglePaymentMax, long? CustomerDailyAmount, long? CustomerDailyCount,
    long? ProductQuantityPerCustomer, int ReviewThreshold, int BlockThreshold, long? CreatorPayoutMax, long? CreatorDailyPayoutAmount);

/// <summary>
/// GET/PUT /v1/risk/settings: the merchant's limits (exceeding one refuses an order, or a payout batch, with 422
/// <c>limit_&lt;name&gt;</c>) and score thresholds.
/// </summary>
public static class RiskSettingsApi
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/risk/settings", Get).RequireScope("risk:read");
        v1.MapPut("/risk/settings", Put).RequireScope("risk:write").Produces(StatusCodes.Status409Conflict); // risk_policy_changed
    }

    static RiskSettingsView View(RiskPolicy? p, RiskOptions o) => new("risk_settings", p?.SinglePaymentMax, p?.CustomerDailyAmount, p?.CustomerDailyCount,
        p?.ProductQuantityPerCustomer, p?.ReviewThreshold ?? o.ReviewThreshold, p?.BlockThreshold ?? o.BlockThreshold, p?.CreatorPayoutMax, p?.CreatorDailyPayoutAmount);

    static async Task<Ok<RiskSettingsView>> Get(AuthenticatedMerchant merchant, KnowPayDb db, IOptions<RiskOptions> options, CancellationToken ct) =>
        TypedResults.Ok(View(await db.RiskPolicies.AsNoTracking().SingleOrDefaultAsync(p => p.MerchantId == merchant.Id, ct), options.Value));

    static async Task<Results<Ok<RiskSettingsView>, ProblemHttpResult>> Put(RiskSettingsBody body, AuthenticatedMerchant merchant, KnowPayDb db,
        IOptions<RiskOptions> options, TimeProvider clock, CancellationToken ct)
    {
        foreach (var (name, value) in new[] { ("single_payment_max", body.SinglePaymentMax), ("customer_daily_amount", body.CustomerDailyAmount),
                     ("customer_daily_count", body.CustomerDailyCount), ("product_quantity_per_customer", body.ProductQuantityPerCustomer),
                     ("creator_payout_max", body.CreatorPayoutMax), ("creator_daily_payout_amount", body.CreatorDailyPayoutAmount) })
            if (value is <= 0) return Problems.Invalid("limit_invalid", name, $"{name} is a positive integer, or null for no limit.");
        foreach (var (name, value) in new[] { ("review_threshold", body.ReviewThreshold), ("block_threshold", body.BlockThreshold) })
            if (value is not null and not (>= 0 and <= 99)) return Problems.Invalid("threshold_invalid", name, $"{name} is between 0 and 99.");
        var policy = await RiskPolicies.ForChangeAsync(db, merchant.Id, clock.GetUtcNow().UtcDateTime, ct);
        policy.SinglePaymentMax = body.SinglePaymentMax;
        policy.CustomerDailyAmount = body.CustomerDailyAmount;
        policy.CustomerDailyCount = body.CustomerDailyCount;
        policy.ProductQuantityPerCustomer = body.ProductQuantityPerCustomer;
        policy.CreatorPayoutMax = body.CreatorPayoutMax;
        policy.CreatorDailyPayoutAmount = body.CreatorDailyPayoutAmount;
        policy.ReviewThreshold = body.ReviewThreshold;
        policy.BlockThreshold = body.BlockThreshold;
        if (await RiskRulesApi.SaveAsync(db, ct) is { } conflict) return conflict;
        return TypedResults.Ok(View(policy, options.Value));
    }
}
