using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Features.Orders;
using KnowPay.Features.Payments;
using KnowPay.Features.Refunds;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Risk;

public sealed record RiskReviewView(string Id, string Object, string Status, string Stage, string OrderId, string? PaymentId, string? RefundId,
    long? RefundAmount, int Score, string? RuleId, IReadOnlyList<string> Reasons, string DecisionId, DateTime CreatedAt, DateTime? DecidedAt, string? DecidedBy)
{
    public static RiskReviewView From(RiskReview r) => new(r.Id, "risk_review", r.Status.ToString().ToLowerInvariant(), r.Stage.ToString().ToLowerInvariant(),
        r.OrderId, r.PaymentId, r.RefundId, r.RefundAmount, r.Score, r.RuleId, JsonSerializer.Deserialize<string[]>(r.Reasons)!, r.DecisionId,
        r.CreatedAt, r.DecidedAt, r.DecidedBy);
}

/// <summary>
/// The review queue: GET /v1/reviews (open first by default: <c>status=open</c>), GET /v1/reviews/{id},
/// POST /v1/reviews/{id}/approve (the order takes payments again; a held refund is sent to the provider) and
/// POST /v1/reviews/{id}/reject (the order is closed, its pending payments closed at their providers; a held refund is
/// dropped). Only an open review is decided, once: the database's conditional update arbitrates between people and the
/// timeout job.
/// </summary>
public static class RiskReviews
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/reviews", List).RequireScope("risk:read");
        v1.MapGet("/reviews/{id}", Get).RequireScope("risk:read");
        v1.MapPost("/reviews/{id}/approve", Approve).RequireScope("risk:write");
        v1.MapPost("/reviews/{id}/reject", Reject).RequireScope("risk:write");
    }

    static async Task<Results<Ok<ListPage<RiskReviewView>>, ProblemHttpResult>> List(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct,
        int? limit, string? starting_after, string? status, string? order_id)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.RiskReviews.AsNoTracking().Where(r => r.MerchantId == merchant.Id);
        if (status is not null)
        {
            if (!ListFilters.TryStatus<RiskReviewStatus>(status, out var s)) return ListFilters.StatusProblem<RiskReviewStatus>();
            query = query.Where(r => r.Status == s);
        }
        if (!string.IsNullOrEmpty(order_id)) query = query.Where(r => r.OrderId == order_id);
        if (starting_after is not null) query = query.Where(r => string.Compare(r.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(r => r.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, RiskReviewView.From, r => r.Id));
    }

    static async Task<Results<Ok<RiskReviewView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var review = await db.RiskReviews.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id && r.MerchantId == merchant.Id, ct);
        return review is null ? Problems.NotFound("review", id) : TypedResults.Ok(RiskReviewView.From(review));
    }

    static Task<Results<Ok<RiskReviewView>, ProblemHttpResult>> Approve(string id, AuthenticatedMerchant merchant, KnowPayDb db,
        PaymentProviders providers, TimeProvider clock, ILogger<RiskReview> log, CancellationToken ct) =>
        DecideByApiAsync(id, merchant, db, review => ApproveAsync(db, providers, review, clock, "api", log, ct), ct);

    static Task<Results<Ok<RiskReviewView>, ProblemHttpResult>> Reject(string id, AuthenticatedMerchant merchant, KnowPayDb db,
        PaymentProviders providers, TimeProvider clock, ILogger<RiskReview> log, CancellationToken ct) =>
        DecideByApiAsync(id, merchant, db, review => RejectAsync(db, providers, review, clock.GetUtcNow().UtcDateTime, "api", log, ct), ct);

    /// <summary>The API's side of a decision: the merchant's review, else 404; one already decided, 409; else the decided review.</summary>
    static async Task<Results<Ok<RiskReviewView>, ProblemHttpResult>> DecideByApiAsync(string id, AuthenticatedMerchant merchant, KnowPayDb db,
        Func<RiskReview, Task<bool>> decide, CancellationToken ct)
    {
        var review = await db.RiskReviews.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id && r.MerchantId == merchant.Id, ct);
        if (review is null) return Problems.NotFound("review", id);
        if (!await decide(review))
            return Problems.Conflict("review_already_decided", $"Review '{id}' is already {review.Status.ToString().ToLowerInvariant()}.");
        return TypedResults.Ok(RiskReviewView.From(review));
    }

    /// <summary>Approves an open review: its order takes payments again; a held refund is sent to the provider now.</summary>
    public static async Task<bool> ApproveAsync(KnowPayDb db, PaymentProviders providers, RiskReview review, TimeProvider clock, string by, ILogger log, CancellationToken ct)
    {
        if (!await DecideAsync(db, review, RiskReviewTransitions.Approve(review.Status), clock.GetUtcNow().UtcDateTime, by, ct)) return false;
        if (review.Stage == RiskStage.Refund && review.PaymentId is { } paymentId)
        {
            // The held refund goes to the provider now, the same two-phase way as POST /v1/payments/{id}/refunds.
            var payment = await db.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId, CancellationToken.None);
            Refund? refund = null;
            if (payment.Status == PaymentTransitions.Refundable && providers.TryGet(payment.Provider, out var provider))
                refund = await CreateRefund.StartAsync(db, provider, payment, review.RefundAmount ?? 0, review.RefundReason, clock, log);
            if (refund is not null)
            {
                await db.RiskReviews.Where(r => r.Id == review.Id).ExecuteUpdateAsync(s => s.SetProperty(r => r.RefundId, refund.Id), CancellationToken.None);
                review.RefundId = refund.Id;
            }
        }
        return true;
    }

    /// <summary>Rejects an open review; for an order or payment review the order is closed and its pending payments closed at the provider.</summary>
    public static async Task<bool> RejectAsync(KnowPayDb db, PaymentProviders providers, RiskReview review, DateTime now, string by, ILogger log, CancellationToken ct)
    {
        if (!await DecideAsync(db, review, RiskReviewTransitions.Reject(review.Status), now, by, ct)) return false;
        if (review.Stage == RiskStage.Refund) return true;
        var pending = await db.Payments.AsNoTracking().Where(p => p.OrderId == review.OrderId && p.Status == PaymentStatus.Pending).ToListAsync(CancellationToken.None);
        foreach (var payment in pending)
        {
            if (!providers.TryGet(payment.Provider, out var provider)) continue;
            try
            {
                var state = await provider.CloseAsync(payment, CancellationToken.None);
                var cancel = PaymentTransitions.Cancel(payment.Status);
                if (state.Status != TradeStatus.Paid && cancel.Allowed)
                    await db.Payments.Where(p => p.Id == payment.Id && p.Status == cancel.From)
                        .ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, cancel.To).SetProperty(p => p.FailureCode, "risk_rejected"), CancellationToken.None);
            }
            catch (ProviderException e)
            {
                // A success that still arrives is honoured as a late payment (the order's late-payment rule), never lost.
                log.LogWarning(e, "Closing payment {PaymentId} of rejected review {ReviewId} failed", payment.Id, review.Id);
            }
        }
        var close = RiskReviewTransitions.CloseOrder(OrderStatus.Pending);
        await db.Orders.Where(o => o.Id == review.OrderId && o.Status == close.From)
            .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, close.To).SetProperty(o => o.ClosedAt, now), CancellationToken.None);
        return true;
    }

    static async Task<bool> DecideAsync(KnowPayDb db, RiskReview review, Transition<RiskReviewStatus> decide, DateTime now, string by, CancellationToken ct)
    {
        if (!decide.Allowed) return false;
        var changed = await db.RiskReviews.Where(r => r.Id == review.Id && r.Status == decide.From)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, decide.To).SetProperty(r => r.DecidedAt, now).SetProperty(r => r.DecidedBy, by), ct);
        if (changed == 0) return false;
        review.Status = decide.To;
        review.DecidedAt = now;
        review.DecidedBy = by;
        return true;
    }
}

/// <summary>Rejects reviews left open longer than <c>Risk:ReviewTimeoutHours</c>.</summary>
public sealed class RiskReviewTimeout(IServiceScopeFactory scopes, Microsoft.Extensions.Options.IOptions<RiskOptions> options, ILogger<RiskReviewTimeout> log) : IJob
{
    public string Name => "risk_review_timeout";
    public TimeSpan Every => TimeSpan.FromMinutes(1);

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var providers = scope.ServiceProvider.GetRequiredService<PaymentProviders>();
        var due = now.AddHours(-options.Value.ReviewTimeoutHours);
        var stale = await db.RiskReviews.AsNoTracking().Where(r => r.Status == RiskReviewStatus.Open && r.CreatedAt <= due)
            .OrderBy(r => r.CreatedAt).Take(200).ToListAsync(ct);
        var rejected = 0;
        foreach (var review in stale)
            if (await RiskReviews.RejectAsync(db, providers, review, now, "timeout", log, ct)) rejected++;
        return rejected;
    }
}
