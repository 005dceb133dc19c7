using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary><c>Billing:AfterRetries = canceled</c>, on a server of its own: a renewal that is always declined ends canceled, and
/// access is revoked after the grace days.</summary>
public sealed class CancelAfterRetriesTests
{
    static readonly DateTime T0 = new(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RenewalDeclinedAlways_EndsCanceledAfterTheLastRetry_InvoiceUncollectible_AccessRevokedAfterTheGraceDays(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db, new Dictionary<string, string?> { ["Billing:AfterRetries"] = "canceled" });
        var m = await server.NewMerchantAsync();
        var clockId = await ClockAsync(m, T0);
        var (id, mandateId) = await SubscribeAsync(m, clockId, await PriceAsync(m, 3000), T0);
        Assert.Equal("active", await StatusAsync(m, id));
        await DeclineNextAsync(server, mandateId, 50);
        var renewal = new DateTime(2028, 2, 29, 10, 0, 0, DateTimeKind.Utc);

        await AdvanceAsync(m, clockId, renewal.AddDays(5));
        Assert.Equal("past_due", await StatusAsync(m, id));
        await AdvanceAsync(m, clockId, renewal.AddDays(7));
        var canceled = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal("canceled", (string?)canceled["status"]);
        Assert.Equal(renewal.AddDays(7), (DateTime)canceled["ended_at"]!);
        Assert.Equal("uncollectible", (string?)canceled["latest_invoice"]!["status"]);
        Assert.Equal(5, (int)canceled["latest_invoice"]!["attempt_count"]!);
        var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Null(entitlement.RevokedAt);
        Assert.Equal(renewal.AddDays(10), entitlement.ExpiresAt);   // Billing:GraceDays = 3

        await AdvanceAsync(m, clockId, renewal.AddDays(10));
        entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Equal(renewal.AddDays(10), entitlement.RevokedAt);
        Assert.Equal("subscription_canceled", entitlement.RevokedReason);
        var check = await m.GetOkAsync($"/v1/customers/{canceled["customer_id"]}/entitlements/{canceled["product_id"]}");
        Assert.False((bool)check["active"]!);
        var types = await server.QueryAsync(d => d.Events.Where(e => e.MerchantId == m.MerchantId).Select(e => e.Type).ToListAsync());
        Assert.Contains("customer.subscription.deleted", types);
        Assert.Contains("invoice.marked_uncollectible", types);
        Assert.Single(types, t => t == "entitlement.revoked");
        Assert.Equal(5, types.Count(t => t == "invoice.payment_failed"));   // the renewal and its four retries
        Assert.Equal(1, await server.QueryAsync(d => d.Subscriptions.CountAsync(s => s.MerchantId == m.MerchantId && s.Status == KnowPay.Domain.SubscriptionStatus.Canceled)));
    }
}
