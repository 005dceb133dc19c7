using System.Text.Json.Nodes;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Alipay;
using KnowPay.Sandbox.PayPal;
using KnowPay.Sandbox.SandboxPay;
using KnowPay.Sandbox.Stripe;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>The embedded simulators keep their memory bounded on a long-running node.</summary>
[Collection("server")]
public sealed class SandboxMemoryTests(Servers servers)
{
    [SkippableTheory]
    [InlineData("sandbox", "qr")]
    [InlineData("alipay", "qr")]
    [InlineData("wechatpay", "qr")]
    [InlineData("stripe", "card")]
    [InlineData("paypal", "page")]
    public async Task BeyondMaxTrades_EverySimulatorForgetsItsOldestFinishedTrades_AndKeepsTheOpenOnes(string provider, string method)
    {
        var server = await servers.Get(Db.Sqlite);
        var options = server.Services.GetRequiredService<SandboxOptions>();
        var m = await server.NewMerchantAsync();
        var currency = provider is "stripe" or "paypal" ? "USD" : "CNY";
        var (_, productId) = await m.CourseAsync(7000, (1999, currency));
        async Task<(string OrderId, JsonObject Payment)> Start(string customer)
        {
            var orderId = (string)(await m.OrderAsync(productId, currency, customer))["id"]!;
            return (orderId, await m.PaymentAsync(orderId, provider, method));
        }
        var before = options.MaxTrades;
        try
        {
            // The first trade is paid (finished), the second stays open; then MaxTrades 0 puts every trade over the limit,
            // so the next creation must forget every finished one and keep every open one.
            var (paidOrder, paid) = await Start("a");
            await BuyerPaysAsync(server, provider, paid);
            await m.WaitForOrderAsync(paidOrder, "paid");
            var (_, open) = await Start("b");
            options.MaxTrades = 0;
            var (_, newest) = await Start("c");

            Assert.False(Holds(server, provider, (string)paid["id"]!));
            Assert.True(Holds(server, provider, (string)open["id"]!));
            Assert.True(Holds(server, provider, (string)newest["id"]!));
        }
        finally
        {
            options.MaxTrades = before;
        }
    }

    /// <summary>The simulated buyer pays the way each provider's buyer does.</summary>
    static async Task BuyerPaysAsync(KnowPayServer server, string provider, JsonObject payment)
    {
        var id = (string)payment["id"]!;
        var response = provider switch
        {
            "sandbox" => await server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/trades/{id}/pay", null),
            "stripe" => await StripeTests.ConfirmRawAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds),
            "paypal" => await server.Anonymous.PostAsync($"/sandbox/paypal/checkoutnow/{payment["provider_trade_no"]}/approve", null),
            _ => await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{id}/pay", null),
        };
        Assert.True(response.IsSuccessStatusCode, $"{provider} buyer → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Whether the provider's simulator still holds the trade of this KnowPay payment.</summary>
    static bool Holds(KnowPayServer server, string provider, string paymentId) => provider switch
    {
        "sandbox" => server.Services.GetRequiredService<SandboxPaySimulator>().Inspect(paymentId) is not null,
        "alipay" => server.Services.GetRequiredService<AlipaySimulator>().Inspect(paymentId) is not null,
        "wechatpay" => server.Services.GetRequiredService<WeChatPaySimulator>().Inspect(paymentId) is not null,
        "stripe" => server.Services.GetRequiredService<StripeSimulator>().FindIntents("payment_id", paymentId).Count > 0,
        "paypal" => server.Services.GetRequiredService<PayPalSimulator>().FindOrders(paymentId).Count > 0,
        _ => throw new ArgumentOutOfRangeException(nameof(provider)),
    };

    [SkippableFact]
    public void TheRequestLog_KeepsTheMostRecentCalls_UpToItsCapacity()
    {
        var log = new SandboxRequestLog();
        for (var i = 0; i < SandboxRequestLog.Capacity + 5; i++)
        {
            var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            http.Request.Method = "POST";
            http.Request.Path = $"/sandboxpay/v1/trades/{i}/pay";
            log.Record(http.Request);
        }
        var kept = log.Snapshot();
        Assert.Equal(SandboxRequestLog.Capacity, kept.Count);
        Assert.Equal("POST /sandboxpay/v1/trades/5/pay", kept[0]);
        Assert.Equal($"POST /sandboxpay/v1/trades/{SandboxRequestLog.Capacity + 4}/pay", kept[^1]);
    }
}
