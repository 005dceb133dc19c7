using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>POST /v1/subscriptions/{id}/resume: takes back a cancellation at the period's end; it renews again. An ended subscription: 409.</summary>
public static class ResumeSubscription
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/subscriptions/{id}/resume", Handle).RequireScope("billing:write");

    static async Task<Results<Ok<SubscriptionView>, ProblemHttpResult>> Handle(string id, AuthenticatedMerchant merchant, IServiceProvider services, CancellationToken ct)
    {
        var s = BillingServices.From(services);
        var db = s.Db;
        if (!await db.Subscriptions.AnyAsync(x => x.Id == id && x.MerchantId == merchant.Id, ct)) return Problems.NotFound("subscription", id);
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var sub = await Renewals.LockAsync(db, id, ct, tracked: true);
            if (!SubscriptionTransitions.AcceptsChanges(sub.Status)) return CancelSubscription.Ended(sub.Id, sub.Status);
            if (!sub.CancelAtPeriodEnd)
                return Problems.Conflict("subscription_not_canceling", $"Subscription '{id}' is not set to cancel at the period's end.");
            var now = await TestClocks.NowAsync(db, sub.TestClockId, s.RealNow, ct);
            sub.CancelAtPeriodEnd = false;
            sub.CanceledAt = null;
            // While it was to end, the engine waited for the period's end: a renewal its provider charges earlier (Alipay's
            // window) is due from that time again.
            if (sub.Status == SubscriptionStatus.Active && sub.NextActionAt == sub.CurrentPeriodEnd)
                sub.NextActionAt = Renewals.RenewalAt(sub, s.Recurring.Of(sub.Provider));
            Events.Outbox.Add(db, sub.MerchantId, EventTypes.SubscriptionUpdated, sub.Id, SubscriptionView.From(sub), now);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();
        }
        return TypedResults.Ok(await GetSubscriptions.ExpandedAsync(s, id, ct));
    }
}
