using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>A trial gives the learner access until trial_end; the first paid invoice extends the same entitlement, and a
/// trial never paid loses it through the ordinary dunning.</summary>
[Collection("server")]
public sealed class TrialAccessTests(Servers servers)
{
    static readonly DateTime T0 = new(2028, 5, 10, 10, 0, 0, DateTimeKind.Utc);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Trial_GrantsAccessUntilTrialEnd_PaidExtendsIt_NeverPaidRevokesItAfterDunning(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var clockId = await ClockAsync(m, T0);
        var price = await PriceAsync(m, 3000);
        var (paying, _) = await SubscribeAsync(m, clockId, price, T0, trialDays: 14);
        var (declining, mandateId) = await SubscribeAsync(m, clockId, price, T0, trialDays: 14);
        await DeclineNextAsync(server, mandateId, 50);
        var trialEnd = T0.AddDays(14);

        var sub = await m.GetOkAsync($"/v1/subscriptions/{paying}");
        Assert.Equal("trialing", (string?)sub["status"]);
        var granted = await EntitlementOfAsync(server, paying);
        Assert.Equal(trialEnd, granted.ExpiresAt);
        Assert.Equal(paying, granted.OrderId);
        Assert.True((bool)(await m.GetOkAsync($"/v1/customers/{sub["customer_id"]}/entitlements/{sub["product_id"]}"))["active"]!);
        Assert.Equal(2, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "entitlement.granted")));

        await AdvanceAsync(m, clockId, trialEnd);
        Assert.Equal("active", await StatusAsync(m, paying));
        var extended = await EntitlementOfAsync(server, paying);
        Assert.Equal(granted.Id, extended.Id);
        Assert.Equal(new DateTime(2028, 6, 24, 10, 0, 0, DateTimeKind.Utc), extended.ExpiresAt);
        Assert.Equal("past_due", await StatusAsync(m, declining));
        Assert.Equal(trialEnd.AddDays(1), (await EntitlementOfAsync(server, declining)).ExpiresAt);

        await AdvanceAsync(m, clockId, trialEnd.AddDays(10));
        Assert.Equal("unpaid", await StatusAsync(m, declining));
        var revoked = await EntitlementOfAsync(server, declining);
        Assert.Equal(trialEnd.AddDays(10), revoked.RevokedAt);   // the last retry on day 7, then Billing:GraceDays = 3
        Assert.Null((await EntitlementOfAsync(server, paying)).RevokedAt);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Trial_FirstPaidInvoiceRefundedInFull_RevokesAccess(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var clockId = await ClockAsync(m, T0);
        var (id, _) = await SubscribeAsync(m, clockId, await PriceAsync(m, 3000), T0, trialDays: 14);
        await AdvanceAsync(m, clockId, T0.AddDays(14));
        var sub = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal("active", (string?)sub["status"]);
        var invoice = Assert.Single((await m.GetOkAsync($"/v1/invoices?subscription={id}"))["data"]!.AsArray())!;
        Assert.Equal("paid", (string?)invoice["status"]);
        var orderId = await server.QueryAsync(d => d.Invoices.Where(i => i.Id == (string)invoice["id"]!).Select(i => i.OrderId).SingleAsync());
        Assert.Equal(orderId, (await EntitlementOfAsync(server, id)).OrderId);
        var paymentId = await server.QueryAsync(d => d.Payments.Where(p => p.OrderId == orderId && p.Status == KnowPay.Domain.PaymentStatus.Succeeded)
            .Select(p => p.Id).SingleAsync());

        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { reason = "requested_by_customer" });

        Assert.Equal(("succeeded", 3000L), ((string?)refund["status"], (long)refund["amount"]!));
        Assert.False((bool)(await m.GetOkAsync($"/v1/customers/{sub["customer_id"]}/entitlements/{sub["product_id"]}"))["active"]!);
        Assert.Equal("refunded", (await EntitlementOfAsync(server, id)).RevokedReason);
    }

    static async Task<KnowPay.Data.Entitlement> EntitlementOfAsync(KnowPayServer server, string subscriptionId)
    {
        var id = await server.QueryAsync(d => d.Subscriptions.Where(s => s.Id == subscriptionId).Select(s => s.EntitlementId).SingleAsync());
        Assert.NotNull(id);
        return await server.QueryAsync(d => d.Entitlements.SingleAsync(e => e.Id == id));
    }
}
