using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Sandbox.PayPal;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

[Collection("server")]
public sealed class PayPalTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PaidOrder_InUsdAndZeroDecimalJpy_ApprovedAndCaptured_PostsTheExactJournal(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (1999, "USD"), (500, "JPY"));
        foreach (var (amount, currency, value) in new[] { (1999L, "USD", "19.99"), (500L, "JPY", "500") })
        {
            var order = await m.OrderAsync(productId, currency);
            var payment = await m.PaymentAsync((string)order["id"]!, "paypal", "page");
            var paymentId = (string)payment["id"]!;
            Assert.Equal("redirect", (string?)payment["next_action"]!["type"]);
            var orderId = (string)payment["provider_trade_no"]!;
            Assert.Equal($"{server.BaseUrl}/sandbox/paypal/checkoutnow?token={orderId}", (string?)payment["next_action"]!["redirect_url"]);
            var atPayPal = Assert.Single(PayPal(server).FindOrders(paymentId));
            Assert.Equal(value, (string?)atPayPal["purchase_units"]![0]!["amount"]!["value"]);
            Assert.Equal(currency, (string?)atPayPal["purchase_units"]![0]!["amount"]!["currency_code"]);

            await ApproveAsync(server, orderId);
            await m.WaitForOrderAsync((string)order["id"]!, "paid");
            var captured = Assert.Single(PayPal(server).FindOrders(paymentId));
            Assert.Equal("COMPLETED", (string?)captured["status"]);
            Assert.Equal("COMPLETED", (string?)captured["purchase_units"]![0]!["payments"]!["captures"]![0]!["status"]);

            var split = RevenueSplit.For(amount, 7000, ProviderFee.None);
            Assert.Equal(new Dictionary<string, long>
            {
                [$"provider:paypal:clearing:{currency}"] = amount,
                [$"creator:{creatorId}:pending:{currency}"] = -split.Creator,
                [$"platform:revenue:{currency}"] = -split.Platform,
            }, await server.QueryAsync(async d => (await d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId)
                .Join(d.Journals.Where(j => j.SourceType == "payment_confirmed" && j.SourceId == paymentId), e => e.JournalId, j => j.Id, (e, _) => e)
                .ToListAsync()).ToDictionary(e => e.Account, e => e.Amount)));
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
        var order = await m.OrderAsync(productId, "USD");
        var paymentJson = await m.PaymentAsync((string)order["id"]!, "paypal", "page");
        var paymentId = (string)paymentJson["id"]!;
        await ApproveAsync(server, (string)paymentJson["provider_trade_no"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        var payment = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));

        await using var scope = server.Services.CreateAsyncScope();
        var paypal = scope.ServiceProvider.GetRequiredService<PaymentProviders>()["paypal"];
        var partial = await paypal.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_1", 500, "partial"), default);
        Assert.Equal(RefundStatus.Succeeded, partial.Status);
        Assert.Equal(partial.ProviderRefundId, (await paypal.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_1", 500, "partial"), default)).ProviderRefundId);
        var capture = PayPal(server).FindOrders(paymentId)[0]["purchase_units"]![0]!["payments"]!["captures"]![0]!;
        Assert.Equal("PARTIALLY_REFUNDED", (string?)capture["status"]);
        var full = await paypal.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_2", 1499, null), default);
        Assert.Equal(RefundStatus.Succeeded, full.Status);
        var over = await Assert.ThrowsAsync<ProviderException>(() => paypal.RefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_3", 1, null), default));
        Assert.Equal("CAPTURE_FULLY_REFUNDED", over.Code);

        var atPayPal = PayPal(server).FindOrders(paymentId)[0]["purchase_units"]![0]!["payments"]!;
        Assert.Equal("REFUNDED", (string?)atPayPal["captures"]![0]!["status"]);
        Assert.Equal(["5.00", "14.99"], atPayPal["refunds"]!.AsArray().Select(r => (string)r!["amount"]!["value"]!).ToArray());
        var queried = await paypal.QueryRefundAsync(new ProviderRefund(payment, "re_" + paymentId + "_2", 1499, null), default);
        Assert.Equal((RefundStatus.Succeeded, full.ProviderRefundId), (queried.Status, queried.ProviderRefundId));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ForgedWebhooks_AlteredBodyWrongAmountCurrencyUnknownOrForeignCert_AreRefusedAndChangeNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var payment = await m.PaymentAsync((string)order["id"]!, "paypal", "page");
        var paymentId = (string)payment["id"]!;
        var orderId = (string)payment["provider_trade_no"]!;
        var sim = PayPal(server);

        var good = Completed(paymentId, orderId, "19.99", "USD");
        var signed = sim.SignatureHeaders(good).ToList();
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good.Replace("19.99", "19.98"), signed)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good + " ", signed)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, [])).StatusCode);
        var foreignCert = signed.Select(h => h.Key == "PAYPAL-CERT-URL" ? new KeyValuePair<string, string>(h.Key, "https://evil.example/cert.pem") : h).ToList();
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, foreignCert)).StatusCode);
        var otherId = signed.Select(h => h.Key == "PAYPAL-TRANSMISSION-ID" ? new KeyValuePair<string, string>(h.Key, Guid.NewGuid().ToString()) : h).ToList();
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, good, otherId)).StatusCode);
        foreach (var forged in new[] { Completed(paymentId, orderId, "0.01", "USD"), Completed(paymentId, orderId, "19.99", "EUR"), Completed(paymentId, "OTHERORDER", "19.99", "USD") })
            Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, forged, sim.SignatureHeaders(forged))).StatusCode);
        var unknown = Completed("pay_doesnotexist", orderId, "19.99", "USD");
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(server, unknown, sim.SignatureHeaders(unknown))).StatusCode);

        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(server, good, signed)).StatusCode);   // the genuine transmission
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Storm_DuplicatesReorderingAndDrops_EveryOrderIsPaidAndCapturedExactlyOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"), (500, "JPY"));
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var payments = new List<(string OrderId, string PaymentId, string PayPalOrderId)>();
        for (var i = 0; i < 8; i++)
        {
            var order = await m.OrderAsync(productId, i % 2 == 0 ? "USD" : "JPY", customer: "storm-" + i);
            var payment = await m.PaymentAsync((string)order["id"]!, "paypal", "page");
            payments.Add(((string)order["id"]!, (string)payment["id"]!, (string)payment["provider_trade_no"]!));
        }
        for (var i = 0; i < payments.Count; i++)
            faults.Set(payments[i].PaymentId, (i % 4) switch
            {
                0 => new FaultSettings(DropNotifications: true),          // the poller finds the approval and captures
                1 => new FaultSettings(DuplicateNotifications: 3),
                2 => new FaultSettings(DuplicateNotifications: 2, DuplicateSpacingMs: 150, NotificationDelayMs: 200),
                _ => new FaultSettings(NotificationDelayMs: 300, DuplicateNotifications: 1, DuplicateSpacingMs: 400),
            });
        await Task.WhenAll(payments.Select(p => ApproveAsync(server, p.PayPalOrderId)));
        await Task.Delay(2000);
        await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2));

        foreach (var p in payments)
        {
            Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{p.OrderId}"))["status"]);
            var atPayPal = Assert.Single(PayPal(server).FindOrders(p.PaymentId));
            Assert.Single(atPayPal["purchase_units"]![0]!["payments"]!["captures"]!.AsArray());
        }
        Assert.Equal(8, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "payment_confirmed")));
        Assert.Equal(8, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal(8, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
        Assert.Equal(2, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId && p.ConfirmedBy == "query")));
        foreach (var p in payments) faults.Set(p.PaymentId, new FaultSettings());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CreateAndCaptureTimeOutAfterPayPalActed_AreRetriedWithTheSameRequestId_AndActOnce(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db, new Dictionary<string, string?> { ["Providers:PayPal:TimeoutMs"] = "1000" });
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (500, "JPY"));
        var order = await m.OrderAsync(productId, "JPY");
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        faults.Set(null, new FaultSettings(ApiStallMs: 1500));   // every POST commits, then answers after the 1 s client timeout

        var payment = await m.PaymentAsync((string)order["id"]!, "paypal", "page");
        var paymentId = (string)payment["id"]!;
        var atPayPal = Assert.Single(PayPal(server).FindOrders(paymentId));
        Assert.Equal((string?)atPayPal["id"], (string?)payment["provider_trade_no"]);

        await ApproveAsync(server, (string)payment["provider_trade_no"]!);   // KnowPay's capture stalls too, and is retried
        await m.WaitForOrderAsync((string)order["id"]!, "paid", timeoutMs: 20_000);
        faults.Clear();
        Assert.Single(PayPal(server).FindOrders(paymentId)[0]["purchase_units"]![0]!["payments"]!["captures"]!.AsArray());
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    static PayPalSimulator PayPal(KnowPayServer server) => server.Services.GetRequiredService<PayPalSimulator>();

    /// <summary>The simulated buyer approves the order on PayPal (PayPal then sends CHECKOUT.ORDER.APPROVED).</summary>
    static async Task ApproveAsync(KnowPayServer server, string orderId)
    {
        var response = await server.Anonymous.PostAsync($"/sandbox/paypal/checkoutnow/{orderId}/approve", null);
        Assert.True(response.IsSuccessStatusCode, $"approve → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    static string Completed(string paymentId, string orderId, string value, string currency) => new JsonObject
    {
        ["id"] = "WH-TEST" + Guid.NewGuid().ToString("N")[..10], ["event_version"] = "1.0", ["resource_type"] = "capture",
        ["event_type"] = "PAYMENT.CAPTURE.COMPLETED",
        ["resource"] = new JsonObject
        {
            ["id"] = "CAPTURE123", ["status"] = "COMPLETED", ["amount"] = new JsonObject { ["currency_code"] = currency, ["value"] = value },
            ["custom_id"] = paymentId, ["supplementary_data"] = new JsonObject { ["related_ids"] = new JsonObject { ["order_id"] = orderId } },
        },
    }.ToJsonString();

    static Task<HttpResponseMessage> PostAsync(KnowPayServer server, string body, IEnumerable<KeyValuePair<string, string>> headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/paypal") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var (k, v) in headers) request.Headers.TryAddWithoutValidation(k, v);
        return server.Anonymous.SendAsync(request);
    }
}
