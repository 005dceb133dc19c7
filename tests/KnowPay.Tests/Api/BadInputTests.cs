using System.Net;
using System.Net.Http.Headers;
using System.Text;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Api;

/// <summary>Bad input is a 4xx problem+json with a stable code, never a 500, and writes nothing.</summary>
[Collection("server")]
public sealed class BadInputTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task BadInputs_AreRefusedWithACode_AndWriteNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync();
        var other = await server.NewMerchantAsync();
        var (_, otherProduct) = await other.CourseAsync();
        var otherOrder = await other.OrderAsync(otherProduct);
        var before = await Counts(server, m.MerchantId);

        await Expect(m.PostAsync("/v1/products", Product(creatorId, -5, "CNY")), 400, "amount_invalid");
        await Expect(m.PostAsync("/v1/products", Product(creatorId, 0, "CNY")), 400, "amount_invalid");
        await Expect(m.PostAsync("/v1/products", Product(creatorId, 99.5m, "CNY")), 400, "amount_invalid");
        await Expect(m.PostAsync("/v1/products", Product(creatorId, 500.5m, "JPY")), 400, "amount_invalid");
        await Expect(m.PostAsync("/v1/products", Product(creatorId, 100, "XYZ")), 400, "currency_unsupported");
        await Expect(m.PostAsync("/v1/orders", new { customer_external_id = "u1", product_id = productId, currency = "XYZ" }), 400, "currency_unsupported");
        await Expect(m.PostAsync("/v1/orders", new { customer_external_id = "u1", product_id = productId, currency = "USD" }), 400, "currency_unsupported");
        await Expect(m.PostAsync("/v1/orders", new { customer_external_id = "u1", product_id = "prod_nope", currency = "CNY" }), 404, "product_not_found");
        await Expect(m.PostAsync("/v1/orders", new { customer_external_id = "u1", product_id = otherProduct, currency = "CNY" }), 404, "product_not_found");
        await Expect(m.PostAsync("/v1/orders", new { product_id = productId, currency = "CNY" }), 400, "customer_invalid");
        await Expect(m.PostAsync($"/v1/orders/{otherOrder["id"]}/payments", new { provider = "sandbox" }), 404, "order_not_found");
        await Expect(m.Http.GetAsync($"/v1/orders/{otherOrder["id"]}"), 404, "order_not_found");
        await Expect(Raw(m.Http, "/v1/orders", "{\"product_id\": \"x\", "), 400, "body_invalid");
        await Expect(Raw(m.Http, "/v1/orders", "[1,2,3]"), 400, "body_invalid");
        await Expect(Raw(m.Http, "/v1/orders", "{\"customer_external_id\":\"u1\",\"product_id\":\"" + productId + "\",\"currency\":\"CNY\",\"description\":\"" + new string('x', 100_000) + "\"}"), 413, "body_too_large");

        var order = await m.OrderAsync(productId);
        var beforePayment = await Counts(server, m.MerchantId);
        await Expect(m.PostAsync($"/v1/orders/{order["id"]}/payments", new { provider = "nopay" }), 400, "provider_unsupported");
        await Expect(m.PostAsync($"/v1/orders/{order["id"]}/payments", new { provider = "sandbox", method = "card" }), 400, "method_unsupported");
        Assert.Equal(beforePayment, await Counts(server, m.MerchantId));

        Assert.Equal(before.Products, (await Counts(server, m.MerchantId)).Products);
        Assert.Equal(before.Orders + 1, (await Counts(server, m.MerchantId)).Orders);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task MissingOrWrongApiKey_Is401_AndAKeyWithoutTheScopeIs403(Db db)
    {
        var server = await servers.Get(db);
        await Expect(server.Anonymous.GetAsync("/v1/orders"), 401, "api_key_missing");
        using var wrong = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sk_test_wrong");
        await Expect(wrong.GetAsync("/v1/orders"), 401, "api_key_invalid");
        await Expect(wrong.PostAsync("/v1/orders", new StringContent("{}", Encoding.UTF8, "application/json")), 401, "api_key_invalid");

        var readOnly = await server.NewMerchantAsync("orders:read");
        await Expect(readOnly.PostAsync("/v1/creators", new { name = "x" }), 403, "scope_missing");
        var list = await readOnly.GetOkAsync("/v1/orders");
        Assert.Empty(list["data"]!.AsArray());
    }

    static object Product(string creatorId, decimal amount, string currency) => new
    {
        creator_id = creatorId, name = "Course", kind = "course", creator_share_bps = 7000, prices = new[] { new { amount, currency } },
    };

    /// <summary>Sends with Expect: 100-continue, as a careful client does, so a refusal before the body is read arrives intact.</summary>
    static Task<HttpResponseMessage> Raw(HttpClient http, string path, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        return http.SendAsync(request);
    }

    static async Task Expect(Task<HttpResponseMessage> call, int status, string code)
    {
        var response = await call;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status} {code}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, (string?)Json.Parse(body)["code"]);
    }

    static Task<(int Products, int Orders, int Payments, int Customers)> Counts(KnowPayServer server, string merchantId) =>
        server.QueryAsync(async d => (
            await d.Products.CountAsync(p => p.MerchantId == merchantId),
            await d.Orders.CountAsync(o => o.MerchantId == merchantId),
            await d.Payments.CountAsync(p => p.MerchantId == merchantId),
            await d.Customers.CountAsync(c => c.MerchantId == merchantId)));
}
