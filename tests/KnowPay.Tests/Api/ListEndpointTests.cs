using System.Text.Json.Nodes;
using KnowPay.Tests.Events;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Api;

/// <summary>
/// GET /v1/creators, /customers, /products, /payments, /refunds: cursor pages walked to the end (newest first, no
/// duplicate, no gap), each filter, another merchant's objects never listed, a bad filter a 400 with its code.
/// </summary>
[Collection("server")]
public sealed class ListEndpointTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Creators_ListInPagesNewestFirst_OnlyTheMerchantsOwn(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var othersCreator = await other.PostOkAsync("/v1/creators", new { name = "Elsewhere" });
        var created = new List<string>();
        for (var i = 0; i < 5; i++) created.Add(Id(await m.PostOkAsync("/v1/creators", new { name = $"Creator {i}" })));

        Assert.Equal(Newest(created), await WalkAsync(m, "/v1/creators", limit: 2, pages: 3));
        Assert.Equal([Id(othersCreator)], await WalkAsync(other, "/v1/creators", limit: 2, pages: 1));
        await Expect(m, "/v1/creators?limit=0", "limit_invalid");
        await Expect(m, "/v1/creators?limit=101", "limit_invalid");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Customers_ListInPages_FilterByExternalId_OnlyTheMerchantsOwn(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        await other.PostOkAsync("/v1/customers", new { external_id = "user-2" });
        var created = new List<string>();
        for (var i = 0; i < 5; i++) created.Add(Id(await m.PostOkAsync("/v1/customers", new { external_id = $"user-{i}" })));

        Assert.Equal(Newest(created), await WalkAsync(m, "/v1/customers", limit: 2, pages: 3));
        Assert.Equal([created[2]], await WalkAsync(m, "/v1/customers?external_id=user-2", limit: 2, pages: 1));
        Assert.Empty(await WalkAsync(m, "/v1/customers?external_id=user-99", limit: 2, pages: 1));
        Assert.Single(await WalkAsync(other, "/v1/customers", limit: 10, pages: 1));
        await Expect(m, "/v1/customers?external_id=" + new string('x', 201), "external_id_invalid");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Products_ListInPages_FilterByStatusAndCreator_OnlyTheMerchantsOwn(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var (otherCreator, _) = await other.CourseAsync();
        var first = Id(await m.PostOkAsync("/v1/creators", new { name = "First" }));
        var second = Id(await m.PostOkAsync("/v1/creators", new { name = "Second" }));
        var created = new List<string>();
        foreach (var (creator, status) in new[] { (first, "published"), (second, "published"), (first, "draft"), (second, "published"), (first, "published") })
            created.Add(Id(await m.PostOkAsync("/v1/products", Course(creator, status))));

        var all = await WalkAsync(m, "/v1/products", limit: 2, pages: 3);
        Assert.Equal(Newest(created), all);
        Assert.Equal(Newest([created[0], created[2], created[4]]), await WalkAsync(m, $"/v1/products?creator_id={first}", limit: 2, pages: 2));
        Assert.Equal([created[2]], await WalkAsync(m, "/v1/products?status=draft", limit: 2, pages: 1));
        Assert.Equal(Newest([created[0], created[1], created[3], created[4]]), await WalkAsync(m, "/v1/products?status=PUBLISHED", limit: 3, pages: 2));
        Assert.Empty(await WalkAsync(m, $"/v1/products?creator_id={otherCreator}", limit: 2, pages: 1));
        Assert.Single(await WalkAsync(other, "/v1/products", limit: 10, pages: 1));

        var page = await m.GetOkAsync($"/v1/products?limit=1&creator_id={second}");
        var listed = page["data"]![0]!;
        Assert.Equal(9900, (long)listed["prices"]![0]!["amount"]!);
        Assert.Equal("product", (string?)listed["object"]);

        await Expect(m, "/v1/products?status=sold_out", "status_invalid");
        await Expect(m, "/v1/products?status=1", "status_invalid");
        await Expect(m, "/v1/products?status=draft,published", "status_invalid");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Payments_ListInPages_FilterByOrderStatusProviderAndCreated_OnlyTheMerchantsOwn(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var (_, otherProduct) = await other.CourseAsync();
        var otherOrder = await other.OrderAsync(otherProduct);
        await other.PaymentAsync(Id(otherOrder));
        var (_, productId) = await m.CourseAsync();
        var orders = new List<string>();
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            orders.Add(Id(await m.OrderAsync(productId, customer: $"learner-{i}")));
            created.Add(Id(await m.PaymentAsync(orders[^1])));
        }
        await m.BuyerPaysAsync(created[1]);
        await m.WaitForOrderAsync(orders[1], "paid");

        var all = await WalkAsync(m, "/v1/payments", limit: 2, pages: 3, rows: true);
        Assert.Equal(Newest(created), all.Select(Id));
        Assert.Equal([created[3]], await WalkAsync(m, $"/v1/payments?order_id={orders[3]}", limit: 2, pages: 1));
        Assert.Empty(await WalkAsync(m, $"/v1/payments?order_id={Id(otherOrder)}", limit: 2, pages: 1));
        Assert.Equal([created[1]], await WalkAsync(m, "/v1/payments?status=succeeded", limit: 2, pages: 1));
        Assert.Equal(4, (await WalkAsync(m, "/v1/payments?status=pending", limit: 2, pages: 2)).Count);
        Assert.Equal(Newest(created), await WalkAsync(m, "/v1/payments?provider=sandbox", limit: 2, pages: 3));
        Assert.Empty(await WalkAsync(m, "/v1/payments?provider=alipay", limit: 2, pages: 1));
        var othersPayment = Assert.Single(await WalkAsync(other, "/v1/payments", limit: 10, pages: 1));

        // [created_gte, created_lt), with instants as the answers write them.
        var third = Created(all.Single(p => Id(p) == created[2]));
        var fourth = Created(all.Single(p => Id(p) == created[3]));
        Assert.Equal(Newest(created[2..]), await WalkAsync(m, $"/v1/payments?created_gte={third}", limit: 2, pages: 2));
        Assert.Equal(Newest(created[..2]), await WalkAsync(m, $"/v1/payments?created_lt={third}", limit: 2, pages: 1));
        Assert.Equal([created[2]], await WalkAsync(m, $"/v1/payments?created_gte={third}&created_lt={fourth}", limit: 2, pages: 1));
        Assert.Equal(5, (await WalkAsync(m, "/v1/payments?created_gte=2000-01-01", limit: 5, pages: 1)).Count);
        Assert.Empty(await WalkAsync(m, "/v1/payments?created_lt=2000-01-01T08:00:00%2B08:00", limit: 5, pages: 1));

        await Expect(m, "/v1/payments?status=paid", "status_invalid");
        await Expect(m, "/v1/payments?provider=Not%20A%20Provider", "provider_invalid");
        await Expect(m, "/v1/payments?created_gte=yesterday", "created_invalid");
        await Expect(m, "/v1/payments?created_gte=Dec%201%202026", "created_invalid");
        await Expect(m, "/v1/payments?created_lt=2026-13-45T00:00:00Z", "created_invalid");
        await Expect(m, $"/v1/payments?created_gte={fourth}&created_lt={third}", "created_invalid");
        // The cursor is a payment of this merchant's: another merchant's id or an unknown one is refused, not guessed at.
        await Expect(m, $"/v1/payments?starting_after={othersPayment}", "starting_after_invalid");
        await Expect(m, "/v1/payments?starting_after=pay_unknown", "starting_after_invalid");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Refunds_ListInPages_FilterByPaymentStatusAndCreated_OnlyTheMerchantsOwn(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var (_, otherPayment, _, _) = await other.PaidOrderAsync(9900, customer: "other-learner");
        await other.PostOkAsync($"/v1/payments/{otherPayment}/refunds", new { amount = 100 });
        var (_, firstPayment, _, _) = await m.PaidOrderAsync(9900, customer: "learner-a");
        var (_, secondPayment, _, _) = await m.PaidOrderAsync(9900, customer: "learner-b");
        var created = new List<string>();
        foreach (var payment in new[] { firstPayment, secondPayment, firstPayment, firstPayment })
            created.Add(Id(await m.PostOkAsync($"/v1/payments/{payment}/refunds", new { amount = 1000 })));

        var all = await WalkAsync(m, "/v1/refunds", limit: 3, pages: 2, rows: true);
        Assert.Equal(Newest(created), all.Select(Id));
        Assert.Equal(Newest([created[0], created[2], created[3]]), await WalkAsync(m, $"/v1/refunds?payment_id={firstPayment}", limit: 2, pages: 2));
        Assert.Empty(await WalkAsync(m, $"/v1/refunds?payment_id={otherPayment}", limit: 2, pages: 1));
        Assert.Equal(Newest(created), await WalkAsync(m, "/v1/refunds?status=succeeded", limit: 2, pages: 2));
        Assert.Empty(await WalkAsync(m, "/v1/refunds?status=pending", limit: 2, pages: 1));
        Assert.Single(await WalkAsync(other, "/v1/refunds", limit: 10, pages: 1));

        var second = Created(all.Single(r => Id(r) == created[1]));
        Assert.Equal(Newest(created[1..]), await WalkAsync(m, $"/v1/refunds?created_gte={second}", limit: 2, pages: 2));
        Assert.Equal([created[0]], await WalkAsync(m, $"/v1/refunds?created_lt={second}", limit: 2, pages: 1));

        await Expect(m, "/v1/refunds?status=refunded", "status_invalid");
        await Expect(m, "/v1/refunds?created_gte=1%20week%20ago", "created_invalid");
        await Expect(m, "/v1/refunds?limit=500", "limit_invalid");
    }

    /// <summary>Walks every page; asserts the envelope, the cursor and the page count; returns the ids in order.</summary>
    static async Task<List<string>> WalkAsync(MerchantClient m, string path, int limit, int pages) =>
        (await WalkAsync(m, path, limit, pages, rows: true)).Select(Id).ToList();

    static async Task<List<JsonObject>> WalkAsync(MerchantClient m, string path, int limit, int pages, bool rows)
    {
        var all = new List<JsonObject>();
        string? cursor = null;
        for (var n = 1; ; n++)
        {
            var page = await m.GetOkAsync($"{path}{(path.Contains('?') ? '&' : '?')}limit={limit}" + (cursor is null ? "" : $"&starting_after={cursor}"));
            Assert.Equal("list", (string?)page["object"]);
            var data = page["data"]!.AsArray().Select(x => x!.AsObject()).ToList();
            all.AddRange(data);
            if (!(bool)page["has_more"]!)
            {
                Assert.Null((string?)page["next_cursor"]);
                Assert.True(data.Count <= limit);
                Assert.Equal(pages, n);
                break;
            }
            Assert.Equal(limit, data.Count);
            cursor = (string)page["next_cursor"]!;
            Assert.Equal(Id(data[^1]), cursor);
            Assert.True(n < pages, $"{path}: more than {pages} pages");
        }
        Assert.Equal(all.Count, all.Select(Id).Distinct().Count());
        return all;
    }

    static async Task Expect(MerchantClient m, string path, string code)
    {
        var response = await m.Http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 400, $"GET {path} → {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, (string?)Json.Parse(text)["code"]);
    }

    static object Course(string creatorId, string status) => new
    {
        creator_id = creatorId, name = "Course", kind = "course", status, creator_share_bps = 7000, prices = new[] { new { amount = 9900, currency = "CNY" } },
    };

    static string Id(JsonObject o) => (string)o["id"]!;

    static string Created(JsonObject o) => Uri.EscapeDataString((string)o["created_at"]!);

    static List<string> Newest(IEnumerable<string> ids) => ids.Reverse().ToList();
}
