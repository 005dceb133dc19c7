using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Sandbox.PayPal;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// PayPal's PAYMENT.CAPTURE.DENIED over real HTTP: the payment ends failed (once), the order stays payable, and nothing
/// reaches the ledger. Through the sandbox's declineCapture buyer, and as a lone signed webhook.
/// </summary>
[Collection("server")]
public sealed class PayPalCaptureDeniedTests(Servers servers)
{
    [SkippableFact]
    public async Task BuyerWhoseCaptureIsDeclined_PaymentFailsOnce_OrderStaysPayable_NothingBooked_ThenPaysAgain()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var orderId = (string)order["id"]!;
        var payment = await m.PaymentAsync(orderId, "paypal", "page");
        var paymentId = (string)payment["id"]!;

        // The buyer approves; KnowPay captures on CHECKOUT.ORDER.APPROVED; PayPal declines the capture and sends PAYMENT.CAPTURE.DENIED.
        await ApproveAsync(server, (string)payment["provider_trade_no"]!, declineCapture: true);
        var failed = await WaitForPaymentAsync(m, paymentId, "failed");
        var code = (string?)failed["failure_code"];
        Assert.True(code is "capture_declined" or "capture_denied", code);   // whichever of the two paths came first
        var atPayPal = Assert.Single(PayPal(server).FindOrders(paymentId));
        Assert.Equal("DECLINED", (string?)atPayPal["purchase_units"]![0]!["payments"]!["captures"]![0]!["status"]);
        await Task.Delay(1000);   // both the capture answer and the DENIED webhook have been handled

        Assert.Equal("failed", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.LedgerEntries.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.ObjectId == paymentId && e.Type == "payment.failed")));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
        // The poller leaves a failed payment alone.
        await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2));
        Assert.Equal("failed", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);

        // The order is still payable: another PayPal payment goes through, and only it is booked.
        var again = await m.PaymentAsync(orderId, "paypal", "page");
        await ApproveAsync(server, (string)again["provider_trade_no"]!);
        await m.WaitForOrderAsync(orderId, "paid");
        var journal = Assert.Single(await server.QueryAsync(d => d.Journals.Where(j => j.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Equal("payment_confirmed", journal.SourceType);
        Assert.Equal((string)again["id"]!, journal.SourceId);
        Assert.Equal("failed", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
    }

    [SkippableFact]
    public async Task CaptureDeniedWebhook_FailsThePendingPaymentOnce_ForgedOrLateOnesChangeNothing()
    {
        var server = await servers.Get(Db.Sqlite);
        var sim = PayPal(server);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var orderId = (string)order["id"]!;
        var payment = await m.PaymentAsync(orderId, "paypal", "page");
        var paymentId = (string)payment["id"]!;
        var paypalOrder = (string)payment["provider_trade_no"]!;

        // Forged (wrong amount, unsigned): refused, the payment stays pending.
        var forged = Denied(paymentId, paypalOrder, "0.01");
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, forged, sim.SignatureHeaders(forged))).StatusCode);
        var genuine = Denied(paymentId, paypalOrder, "19.99");
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, genuine, [])).StatusCode);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);

        // The genuine event, delivered twice: failed once.
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(server, genuine, sim.SignatureHeaders(genuine))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(server, genuine, sim.SignatureHeaders(genuine))).StatusCode);
        var failed = await m.GetOkAsync($"/v1/payments/{paymentId}");
        Assert.Equal("failed", (string?)failed["status"]);
        Assert.Equal("capture_denied", (string?)failed["failure_code"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.ObjectId == paymentId && e.Type == "payment.failed")));
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));

        // Paid with a new payment; a DENIED arriving for that succeeded payment afterwards changes nothing.
        var again = await m.PaymentAsync(orderId, "paypal", "page");
        var againId = (string)again["id"]!;
        await ApproveAsync(server, (string)again["provider_trade_no"]!);
        await m.WaitForOrderAsync(orderId, "paid");
        var late = Denied(againId, (string)again["provider_trade_no"]!, "19.99");
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(server, late, sim.SignatureHeaders(late))).StatusCode);
        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/payments/{againId}"))["status"]);
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.ObjectId == againId && e.Type == "payment.failed")));
    }

    static PayPalSimulator PayPal(KnowPayServer server) => server.Services.GetRequiredService<PayPalSimulator>();

    static async Task ApproveAsync(KnowPayServer server, string paypalOrderId, bool declineCapture = false)
    {
        var response = await server.Anonymous.PostAsync(
            $"/sandbox/paypal/checkoutnow/{paypalOrderId}/approve" + (declineCapture ? "?declineCapture=true" : ""), null);
        Assert.True(response.IsSuccessStatusCode, $"approve → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    static async Task<JsonObject> WaitForPaymentAsync(MerchantClient m, string paymentId, string status, int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        JsonObject payment;
        do
        {
            payment = await m.GetOkAsync($"/v1/payments/{paymentId}");
            if ((string?)payment["status"] == status) return payment;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"payment {paymentId} is {(string?)payment["status"]}, not {status}, after {timeoutMs} ms");
        return payment;
    }

    /// <summary>A PAYMENT.CAPTURE.DENIED event as PayPal sends it: the capture resource, custom_id = our payment id.</summary>
    static string Denied(string paymentId, string paypalOrderId, string value) => new JsonObject
    {
        ["id"] = "WH-TEST" + Guid.NewGuid().ToString("N")[..10], ["event_version"] = "1.0", ["resource_type"] = "capture",
        ["resource_version"] = "2.0", ["event_type"] = "PAYMENT.CAPTURE.DENIED", ["summary"] = "A payment capture was denied",
        ["resource"] = new JsonObject
        {
            ["id"] = "CAPTURE" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant(), ["status"] = "DECLINED",
            ["amount"] = new JsonObject { ["currency_code"] = "USD", ["value"] = value }, ["final_capture"] = true,
            ["custom_id"] = paymentId, ["supplementary_data"] = new JsonObject { ["related_ids"] = new JsonObject { ["order_id"] = paypalOrderId } },
        },
    }.ToJsonString();

    static Task<HttpResponseMessage> PostAsync(KnowPayServer server, string body, IEnumerable<KeyValuePair<string, string>> headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/paypal") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var (k, v) in headers) request.Headers.TryAddWithoutValidation(k, v);
        return server.Anonymous.SendAsync(request);
    }
}
