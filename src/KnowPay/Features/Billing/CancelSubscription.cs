using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

public sealed record CancelSubscriptionRequest(bool? AtPeriodEnd);

/// <summary>
/// POST /v1/subscriptions/{id}/cancel {at_period_end}: at the period's end (no further invoice; access lasts the paid period),
/// or now (canceled, the open invoice void, access kept to the end of the paid period). A canceled subscription cannot change: 409.
/// </summary>
public static class CancelSubscription
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/subscriptions/{id}/cancel", Handle).RequireScope("billing:write");

    static async Task<Results<Ok<SubscriptionView>, ProblemHttpResult>> Handle(string id, CancelSubscriptionRequest body, AuthenticatedMerchant merchant,
        IServiceProvider services, CancellationToken ct)
    {
        var s = BillingServices.From(services);
        var db = s.Db;
        if (!await db.Subscriptions.AnyAsync(x => x.Id == id && x.MerchantId == merchant.Id, ct)) return Problems.NotFound("subscription", id);
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var sub = await Renewals.LockAsync(db, id, ct, tracked: true);
            if (!SubscriptionTransitions.AcceptsChanges(sub.Status)) return Ended(sub.Id, sub.Status);
            var now = await TestClocks.NowAsync(db, sub.TestClockId, s.RealNow, ct);
            if (body.AtPeriodEnd == true)
            {
                sub.CancelAtPeriodEnd = true;
                sub.CanceledAt = now;
                Events.Outbox.Add(db, sub.MerchantId, EventTypes.SubscriptionUpdated, sub.Id, SubscriptionView.From(sub), now);
            }
            else
            {
                sub.CanceledAt = sub.EndedAt = now;
                sub.NextActionAt = null;
                await Dunning.VoidLatestAsync(db, sub, now, ct);
                Dunning.Apply(db, sub, SubscriptionTransitions.Cancel(sub.Status), now);
            }
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();
        }
        return TypedResults.Ok(await GetSubscriptions.ExpandedAsync(s, id, ct));
    }

    public static ProblemHttpResult Ended(string id, SubscriptionStatus status) =>
        Problems.Conflict("subscription_ended", $"Subscription '{id}' is {SubscriptionView.Snake(status)}; it can no longer be changed.");
}
