using System.Net;
using System.Text;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KnowPay.Tests.Api;

/// <summary>The confirmation's rarer branches, on both databases (PostgreSQL takes the one-statement path).</summary>
[Collection("server")]
public sealed class ConfirmationEdgeTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task TwoPaymentsOfOneOrder_BothPaid_OrderPaidOnce_BothBooked_OneEntitlement_DuplicateFlagged(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var orderId = (string)(await m.OrderAsync(productId))["id"]!;
        var first = (string)(await m.PaymentAsync(orderId))["id"]!;
        var second = (string)(await m.PaymentAsync(orderId))["id"]!;
        // Both started on this node: their confirmations start from the remembered rows, and the second one's (order
        // remembered as pending, paid meanwhile) must start over from the database.
        var awaited = server.Services.GetRequiredService<AwaitedPayments>();
        Assert.True(awaited.Remembers(first) && awaited.Remembers(second));

        await m.BuyerPaysAsync(first);
        await m.WaitForOrderAsync(orderId, "paid");
        await m.BuyerPaysAsync(second);
        for (var i = 0; i < 200 && (string?)(await m.GetOkAsync($"/v1/payments/{second}"))["status"] != "succeeded"; i++) await Task.Delay(50);

        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/payments/{second}"))["status"]);
        Assert.False(awaited.Remembers(first) || awaited.Remembers(second));
        Assert.Equal(2, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId).SumAsync(e => e.Amount)));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
        var events = await server.QueryAsync(d => d.Events.Where(e => e.MerchantId == m.MerchantId).Select(e => e.Type).ToListAsync());
        Assert.Equal(["entitlement.granted", "order.paid", "payment.duplicate"], events.Order());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SuccessAfterTheOrderExpired_IsHonouredAndFlagged_WithJournalAndEntitlement(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var orderId = (string)(await m.OrderAsync(productId))["id"]!;
        var payment = await m.PaymentAsync(orderId);
        await server.RunJobAsync("order_expiry", DateTime.UtcNow.AddMinutes(31));
        Assert.Equal("expired", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);

        // Remembered as started, with its order still pending: the confirmation must notice the expiry and start over.
        var awaited = server.Services.GetRequiredService<AwaitedPayments>();
        Assert.True(awaited.Remembers((string)payment["id"]!));
        // The provider had taken the money before it closed the trade: its (late) notification still arrives.
        using var late = await SandboxPayNotifyAsync(server, "trade.paid", (string)payment["id"]!, (string)payment["provider_trade_no"]!, "PAID");
        Assert.Equal(HttpStatusCode.OK, late.StatusCode);
        Assert.False(awaited.Remembers((string)payment["id"]!));

        var order = await m.GetOkAsync($"/v1/orders/{orderId}");
        Assert.Equal("paid", (string?)order["status"]);
        Assert.True((bool)order["paid_after_expiry"]!);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "payment_confirmed")));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
    }

    /// <summary>Payments are found by id and the provider checked on the row: one provider's signature never moves another's payment.</summary>
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SandboxPayNotification_NamingAnAlipayPayment_IsRefused_AndChangesNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var orderId = (string)(await m.OrderAsync(productId))["id"]!;
        var payment = await m.PaymentAsync(orderId, provider: "alipay");
        var paymentId = (string)payment["id"]!;
        server.Services.GetRequiredService<AwaitedPayments>().TryTake(paymentId, "alipay", out _, out _);   // read from the database, as another node would

        foreach (var (type, status) in new[] { ("trade.paid", "PAID"), ("trade.failed", "FAILED") })
        {
            using var response = await SandboxPayNotifyAsync(server, type, paymentId, "sbx_forged", status);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("unknown_trade", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
    }

    /// <summary>
    /// Reports of one payment arriving together on one node: the first is applied, the others with the same trade take its
    /// outcome, and one naming another trade is still checked against the payment and refused, whichever comes first.
    /// </summary>
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ConcurrentReportsOfOnePayment_ConfirmOnce_AndAnotherTradeIsRefused(Db db)
    {
        var server = await servers.Get(db);
        var (m, _, paymentId, tradeNo) = await StartedPaymentAsync(server);

        var reports = Enumerable.Range(0, 8).Select(i => i % 4 == 3 ? "sbx_forged" : tradeNo).ToArray();
        var responses = await Task.WhenAll(reports.Select(async trade =>
        {
            using var response = await SandboxPayNotifyAsync(server, "trade.paid", paymentId, trade, "PAID");
            return (trade, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        foreach (var (trade, status, body) in responses)
            if (trade == tradeNo) Assert.Equal(HttpStatusCode.OK, status);
            else Assert.True(status == HttpStatusCode.BadRequest && body.Contains("amount_mismatch"), $"{status} {body}");
        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
    }

    /// <summary>
    /// A notification that comes while this node's renewal engine awaits the answer to its charge of the same payment waits for
    /// the engine's confirmation and takes its outcome (no confirmation of its own); when the charge is not answered Paid, it
    /// is applied from the database itself. Either way the payment is confirmed once.
    /// </summary>
    [SkippableTheory]
    [InlineData(Db.Sqlite, true)]
    [InlineData(Db.Sqlite, false)]
    [InlineData(Db.Postgres, true)]
    [InlineData(Db.Postgres, false)]
    public async Task NotificationDuringACharge_WaitsForTheChargesConfirmation_OrAppliesItselfWithoutOne(Db db, bool answeredPaid)
    {
        var server = await servers.Get(db);
        var (m, orderId, paymentId, tradeNo) = await StartedPaymentAsync(server);
        var awaited = server.Services.GetRequiredService<AwaitedPayments>();
        Assert.True(awaited.TryStartCharging(paymentId, out var charging));

        var notification = SandboxPayNotifyAsync(server, "trade.paid", paymentId, tradeNo, "PAID");
        await Task.Delay(500);
        Assert.False(notification.IsCompleted);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);

        if (answeredPaid)
        {
            await using var scope = server.Services.CreateAsyncScope();
            var context = scope.ServiceProvider.GetRequiredService<KnowPay.Data.KnowPayDb>();
            var (held, order) = await server.QueryAsync(async d => (await d.Payments.SingleAsync(p => p.Id == paymentId), await d.Orders.SingleAsync(o => o.Id == orderId)));
            var fact = new PaidFact("sandbox", paymentId, tradeNo, new ReportedAmount(9900, "CNY"), DateTime.UtcNow, "answer");
            var provider = scope.ServiceProvider.GetRequiredService<KnowPay.Providers.PaymentProviders>()["sandbox"];
            var outcomes = await ConfirmPayment.ApplyHeldAsync(context, [ConfirmPayment.Hold(fact, held, order, provider, awaited, charging)!],
                TimeProvider.System, NullLogger.Instance, awaited, CancellationToken.None);
            Assert.Equal([ConfirmOutcome.Confirmed], outcomes);
        }
        else awaited.EndConfirming(charging, null);

        using var response = await notification;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        var confirmedBy = await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.ConfirmedBy).SingleAsync());
        Assert.Equal(answeredPaid ? "answer" : "notification", confirmedBy);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
    }

    /// <summary>A new merchant's order of a 99.00 CNY course with a SandboxPay payment started on it.</summary>
    static async Task<(MerchantClient M, string OrderId, string PaymentId, string TradeNo)> StartedPaymentAsync(KnowPayServer server)
    {
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var orderId = (string)(await m.OrderAsync(productId))["id"]!;
        var payment = await m.PaymentAsync(orderId);
        return (m, orderId, (string)payment["id"]!, (string)payment["provider_trade_no"]!);
    }

    /// <summary>A SandboxPay notification of <paramref name="type"/> for 99.00 CNY on <paramref name="paymentId"/>, signed with the sandbox's secret.</summary>
    static async Task<HttpResponseMessage> SandboxPayNotifyAsync(KnowPayServer server, string type, string paymentId, string tradeNo, string status)
    {
        var body = System.Text.Json.JsonSerializer.Serialize(new
        {
            id = "ntf_" + type + "_" + paymentId, type,
            data = new { trade_no = tradeNo, out_trade_no = paymentId, status, amount = 9900, currency = "CNY", paid_at = DateTimeOffset.UtcNow.ToUnixTimeSeconds() },
        });
        return await server.PostSandboxPayAsync("/v1/notify/sandbox", body);
    }
}
