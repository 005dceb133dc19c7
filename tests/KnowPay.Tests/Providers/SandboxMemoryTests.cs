using KnowPay.Sandbox;
using KnowPay.Sandbox.SandboxPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>The embedded SandboxPay keeps its memory bounded on a long-running node.</summary>
[Collection("server")]
public sealed class SandboxMemoryTests(Servers servers)
{
    [Fact]
    public async Task BeyondMaxTrades_TheOldestFinishedTradesAreForgotten_OpenOnesAreKept()
    {
        if (await servers.Get(Db.Sqlite) is not { } server) return;
        var options = server.Services.GetRequiredService<SandboxOptions>();
        var simulator = server.Services.GetRequiredService<SandboxPaySimulator>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var before = options.MaxTrades;
        try
        {
            // The first trade is paid (finished), the second stays open; then MaxTrades 0 puts every trade over the limit,
            // so the next creation must forget every finished one and keep every open one.
            var paid = (string)(await m.PaymentAsync((string)(await m.OrderAsync(productId, customer: "a"))["id"]!))["id"]!;
            await m.BuyerPaysAsync(paid);
            var open = (string)(await m.PaymentAsync((string)(await m.OrderAsync(productId, customer: "b"))["id"]!))["id"]!;
            options.MaxTrades = 0;
            var newest = (string)(await m.PaymentAsync((string)(await m.OrderAsync(productId, customer: "c"))["id"]!))["id"]!;

            Assert.Null(simulator.Inspect(paid));
            Assert.Equal("WAIT_PAY", simulator.Inspect(open)!.Value.Status);
            Assert.Equal("WAIT_PAY", simulator.Inspect(newest)!.Value.Status);
        }
        finally
        {
            options.MaxTrades = before;
        }
    }

    [Fact]
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
