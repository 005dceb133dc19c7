using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

[Collection("server")]
public sealed class StripeTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PaidOrder_InUsdEurAndZeroDecimalJpy_ThroughStripe_PostsTheExactJournal(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (1999, "USD"), (1500, "EUR"), (500, "JPY"));
        foreach (var (amount, currency, card) in new[] { (1999L, "USD", StripeSimulator.CardSucceeds), (1500L, "EUR", StripeSimulator.CardRequiresAction), (500L, "JPY", StripeSimulator.CardSucceeds) })
        {
            var order = await m.OrderAsync(productId, currency);
            var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
            var paymentId = (string)payment["id"]!;
            Assert.Equal("client_secret", (string?)payment["next_action"]!["type"]);
            var clientSecret = (string)payment["next_action"]!["client_secret"]!;
            var intent = Assert.Single(Stripe(server).FindIntents("payment_id", paymentId));
            Assert.Equal(amount, (long)intent["amount"]!);   // 500 JPY is 500: zero-decimal
            Assert.Equal(currency.ToLowerInvariant(), (string?)intent["currency"]);
            Assert.Equal((string?)intent["id"], (string?)payment["provider_trade_no"]);

            var first = await ConfirmAsync(server, clientSecret, card);
            if (card == StripeSimulator.CardRequiresAction)
            {
                Assert.Equal("requires_action", (string?)first["status"]);
                await Task.Delay(200);
                Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
                Assert.Equal("succeeded", (string?)(await ConfirmAsync(server, clientSecret, card))["status"]);
            }
            else Assert.Equal("succeeded", (string?)first["status"]);
            await m.WaitForOrderAsync((string)order["id"]!, "paid");

            var split = RevenueSplit.For(amount, 7000, ProviderFee.None);
            Assert.Equal(new Dictionary<string, long>
            {
                [$"provider:stripe:clearing:{currency}"] = amount,
                [$"creator:{creatorId}:pending:{currency}"] = -split.Creator,
                [$"platform:revenue:{currency}"] = -split.Platform,
            }, await JournalAsync(server, m, paymentId));
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Refunds_PartialThenFull_ThroughTheAdapter_MatchTheSandbox_AndAReplayRefundsOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var (paymentId, intentId) = await PaidAsync(server, m, productId, "USD");
        var payment = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));

        await using var scope = server.Services.CreateAsyncScope();
        var stripe = scope.ServiceProvider.GetRequiredService<PaymentProviders>()["stripe"];
        var partial = await stripe.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_1", 500, "requested_by_customer"), default);
        Assert.Equal(RefundStatus.Succeeded, partial.Status);
        var replay = await stripe.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_1", 500, "requested_by_customer"), default);
        Assert.Equal(partial.ProviderRefundId, replay.ProviderRefundId);
        var full = await stripe.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_2", 1499, "a learner asked"), default);
        Assert.Equal(RefundStatus.Succeeded, full.Status);
        var over = await Assert.ThrowsAsync<ProviderException>(() => stripe.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_3", 1, null), default));
        Assert.Equal("charge_already_refunded", over.Code);

        var atSandbox = Stripe(server).RefundsOf(intentId);
        Assert.Equal([500L, 1499L], atSandbox.Select(r => (long)r["amount"]!).ToArray());
        Assert.Equal(["re_" + paymentId + "_1", "re_" + paymentId + "_2"], atSandbox.Select(r => (string)r["metadata"]!["refund_id"]!).ToArray());
        Assert.Equal(1999, (long)Stripe(server).FindIntents("payment_id", paymentId)[0]["amount_received"]!);
        var queried = await stripe.QueryRefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_2", 1499, null), default);
        Assert.Equal((RefundStatus.Succeeded, full.ProviderRefundId), (queried.Status, queried.ProviderRefundId));
        Assert.Equal(RefundStatus.Failed, (await stripe.QueryRefundAsync(new ProviderRefund(payment, "re_unknown", 1, null), default)).Status);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task DeclinedCard_FailsTheStripePayment_AndTheOrderIsThenPaidThroughAnotherProvider(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var orderId = (string)order["id"]!;
        var payment = await m.PaymentAsync(orderId, "stripe", "card");
        var declined = await ConfirmRawAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardDeclines);
        Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
        Assert.Contains("card_declined", await declined.Content.ReadAsStringAsync());

        await WaitForPaymentAsync(m, (string)payment["id"]!, "failed");
        var failed = await m.GetOkAsync($"/v1/payments/{payment["id"]}");
        Assert.Equal("card_declined", (string?)failed["failure_code"]);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);

        var other = await m.PaymentAsync(orderId, "sandbox", "qr");
        await m.BuyerPaysAsync((string)other["id"]!);
        await m.WaitForOrderAsync(orderId, "paid");
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ForgedWebhooks_BadSignatureStaleFutureWrongAmountCurrencyOrObject_AreRefusedAndChangeNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        var paymentId = (string)payment["id"]!;
        var intentId = (string)payment["provider_trade_no"]!;
        var secret = server.Services.GetRequiredService<SandboxOptions>().StripeWebhookSecret;
        var now = DateTimeOffset.UtcNow;

        var good = Succeeded(intentId, paymentId, 1999, "usd");
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, HmacSignature.Sign("whsec_other", good, now))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, HmacSignature.Sign(secret, good, now).Replace("v1=", "v1=0"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, HmacSignature.Sign(secret, good, now.AddSeconds(-301)))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, HmacSignature.Sign(secret, good, now.AddSeconds(360)))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good + " ", HmacSignature.Sign(secret, good, now))).StatusCode);
        foreach (var forged in new[] { Succeeded(intentId, paymentId, 1, "usd"), Succeeded(intentId, paymentId, 1999, "eur"), Succeeded("pi_other", paymentId, 1999, "usd") })
            Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, forged, HmacSignature.Sign(secret, forged, now))).StatusCode);
        var unknown = Succeeded(intentId, "pay_doesnotexist", 1999, "usd");
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(server, unknown, HmacSignature.Sign(secret, unknown, now))).StatusCode);

        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));

        // Unknown event types are acknowledged; a genuine event (a stale v1 beside a current one) is accepted.
        var other = """{"id":"evt_x","object":"event","type":"customer.created","data":{"object":{"id":"cus_1","object":"customer"}}}""";
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(server, other, HmacSignature.Sign(secret, other, now))).StatusCode);
        var twoSignatures = HmacSignature.Sign(secret, good, now) + ",v1=" + new string('0', 64);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(server, good, twoSignatures)).StatusCode);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Storm_DuplicatesReorderingAndDrops_EveryOrderIsPaidExactlyOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"), (500, "JPY"));
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var payments = new List<(string OrderId, string PaymentId, string Secret)>();
        for (var i = 0; i < 8; i++)
        {
            var order = await m.OrderAsync(productId, i % 2 == 0 ? "USD" : "JPY", customer: "storm-" + i);
            var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
            payments.Add(((string)order["id"]!, (string)payment["id"]!, (string)payment["next_action"]!["client_secret"]!));
        }
        await Task.WhenAll(payments.Select(async (p, i) =>
        {
            switch (i % 4)
            {
                case 0: faults.Set(p.PaymentId, new FaultSettings(DropNotifications: true)); break;
                case 1: faults.Set(p.PaymentId, new FaultSettings(DuplicateNotifications: 3)); break;
                case 2: faults.Set(p.PaymentId, new FaultSettings(DuplicateNotifications: 2, DuplicateSpacingMs: 150, NotificationDelayMs: 100)); break;
                case 3:
                    // Reordered: the decline's event arrives after the later success's.
                    faults.Set(p.PaymentId, new FaultSettings(NotificationDelayMs: 600));
                    await ConfirmRawAsync(server, p.Secret, StripeSimulator.CardDeclines);
                    faults.Set(p.PaymentId, new FaultSettings(DuplicateNotifications: 1));
                    break;
            }
            Assert.Equal("succeeded", (string?)(await ConfirmAsync(server, p.Secret, StripeSimulator.CardSucceeds))["status"]);
        }));
        await Task.Delay(1500);
        await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2));

        foreach (var p in payments)
        {
            Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{p.OrderId}"))["status"]);
            Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/payments/{p.PaymentId}"))["status"]);
        }
        Assert.Equal(8, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "payment_confirmed")));
        Assert.Equal(8, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal(8, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "payment.failed")));
        Assert.Equal(["notification", "notification", "notification", "notification", "notification", "notification", "query", "query"],
            (await server.QueryAsync(d => d.Payments.Where(p => p.MerchantId == m.MerchantId).Select(p => p.ConfirmedBy!).ToListAsync())).Order());
        foreach (var p in payments) faults.Set(p.PaymentId, new FaultSettings());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CreateTimesOutAfterStripeActed_IsRetriedWithTheSameIdempotencyKey_AndMakesOneIntent(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db, new Dictionary<string, string?> { ["Providers:Stripe:TimeoutMs"] = "1000" });
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        faults.Set(null, new FaultSettings(ApiStallMs: 1500));   // commits, then answers after the 1 s client timeout

        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        faults.Clear();
        var paymentId = (string)payment["id"]!;
        var intent = Assert.Single(Stripe(server).FindIntents("payment_id", paymentId));
        Assert.Equal((string?)intent["id"], (string?)payment["provider_trade_no"]);
        Assert.Single(Stripe(server).FindIntents("order_id", (string)order["id"]!));

        await ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    [SkippableFact]
    public async Task Sandbox_RefusesAWrongKey_ReplaysAnIdempotencyKey_AndRefusesItWithOtherParameters()
    {
        var server = await servers.Get(Db.Sqlite);
        var key = server.Services.GetRequiredService<SandboxOptions>().StripeSecretKey;
        var idem = "test-" + Guid.NewGuid().ToString("N");
        Task<HttpResponseMessage> Create(string apiKey, string amount)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/sandbox/stripe/v1/payment_intents")
            {
                Content = new FormUrlEncodedContent([new("amount", amount), new("currency", "usd"), new("metadata[payment_id]", idem)]),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            request.Headers.Add("Idempotency-Key", idem);
            return server.Anonymous.SendAsync(request);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await Create("sk_test_wrong", "100")).StatusCode);
        var first = await Create(key, "100");
        var again = await Create(key, "100");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("true", again.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal((string?)Json.Parse(await first.Content.ReadAsStringAsync())["id"], (string?)Json.Parse(await again.Content.ReadAsStringAsync())["id"]);
        var other = await Create(key, "200");
        Assert.Equal(HttpStatusCode.BadRequest, other.StatusCode);
        Assert.Equal("idempotency_error", (string?)Json.Parse(await other.Content.ReadAsStringAsync())["error"]!["type"]);
        Assert.Single(Stripe(server).FindIntents("payment_id", idem));
    }

    static StripeSimulator Stripe(KnowPayServer server) => server.Services.GetRequiredService<StripeSimulator>();

    static async Task<(string PaymentId, string IntentId)> PaidAsync(KnowPayServer server, MerchantClient m, string productId, string currency)
    {
        var order = await m.OrderAsync(productId, currency);
        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        await ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return ((string)payment["id"]!, (string)payment["provider_trade_no"]!);
    }

    /// <summary>The simulated buyer confirms the PaymentIntent with a test card, as Stripe.js would.</summary>
    public static async Task<JsonObject> ConfirmAsync(KnowPayServer server, string clientSecret, string card)
    {
        var response = await ConfirmRawAsync(server, clientSecret, card);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"confirm → {(int)response.StatusCode}: {text}");
        return Json.Parse(text);
    }

    public static Task<HttpResponseMessage> ConfirmRawAsync(KnowPayServer server, string clientSecret, string card)
    {
        var intentId = clientSecret[..clientSecret.IndexOf("_secret_", StringComparison.Ordinal)];
        return server.Anonymous.PostAsync($"/sandbox/stripe/v1/payment_intents/{intentId}/confirm", new FormUrlEncodedContent(
            [new("client_secret", clientSecret), new("payment_method_data[card][number]", card)]));
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

    static Task<Dictionary<string, long>> JournalAsync(KnowPayServer server, MerchantClient m, string paymentId) =>
        server.QueryAsync(async d => (await d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId)
            .Join(d.Journals.Where(j => j.SourceType == "payment_confirmed" && j.SourceId == paymentId), e => e.JournalId, j => j.Id, (e, _) => e)
            .ToListAsync()).ToDictionary(e => e.Account, e => e.Amount));

    static string Succeeded(string intentId, string paymentId, long amount, string currency) => new JsonObject
    {
        ["id"] = "evt_" + Guid.NewGuid().ToString("N"), ["object"] = "event", ["type"] = "payment_intent.succeeded", ["api_version"] = "2024-06-20",
        ["data"] = new JsonObject
        {
            ["object"] = new JsonObject
            {
                ["id"] = intentId, ["object"] = "payment_intent", ["amount"] = amount, ["amount_received"] = amount, ["currency"] = currency,
                ["status"] = "succeeded", ["metadata"] = new JsonObject { ["payment_id"] = paymentId },
            },
        },
    }.ToJsonString();

    static Task<HttpResponseMessage> PostAsync(KnowPayServer server, string body, string? signature)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (signature is not null) request.Headers.Add("Stripe-Signature", signature);
        return server.Anonymous.SendAsync(request);
    }
}
