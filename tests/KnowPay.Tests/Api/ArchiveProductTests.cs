using System.Net;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Api;

/// <summary>POST /v1/products/{id}/archive: no new orders (409 product_archived); orders made before it are still paid.</summary>
[Collection("server")]
public sealed class ArchiveProductTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ArchivedProduct_RefusesNewOrdersWith409_AndItsPendingOrdersAreStillPaid(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var withPayment = await m.OrderAsync(productId, customer: "learner-a");
        var payment = await m.PaymentAsync((string)withPayment["id"]!);
        var withoutPayment = await m.OrderAsync(productId, customer: "learner-b");

        var archived = await m.PostOkAsync($"/v1/products/{productId}/archive", new { }, "archive-1");
        Assert.Equal("archived", (string?)archived["status"]);
        Assert.Equal(9900, (long)archived["prices"]![0]!["amount"]!);
        var replay = await m.PostAsync($"/v1/products/{productId}/archive", new { }, "archive-1");
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal(archived.ToJsonString(), Json.Parse(await replay.Content.ReadAsStringAsync()).ToJsonString());
        Assert.Equal("archived", (string?)(await m.PostOkAsync($"/v1/products/{productId}/archive", new { }))["status"]);
        Assert.Equal("archived", (string?)(await m.GetOkAsync($"/v1/products/{productId}"))["status"]);

        var refused = await m.PostAsync("/v1/orders", new { customer_external_id = "learner-c", product_id = productId, currency = "CNY" });
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("product_archived", (string?)Json.Parse(await refused.Content.ReadAsStringAsync())["code"]);
        var refusedWithPayment = await m.PostAsync("/v1/orders",
            new { customer_external_id = "learner-c", product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr" } });
        Assert.Equal(HttpStatusCode.Conflict, refusedWithPayment.StatusCode);
        Assert.Equal("product_archived", (string?)Json.Parse(await refusedWithPayment.Content.ReadAsStringAsync())["code"]);

        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)withPayment["id"]!, "paid");
        var late = await m.PaymentAsync((string)withoutPayment["id"]!);
        await m.BuyerPaysAsync((string)late["id"]!);
        await m.WaitForOrderAsync((string)withoutPayment["id"]!, "paid");
        Assert.Equal(2, (await m.GetOkAsync("/v1/orders?status=paid"))["data"]!.AsArray().Count);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ArchivingAnotherMerchantsProduct_Is404_AndLeavesItSelling(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var (_, otherProduct) = await other.CourseAsync();

        var response = await m.PostAsync($"/v1/products/{otherProduct}/archive", new { });
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("product_not_found", (string?)Json.Parse(await response.Content.ReadAsStringAsync())["code"]);
        Assert.Equal("published", (string?)(await other.GetOkAsync($"/v1/products/{otherProduct}"))["status"]);
        Assert.Equal("pending", (string?)(await other.OrderAsync(otherProduct))["status"]);
    }
}
