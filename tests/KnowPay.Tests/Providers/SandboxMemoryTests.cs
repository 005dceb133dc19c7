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
            // Room for exactly the trades below: the first is paid (finished), the second stays open.
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
        Assert.True(server.Services.GetRequiredService<SandboxRequestLog>().Snapshot().Count <= SandboxRequestLog.Capacity);
    }
}
