using System.Net;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Api;

/// <summary>POST /v1/orders with <c>payment</c>: the order and its payment in one call (the benchmark's hot path).</summary>
[Collection("server")]
public sealed class OrderWithPaymentTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OrderWithPayment_ReturnsTheNextAction_AndIsPaidByTheNotification_WithOneJournal(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));

        var order = await m.PostOkAsync("/v1/orders", new
        {
            customer_external_id = "learner-1", product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr" },
        }, idempotencyKey: "order-with-payment-1");
        Assert.Equal("pending", (string?)order["status"]);
        var payment = order["payment"]!;
        Assert.Equal((string?)order["id"], (string?)payment["order_id"]);
        Assert.Equal(9900, (long)payment["amount"]!);
        Assert.Equal("qr_code", (string?)payment["next_action"]!["type"]);

        var replay = await m.PostOkAsync("/v1/orders", new
        {
            customer_external_id = "learner-1", product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr" },
        }, idempotencyKey: "order-with-payment-1");
        Assert.Equal((string?)order["id"], (string?)replay["id"]);

        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/payments/{payment["id"]}"))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId).SumAsync(e => e.Amount)));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OrderWithUnknownProvider_Is400_AndWritesNeitherOrderNorPayment(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();

        var response = await m.PostAsync("/v1/orders", new
        {
            customer_external_id = "learner-1", product_id = productId, currency = "CNY", payment = new { provider = "nope", method = "qr" },
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("provider_unsupported", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));
    }
}
