using System.Diagnostics;
using System.Net;
using KnowPay.Domain;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// The Alipay and WeChat Pay simulators' API faults (issue 4: "5xx, timeout") against KnowPay over real HTTP, on a server
/// of its own (global faults; a 1 s per-attempt timeout for both providers so that a 2.5 s stall is past it).
/// </summary>
[Collection("server")]
public sealed class ChinaProviderFaultTests
{
    static readonly Dictionary<string, string?> Settings = new()
    {
        ["Providers:Alipay:TimeoutMs"] = "1000",
        ["Providers:WeChatPay:TimeoutMs"] = "1000",
    };

    [SkippableFact]
    public async Task PaymentCreationAnswered5xx_Is502ProviderError_WritesNoPayment_AndTheOrderCanBePaidOnceTheFaultClears()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Sqlite, Settings);
        Assert.NotNull(server);
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        foreach (var provider in new[] { "alipay", "wechatpay" })
        {
            var order = await m.OrderAsync(productId, customer: "learner-" + provider);
            var orderId = (string)order["id"]!;
            faults.Set(null, new FaultSettings(ApiError5xx: true));   // the trade key (our payment id) does not exist yet: global

            var refused = await m.PostAsync($"/v1/orders/{orderId}/payments", new { provider, method = "qr" });
            var body = await refused.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
            Assert.Equal("provider_error", (string?)Json.Parse(body)["code"]);
            Assert.Equal(0, await server.QueryAsync(d => d.Payments.CountAsync(p => p.OrderId == orderId)));
            Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);

            faults.Clear();
            var payment = await m.PaymentAsync(orderId, provider, "qr");
            var paid = await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{payment["id"]}/pay", null);
            Assert.True(paid.IsSuccessStatusCode, await paid.Content.ReadAsStringAsync());
            await m.WaitForOrderAsync(orderId, "paid");
            Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.OrderId == orderId)));
        }
        Assert.Equal(2, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "payment.failed")));
    }

    [SkippableFact]
    public async Task StalledQuery_PastTheClientTimeout_LeavesThePaymentPending_ThenThePollerConfirmsItOnceTheFaultClears()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Sqlite, Settings);
        Assert.NotNull(server);
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        foreach (var provider in new[] { "alipay", "wechatpay" })
        {
            var order = await m.OrderAsync(productId, customer: "learner-" + provider);
            var orderId = (string)order["id"]!;
            var paymentId = (string)(await m.PaymentAsync(orderId, provider, "qr"))["id"]!;
            // The buyer pays but the notification is lost, and every API answer about the trade comes 2.5 s late.
            faults.Set(paymentId, new FaultSettings(DropNotifications: true, ApiStallMs: 2500));
            var paid = await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{paymentId}/pay", null);
            Assert.True(paid.IsSuccessStatusCode, await paid.Content.ReadAsStringAsync());

            var clock = Stopwatch.StartNew();
            Assert.Equal(0, await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2)));
            Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"the query should have waited out the 1 s timeout; took {clock.Elapsed}");
            var stalled = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
            Assert.Equal(PaymentStatus.Pending, stalled.Status);
            Assert.Null(stalled.FailureCode);
            Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
            Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceId == paymentId)));
            Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.ObjectId == paymentId && e.Type == "payment.failed")));

            faults.Set(paymentId, new FaultSettings());
            Assert.Equal(1, await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2)));
            Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
            var confirmed = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
            Assert.Equal((PaymentStatus.Succeeded, "query"), (confirmed.Status, confirmed.ConfirmedBy));
            Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceType == "payment_confirmed" && j.SourceId == paymentId)));
        }
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "payment.failed")));
    }
}
