using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Alipay;
using KnowPay.Sandbox.PayPal;
using KnowPay.Sandbox.SandboxPay;
using KnowPay.Sandbox.Stripe;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// Refunds through the public API for every provider, each completed by a different path: the provider's answer,
/// its refund notification (through the registered IRefundUpdates), and the refund poller. Then the ledger invariants.
/// </summary>
[Collection("server")]
public sealed class ProviderRefundTests(Servers servers)
{
    public static TheoryData<string, Db> Cases()
    {
        var data = new TheoryData<string, Db>();
        foreach (var db in new[] { Db.Sqlite, Db.Postgres })
            foreach (var provider in new[] { "sandbox", "alipay", "wechatpay", "stripe", "paypal" })
                data.Add(provider, db);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public async Task TwoPartialRefundsThenTheRest_ThroughTheApi_ReverseTheLedger_RevokeAccess_AndMatchTheProvider(string provider, Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var currency = provider is "stripe" or "paypal" ? "USD" : "CNY";
        var (creatorId, productId) = await m.CourseAsync(7000, (10000, currency));
        var order = await m.OrderAsync(productId, currency);
        var orderId = (string)order["id"]!;
        var payment = await PayAsync(server, m, orderId, provider);
        var paymentId = (string)payment["id"]!;
        var faults = server.Services.GetRequiredService<SandboxFaults>();

        // 1: completed by the provider's answer (WeChat Pay answers PROCESSING: its REFUND.SUCCESS notification completes it).
        var first = await RefundAsync(m, paymentId, 2000);
        await WaitForRefundAsync(m, first, "succeeded");
        // (The sandboxes notify as they answer, so the notification may win the race; either completes it once.)
        Assert.Contains(await CompletedByAsync(server, first), provider == "wechatpay" ? ["notification"] : new[] { "answer", "notification" });

        // 2: the provider acts but answers "in progress" (Alipay: a system error): its refund notification completes it.
        faults.Set(paymentId, new FaultSettings(RefundAnswerPending: true));
        var second = await RefundAsync(m, paymentId, 3000);
        await WaitForRefundAsync(m, second, "succeeded");
        Assert.Equal("notification", await CompletedByAsync(server, second));
        Assert.True((bool)(await m.GetOkAsync($"/v1/customers/learner-1/entitlements/{productId}"))["active"]!, "a partial refund keeps access");

        // More than remains: refused before any provider call.
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var before = log.Snapshot().Count;
        var over = await m.PostAsync($"/v1/payments/{paymentId}/refunds", new { amount = 5001 });
        Assert.Equal(HttpStatusCode.Conflict, over.StatusCode);
        Assert.Equal("refund_exceeds_captured", (string?)Json.Parse(await over.Content.ReadAsStringAsync())["code"]);
        Assert.DoesNotContain(log.Snapshot().Skip(before), r => r.Contains($"/sandbox/{SandboxName(provider)}/", StringComparison.Ordinal));

        // 3: the rest; the answer says "in progress" and the notification is lost: the refund poller completes it.
        faults.Set(paymentId, new FaultSettings(RefundAnswerPending: true, DropNotifications: true));
        var rest = (JsonObject)(await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { reason = "requested_by_customer" }));
        var third = (string)rest["id"]!;
        Assert.Equal(5000, (long)rest["amount"]!);
        Assert.Equal("pending", (string?)rest["status"]);
        var until = DateTime.UtcNow.AddSeconds(10);
        for (var run = 1; (string?)(await m.GetOkAsync($"/v1/refunds/{third}"))["status"] != "succeeded"; run++)
        {
            Assert.True(DateTime.UtcNow < until, $"refund {third} was not completed by the poller");
            await server.RunJobAsync("refund_poller", DateTime.UtcNow.AddMinutes(5 * run));   // each run is due again
            await Task.Delay(100);
        }
        Assert.Equal("query", await CompletedByAsync(server, third));
        faults.Set(paymentId, new FaultSettings());

        var view = await m.GetOkAsync($"/v1/payments/{paymentId}");
        Assert.Equal(10000, (long)view["refunded_amount"]!);
        var list = (JsonArray)(await m.GetOkAsync($"/v1/payments/{paymentId}/refunds"))["data"]!;
        Assert.Equal(["succeeded", "succeeded", "succeeded"], list.Select(r => (string)r!["status"]!).ToArray());
        Assert.False((bool)(await m.GetOkAsync($"/v1/customers/learner-1/entitlements/{productId}"))["active"]!, "a full refund revokes access");
        Assert.Equal("refunded", await server.QueryAsync(d => d.Entitlements.Where(e => e.OrderId == orderId).Select(e => e.RevokedReason).SingleAsync()));

        // The reversing journals: clearing back, the creator's pending share and the platform's revenue.
        var refundedBefore = 0L;
        foreach (var (refundId, amount) in new[] { (first, 2000L), (second, 3000L), (third, 5000L) })
        {
            var creatorPart = RefundSplit.CreatorPart(refundedBefore, amount, 7000);
            Assert.Equal(new Dictionary<string, long>
            {
                [$"provider:{provider}:clearing:{currency}"] = -amount,
                [$"creator:{creatorId}:pending:{currency}"] = creatorPart,
                [$"platform:revenue:{currency}"] = amount - creatorPart,
            }, await JournalAsync(server, m, "refund", refundId));
            refundedBefore += amount;
        }
        var clearing = await server.QueryAsync(d => d.LedgerEntries
            .Where(e => e.MerchantId == m.MerchantId && e.Account == $"provider:{provider}:clearing:{currency}").SumAsync(e => e.Amount));
        Assert.Equal(0, clearing);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "entitlement.revoked")));
        Assert.Equal(3, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "refund.succeeded")));

        AssertProviderState(server, provider, paymentId, (string?)payment["provider_trade_no"]);
        await AssertInvariantsPassAsync(m);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task LateStripeSuccess_AfterTheOrderWasPaidThroughSandbox_IsFlaggedAndRefundedAutomatically_Once(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var orderId = (string)order["id"]!;
        var stripePayment = await m.PaymentAsync(orderId, "stripe", "card");
        var stripeId = (string)stripePayment["id"]!;
        var clientSecret = (string)stripePayment["next_action"]!["client_secret"]!;
        var declined = await StripeTests.ConfirmRawAsync(server, clientSecret, StripeSimulator.CardDeclines);
        Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
        await WaitForPaymentAsync(m, stripeId, "failed");

        var sandboxPayment = await m.PaymentAsync(orderId, "sandbox", "qr");
        await m.BuyerPaysAsync((string)sandboxPayment["id"]!);
        await m.WaitForOrderAsync(orderId, "paid");

        // The buyer retries the card on the still-open PaymentIntent: Stripe charges it and tells KnowPay, late.
        await StripeTests.ConfirmAsync(server, clientSecret, StripeSimulator.CardSucceeds);
        await WaitForPaymentAsync(m, stripeId, "succeeded");
        var flagged = await m.GetOkAsync($"/v1/payments/{stripeId}");
        Assert.True((bool)flagged["duplicate"]!);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "payment.duplicate")));

        // Two nodes run the job at once: one refund, in full.
        var now = DateTime.UtcNow;
        // (The server is shared: other tests' duplicates may be refunded by the same runs, so count this merchant's.)
        await Task.WhenAll(server.RunJobAsync("duplicate_payment_refunds", now), server.RunJobAsync("duplicate_payment_refunds", now));
        await server.RunJobAsync("duplicate_payment_refunds", now.AddMinutes(1));
        Assert.Equal(1, await server.QueryAsync(d => d.Refunds.CountAsync(r => r.MerchantId == m.MerchantId)));
        var refund = Assert.Single((JsonArray)(await m.GetOkAsync($"/v1/payments/{stripeId}/refunds"))["data"]!)!;
        Assert.Equal((1999L, "duplicate_payment", "succeeded"), ((long)refund["amount"]!, (string?)refund["reason"], (string?)refund["status"]));
        Assert.Equal([1999L], StripeSim(server).RefundsOf((string)stripePayment["provider_trade_no"]!).Select(r => (long)r["amount"]!).ToArray());
        Assert.Empty((JsonArray)(await m.GetOkAsync($"/v1/payments/{sandboxPayment["id"]}/refunds"))["data"]!);

        // Paid once, access once and kept, the ledger nets to the one payment.
        var paidOrder = await m.GetOkAsync($"/v1/orders/{orderId}");
        Assert.Equal("paid", (string?)paidOrder["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.OrderId == orderId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "entitlement.revoked")));
        Assert.True((bool)(await m.GetOkAsync($"/v1/customers/learner-1/entitlements/{productId}"))["active"]!);
        var clearing = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.Contains(":clearing:"))
            .GroupBy(e => e.Account).Select(g => new { g.Key, Sum = g.Sum(e => e.Amount) }).ToDictionaryAsync(x => x.Key, x => x.Sum));
        Assert.Equal(new Dictionary<string, long> { ["provider:sandbox:clearing:USD"] = 1999, ["provider:stripe:clearing:USD"] = 0 }, clearing);
        var revenue = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && !e.Account.Contains(":clearing:")).SumAsync(e => e.Amount));
        Assert.Equal(-1999, revenue);   // creator + platform (+ fee) hold exactly one payment
        await AssertInvariantsPassAsync(m);
    }

    static async Task<JsonObject> PayAsync(KnowPayServer server, MerchantClient m, string orderId, string provider)
    {
        var method = provider switch { "stripe" => "card", "paypal" => "page", _ => "qr" };
        var payment = await m.PaymentAsync(orderId, provider, method);
        var paymentId = (string)payment["id"]!;
        switch (provider)
        {
            case "sandbox": await m.BuyerPaysAsync(paymentId); break;
            case "alipay" or "wechatpay":
                var r = await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{paymentId}/pay", null);
                Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
                break;
            case "stripe": await StripeTests.ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds); break;
            case "paypal":
                var a = await server.Anonymous.PostAsync($"/sandbox/paypal/checkoutnow/{payment["provider_trade_no"]}/approve", null);
                Assert.True(a.IsSuccessStatusCode, await a.Content.ReadAsStringAsync());
                break;
        }
        await m.WaitForOrderAsync(orderId, "paid");
        return await m.GetOkAsync($"/v1/payments/{paymentId}");
    }

    static async Task<string> RefundAsync(MerchantClient m, string paymentId, long amount) =>
        (string)(await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount, reason = "requested_by_customer" }))["id"]!;

    static async Task WaitForRefundAsync(MerchantClient m, string refundId, string status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((string?)(await m.GetOkAsync($"/v1/refunds/{refundId}"))["status"] != status)
        {
            Assert.True(DateTime.UtcNow < until, $"refund {refundId} did not become {status}");
            await Task.Delay(50);
        }
    }

    static async Task WaitForPaymentAsync(MerchantClient m, string paymentId, string status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"] != status)
        {
            Assert.True(DateTime.UtcNow < until, $"payment {paymentId} did not become {status}");
            await Task.Delay(50);
        }
    }

    static Task<string?> CompletedByAsync(KnowPayServer server, string refundId) =>
        server.QueryAsync(d => d.Refunds.Where(r => r.Id == refundId).Select(r => r.CompletedBy).SingleAsync());

    static Task<Dictionary<string, long>> JournalAsync(KnowPayServer server, MerchantClient m, string sourceType, string sourceId) =>
        server.QueryAsync(async d => (await d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId)
            .Join(d.Journals.Where(j => j.SourceType == sourceType && j.SourceId == sourceId), e => e.JournalId, j => j.Id, (e, _) => e)
            .ToListAsync()).ToDictionary(e => e.Account, e => e.Amount));

    static async Task AssertInvariantsPassAsync(MerchantClient m)
    {
        var response = await m.Http.PostAsync("/v1/ledger/invariants/check", null);
        var report = Json.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(response.IsSuccessStatusCode && (bool)report["passed"]!, report.ToJsonString());
    }

    static string SandboxName(string provider) => provider == "sandbox" ? "sandboxpay" : provider;

    static StripeSimulator StripeSim(KnowPayServer server) => server.Services.GetRequiredService<StripeSimulator>();

    /// <summary>The provider's own books agree: three refunds, 10000 refunded, the trade fully refunded.</summary>
    static void AssertProviderState(KnowPayServer server, string provider, string paymentId, string? tradeNo)
    {
        var s = server.Services;
        switch (provider)
        {
            case "sandbox":
                var sp = s.GetRequiredService<SandboxPaySimulator>().Inspect(paymentId)!.Value;
                Assert.Equal(("REFUNDED", 10000L, 10000L), (sp.Status, sp.Amount, sp.Refunded));
                Assert.Equal([2000L, 3000L, 5000L], sp.Refunds);
                break;
            case "alipay":
                var ali = s.GetRequiredService<AlipaySimulator>().Inspect(paymentId)!.Value;
                Assert.Equal(("TRADE_CLOSED", 10000L, 10000L, 3), ali);
                break;
            case "wechatpay":
                var wx = s.GetRequiredService<WeChatPaySimulator>().Inspect(paymentId)!.Value;
                Assert.Equal(("REFUND", 10000L, 10000L), wx);
                break;
            case "stripe":
                var refunds = s.GetRequiredService<StripeSimulator>().RefundsOf(tradeNo!);
                Assert.Equal([2000L, 3000L, 5000L], refunds.Select(r => (long)r["amount"]!).ToArray());
                Assert.All(refunds, r => Assert.Equal("succeeded", (string?)r["status"]));
                break;
            case "paypal":
                var unit = Assert.Single(s.GetRequiredService<PayPalSimulator>().FindOrders(paymentId))["purchase_units"]![0]!;
                Assert.Equal("REFUNDED", (string?)unit["payments"]!["captures"]![0]!["status"]);
                Assert.Equal(["20.00", "30.00", "50.00"], ((JsonArray)unit["payments"]!["refunds"]!).Select(r => (string)r!["amount"]!["value"]!).ToArray());
                break;
        }
    }
}
