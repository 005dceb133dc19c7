using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Sandbox.Alipay;
using KnowPay.Sandbox.PayPal;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// The sandbox's success_rate fault (POST /sandbox/faults) on Alipay, WeChat Pay and PayPal over real HTTP: at a rate of 0.6,
/// of N buyers' payments exactly ⌊N · 0.4⌋ end failed in KnowPay and the rest succeed, each decline in the provider's own
/// shape (Alipay: the trade closes unpaid; WeChat Pay: PAYERROR, never notified, read by the poller's query; PayPal: the
/// capture is DECLINED). Only the succeeded ones are booked. On a server of its own: the fault is global.
/// </summary>
[Collection("server")]
public sealed class ProviderSuccessRateFaultTests(Servers servers)
{
    const int Payments = 10;
    const int Declined = 4;   // ⌊10 · (1 − 0.6)⌋

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AtSuccessRate60_ExactlyFourOfTenPaymentsFail_OnEachProvider_InItsOwnShape(Db db)
    {
        _ = servers;
        await using var server = await KnowPayServer.StartAsync(db);

        var alipay = await PayAllAsync(server, "alipay", "CNY");
        var sim = server.Services.GetRequiredService<AlipaySimulator>();
        await AssertOutcomeAsync(server, alipay, "closed", id => sim.Inspect(id)!.Value.Status, "TRADE_CLOSED", "TRADE_SUCCESS");

        var wechat = await PayAllAsync(server, "wechatpay", "CNY");
        var wx = server.Services.GetRequiredService<WeChatPaySimulator>();
        await AssertOutcomeAsync(server, wechat, "payerror", id => wx.Inspect(id)!.Value.State, "PAYERROR", "SUCCESS");

        var paypal = await PayAllAsync(server, "paypal", "USD");
        var pp = server.Services.GetRequiredService<PayPalSimulator>();
        await AssertOutcomeAsync(server, paypal, "capture_declined|capture_denied",
            id => (string)Assert.Single(pp.FindOrders(id))["purchase_units"]![0]!["payments"]!["captures"]![0]!["status"]!, "DECLINED", "COMPLETED");
    }

    sealed record Run(MerchantClient Merchant, List<(string OrderId, string PaymentId)> Payments);

    /// <summary>A merchant of its own, the fault set afresh (its count restarts), N orders each paid once by its buyer; returns once none is pending.</summary>
    static async Task<Run> PayAllAsync(KnowPayServer server, string provider, string currency)
    {
        var m = await server.NewMerchantAsync();
        var (_, productId) = currency == "CNY" ? await m.CourseAsync() : await m.CourseAsync(7000, (1999, currency));
        var set = await server.Anonymous.PostAsJsonAsync("/sandbox/faults", new { success_rate = 0.6 });
        Assert.True(set.IsSuccessStatusCode, $"POST /sandbox/faults → {(int)set.StatusCode}");
        var run = new Run(m, []);
        for (var i = 0; i < Payments; i++)
        {
            var orderId = (string)(await m.OrderAsync(productId, currency, $"learner-{provider}-{i}"))["id"]!;
            var payment = await m.PaymentAsync(orderId, provider, provider == "paypal" ? "page" : "qr");
            var paymentId = (string)payment["id"]!;
            var paid = provider == "paypal"
                ? await server.Anonymous.PostAsync($"/sandbox/paypal/checkoutnow/{payment["provider_trade_no"]}/approve", null)
                : await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{paymentId}/pay", null);
            Assert.True(paid.IsSuccessStatusCode, $"{provider} buyer → {(int)paid.StatusCode}: {await paid.Content.ReadAsStringAsync()}");
            run.Payments.Add((orderId, paymentId));
        }
        await server.Anonymous.DeleteAsync("/sandbox/faults");

        // A decline that is not notified (WeChat Pay) or notified as a status KnowPay does not act on (Alipay's TRADE_CLOSED)
        // is learned by the poller's query, as in production once the payment has heard nothing for a while. PayPal's
        // capture answer (and its webhook) settles every payment without it.
        var until = DateTime.UtcNow.AddSeconds(20);
        for (var round = 1; ; round++)
        {
            if (provider != "paypal") await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2 * round));
            var pending = 0;
            foreach (var (_, paymentId) in run.Payments)
                if ((string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"] == "pending") pending++;
            if (pending == 0) return run;
            Assert.True(DateTime.UtcNow < until, $"{provider}: {pending} payments still pending after 20 s");
            await Task.Delay(100);
        }
    }

    /// <summary>Exactly <see cref="Declined"/> failed, the rest succeeded; each agrees with the provider's trade; only the succeeded are booked.</summary>
    static async Task AssertOutcomeAsync(KnowPayServer server, Run run, string failureCodes, Func<string, string> atProvider, string declinedThere, string paidThere)
    {
        var failed = new List<string>();
        var succeeded = new List<string>();
        foreach (var (orderId, paymentId) in run.Payments)
        {
            var payment = await run.Merchant.GetOkAsync($"/v1/payments/{paymentId}");
            var order = await run.Merchant.GetOkAsync($"/v1/orders/{orderId}");
            switch ((string?)payment["status"])
            {
                case "failed":
                    failed.Add(paymentId);
                    Assert.Contains((string?)payment["failure_code"] ?? "(none)", failureCodes.Split('|'));
                    Assert.Equal(declinedThere, atProvider(paymentId));
                    Assert.Equal("pending", (string?)order["status"]);
                    break;
                case "succeeded":
                    succeeded.Add(paymentId);
                    Assert.Equal(paidThere, atProvider(paymentId));
                    Assert.Equal("paid", (string?)order["status"]);
                    break;
                default:
                    Assert.Fail($"payment {paymentId} is {(string?)payment["status"]}");
                    break;
            }
        }
        Assert.Equal(Declined, failed.Count);
        Assert.Equal(Payments - Declined, succeeded.Count);
        var booked = await server.QueryAsync(d => d.Journals.Where(j => j.MerchantId == run.Merchant.MerchantId && j.SourceType == "payment_confirmed")
            .Select(j => j.SourceId).ToListAsync());
        Assert.Equal(succeeded.Order(), booked.Order());
        Assert.Equal(Declined, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == run.Merchant.MerchantId && e.Type == "payment.failed")));
    }
}
