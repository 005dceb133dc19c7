using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using KnowPay.Data;
using KnowPay.Infrastructure;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Api;

/// <summary>
/// Strings the database cannot store (NUL and other control characters, lone surrogates, longer than the column) are a
/// 400 with <c>&lt;field&gt;_invalid</c> before anything is written — on PostgreSQL they were 500s (issue 18, defect 3).
/// </summary>
[Collection("server")]
public sealed class TextInputTests(Servers servers)
{
    const string Nul = "\u0000";
    static readonly string Long = new('x', 201);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task NulAndOverlongStrings_AreRefusedWith400AndTheFieldsCode_AndWriteNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync();
        var paymentId = await PaidPaymentAsync(m, productId);
        var before = await Counts(server, m.MerchantId);

        await Expect(m.PostAsync("/v1/creators", new { name = "Ann", external_id = "a" + Nul }), "external_id_invalid", "external_id");
        await Expect(m.PostAsync("/v1/creators", new { name = "Ann", external_id = Long }), "external_id_invalid", "external_id");
        await Expect(m.PostAsync("/v1/creators", new { name = "Ann", email = Long + "@example.com" }), "email_invalid", "email");
        await Expect(m.PostAsync("/v1/creators", new { name = "A\u0007nn" }), "name_invalid", "name");
        await Expect(m.PostAsync("/v1/customers", new { external_id = "u1", email = Long }), "email_invalid", "email");
        await Expect(m.PostAsync("/v1/customers", new { external_id = "u1", name = Long }), "name_invalid", "name");
        await Expect(m.PostAsync("/v1/customers", new { external_id = "u1" + Nul }), "external_id_invalid", "external_id");
        await Expect(m.PostAsync("/v1/products", new
        {
            creator_id = creatorId, name = "Course" + Nul, kind = "course", creator_share_bps = 7000, prices = new[] { new { amount = 100, currency = "CNY" } },
        }), "name_invalid", "name");
        await Expect(m.PostAsync("/v1/products", new
        {
            creator_id = creatorId, name = "Course", kind = "course", creator_share_bps = 7000, prices = new[] { new { amount = 100, currency = "CN" + Nul } },
        }), "prices_invalid", "prices[0].currency");
        await Expect(m.PostAsync($"/v1/products/{productId}", new { name = "New" + Nul }), "name_invalid", "name");
        await Expect(m.PostAsync("/v1/orders", new { customer_external_id = "u" + Nul, product_id = productId, currency = "CNY" }),
            "customer_external_id_invalid", "customer_external_id");
        await Expect(m.PostAsync("/v1/orders", new { customer_external_id = "u1", product_id = productId, currency = "CNY", description = "a\u0000b" }),
            "description_invalid", "description");
        await Expect(m.PostAsync("/v1/orders", new
        {
            customer_external_id = "u1", product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr", return_url = "https://x.example/\u0001" },
        }), "payment_invalid", "payment.return_url");
        await Expect(m.PostAsync($"/v1/payments/{paymentId}/refunds", new { amount = 100, reason = "changed\u0000mind" }), "reason_invalid", "reason");
        await Expect(m.PostAsync("/v1/webhook-endpoints", new { url = "https://hooks.example.com/\u0000", event_types = new[] { "*" } }), "url_invalid", "url");
        await Expect(m.PostAsync("/v1/webhook-endpoints", new { url = "https://hooks.example.com/", event_types = new[] { "order." + Nul } }),
            "event_types_invalid", "event_types[0]");
        await Expect(m.Http.GetAsync("/v1/orders?customer_id=cus_%00"), "customer_id_invalid", "customer_id");
        await Expect(m.Http.GetAsync("/v1/customers?external_id=a%00b"), "external_id_invalid", "external_id");
        await Expect(m.Http.GetAsync("/v1/orders/ord_%01"), "id_invalid", "id");
        Assert.Equal(HttpStatusCode.BadRequest, (await m.Http.GetAsync("/v1/orders/ord_%00")).StatusCode);   // Kestrel refuses NUL in a path
        await Expect(m.Http.GetAsync($"/v1/payments/pay_{new string('x', 3000)}"), 404, "payment_not_found");

        // Free text keeps its line breaks and tabs.
        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 100, reason = "line one\r\n\tline two" });
        Assert.Equal("line one\r\n\tline two", (string?)refund["reason"]);

        var after = await Counts(server, m.MerchantId);
        Assert.Equal(before with { Refunds = before.Refunds + 1 }, after);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SignedSandboxNotification_WithFieldsOfTheWrongType_Is400_AndThePaymentStaysPending(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var orderId = (string)(await m.OrderAsync(productId))["id"]!;
        var payment = await m.PaymentAsync(orderId);
        var tradeNo = (string)payment["provider_trade_no"]!;
        var paymentId = (string)payment["id"]!;

        JsonNode[] bodies =
        [
            Note("trade.paid", tradeNo, paymentId, amount: "9900"),
            Note("trade.paid", tradeNo, paymentId, amount: 99.5),
            Note("trade.paid", tradeNo, paymentId, amount: 1e30),
            Note("trade.paid", 12345, paymentId, amount: 9900),
            Note("trade.paid", tradeNo, new JsonArray(paymentId), amount: 9900),
            Note(42, tradeNo, paymentId, amount: 9900),
        ];
        foreach (var body in bodies)
        {
            var response = await server.PostSandboxPayAsync("/v1/notify/sandbox", body.ToJsonString());
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{body.ToJsonString()} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SignedStripeNotification_WithFieldsOfTheWrongType_Is400_AndThePaymentStaysPending(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var orderId = (string)(await m.OrderAsync(productId, "USD"))["id"]!;
        var payment = await m.PaymentAsync(orderId, "stripe", "card");
        var (paymentId, intentId) = ((string)payment["id"]!, (string)payment["provider_trade_no"]!);
        var secret = server.Services.GetRequiredService<SandboxOptions>().StripeWebhookSecret;

        foreach (var body in new[] { StripeNote(intentId, paymentId, "1999"), StripeNote(intentId, paymentId, 19.99), StripeNote(intentId, 7, 1999), StripeNote(9, paymentId, 1999) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add("Stripe-Signature", HmacSignature.Sign(secret, body, DateTimeOffset.UtcNow));
            var response = await server.Anonymous.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{body} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
    }

    static string StripeNote(JsonNode intentId, JsonNode paymentId, JsonNode amount) => new JsonObject
    {
        ["id"] = "evt_" + Guid.NewGuid().ToString("N"), ["object"] = "event", ["type"] = "payment_intent.succeeded", ["api_version"] = "2024-06-20",
        ["data"] = new JsonObject
        {
            ["object"] = new JsonObject
            {
                ["id"] = intentId, ["object"] = "payment_intent", ["amount"] = amount, ["amount_received"] = amount?.DeepClone(), ["currency"] = "usd",
                ["status"] = "succeeded", ["metadata"] = new JsonObject { ["payment_id"] = paymentId },
            },
        },
    }.ToJsonString();

    static readonly Gen<string> Clean = Gen.Char['a', 'z'].Array[1, 12].Select(c => new string(c));

    /// <summary>Strings a database cannot take, or only just can: control characters, lone surrogates, long runs, arbitrary text.</summary>
    static readonly Gen<string> Hostile = Gen.OneOf(
        Gen.Select(Clean, Gen.Char[(char)0, (char)31], Clean).Select((a, c, b) => a + c + b),
        Gen.Select(Clean, Gen.OneOf(Gen.Char[(char)0x7F, (char)0x9F], Gen.Char[(char)0xD800, (char)0xDFFF]), Clean).Select((a, c, b) => a + c + b),
        Gen.Int[190, 2100].Select(n => new string('y', n)),
        Gen.String);

    /// <summary>Each endpoint with a valid body and the paths of its string fields; the test puts a hostile string into one.</summary>
    static IEnumerable<(string Path, JsonObject Body, string[] Fields)> Endpoints(string creatorId, string productId, string orderId, string paymentId) =>
    [
        ("/v1/creators", new JsonObject { ["name"] = "Ann", ["external_id"] = "a1", ["email"] = "a@example.com" }, ["name", "external_id", "email"]),
        ("/v1/customers", new JsonObject { ["external_id"] = "u1", ["email"] = "u@example.com", ["name"] = "U" }, ["external_id", "email", "name"]),
        ("/v1/products", new JsonObject
        {
            ["creator_id"] = creatorId, ["name"] = "Course", ["kind"] = "course", ["creator_share_bps"] = 7000,
            ["prices"] = new JsonArray(new JsonObject { ["amount"] = 100, ["currency"] = "CNY" }),
        }, ["creator_id", "name", "kind", "prices.0.currency"]),
        ("/v1/orders", new JsonObject
        {
            ["customer_external_id"] = "u1", ["product_id"] = productId, ["currency"] = "CNY", ["description"] = "d",
            ["payment"] = new JsonObject { ["provider"] = "sandbox", ["method"] = "qr", ["return_url"] = "https://shop.example/done" },
        }, ["customer_external_id", "product_id", "currency", "description", "payment.provider", "payment.method", "payment.return_url"]),
        ($"/v1/orders/{orderId}/payments", new JsonObject { ["provider"] = "sandbox", ["method"] = "qr", ["return_url"] = "https://shop.example/done" },
            ["provider", "method", "return_url"]),
        ($"/v1/payments/{paymentId}/refunds", new JsonObject { ["amount"] = 1, ["reason"] = "r" }, ["reason"]),
        ("/v1/webhook-endpoints", new JsonObject { ["url"] = "https://hooks.example.com/k", ["event_types"] = new JsonArray("order.paid") },
            ["url", "event_types.0"]),
    ];

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AnyHostileString_InAnyStringField_IsNever5xx_AndAControlCharacterIs400(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(prices: (10_000_000, "CNY"));
        var orderId = (string)(await m.OrderAsync(productId))["id"]!;
        var paymentId = await PaidPaymentAsync(m, productId);
        var cases = Endpoints(creatorId, productId, orderId, paymentId).SelectMany(e => e.Fields.Select(f => (e.Path, e.Body, Field: f))).ToArray();

        await Gen.Select(Gen.Int[0, cases.Length - 1], Hostile).SampleAsync(async (i, value) =>
        {
            var (path, template, field) = cases[i];
            var body = template.DeepClone().AsObject();
            Set(body, field, Placeholder);
            var json = body.ToJsonString().Replace($"\"{Placeholder}\"", JsonString(value), StringComparison.Ordinal);
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            var response = await m.Http.PostAsync(path, content);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode < 500, $"POST {path} {field}={Show(value)} → {(int)response.StatusCode}: {text}");
            if (!TextInput.IsClean(value, freeText: true))
                Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"POST {path} {field}={Show(value)} → {(int)response.StatusCode}: {text}");
        }, iter: 150, threads: 1);

        await Gen.Select(Gen.Int[0, 3], Hostile).SampleAsync(async (i, value) =>
        {
            var query = (i switch { 0 => "/v1/orders?customer_id=", 1 => "/v1/customers?external_id=", 2 => "/v1/payments?order_id=", _ => "/v1/orders/" })
                + Escape(value);
            var response = await m.Http.GetAsync(query);
            Assert.True((int)response.StatusCode < 500, $"GET {query} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }, iter: 60, threads: 1);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task TheLengthLimits_AreTheModelsColumnLengths(Db db)
    {
        var server = await servers.Get(db);
        var lengths = await server.QueryAsync(d => Task.FromResult(new[]
        {
            (TextInput.Default, Length<Creator>(d, nameof(Creator.Name))), (TextInput.Default, Length<Creator>(d, nameof(Creator.Email))),
            (TextInput.Default, Length<Creator>(d, nameof(Creator.ExternalId))), (TextInput.Default, Length<Customer>(d, nameof(Customer.ExternalId))),
            (TextInput.Default, Length<Customer>(d, nameof(Customer.Email))), (TextInput.Default, Length<Customer>(d, nameof(Customer.Name))),
            (TextInput.Default, Length<Product>(d, nameof(Product.Name))),
            (TextInput.OrderDescription, Length<Order>(d, nameof(Order.Description))),
            (TextInput.RefundReason, Length<Refund>(d, nameof(Refund.Reason))),
            (TextInput.WebhookUrl, Length<WebhookEndpoint>(d, nameof(WebhookEndpoint.Url))),
            (TextInput.WebhookEventTypes, Length<WebhookEndpoint>(d, nameof(WebhookEndpoint.EventTypes))),
        }));
        foreach (var (limit, column) in lengths) Assert.Equal(column, limit);
    }

    static int? Length<T>(KnowPayDb d, string property) => d.Model.FindEntityType(typeof(T))!.FindProperty(property)!.GetMaxLength();

    static JsonObject Note(JsonNode type, JsonNode tradeNo, JsonNode outTradeNo, JsonNode amount) => new()
    {
        ["id"] = "ntf_" + Guid.NewGuid().ToString("N"), ["type"] = type,
        ["data"] = new JsonObject
        {
            ["trade_no"] = tradeNo, ["out_trade_no"] = outTradeNo, ["status"] = "PAID", ["amount"] = amount, ["currency"] = "CNY",
            ["paid_at"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        },
    };

    static async Task<string> PaidPaymentAsync(MerchantClient m, string productId)
    {
        var orderId = (string)(await m.OrderAsync(productId, customer: "payer"))["id"]!;
        var paymentId = (string)(await m.PaymentAsync(orderId))["id"]!;
        await m.BuyerPaysAsync(paymentId);
        await m.WaitForOrderAsync(orderId, "paid");
        return paymentId;
    }

    /// <summary>Sets a dotted path (<c>payment.return_url</c>, <c>prices.0.currency</c>).</summary>
    static void Set(JsonObject body, string path, string value)
    {
        var parts = path.Split('.');
        JsonNode node = body;
        foreach (var part in parts[..^1]) node = int.TryParse(part, out var i) ? node[i]! : node[part]!;
        if (int.TryParse(parts[^1], out var index)) node[index] = value;
        else node[parts[^1]] = value;
    }

    /// <summary>Percent-encodes UTF-16 code units as UTF-8 where possible; a lone surrogate is sent as its WTF-8 bytes.</summary>
    static string Escape(string value)
    {
        var sb = new StringBuilder();
        foreach (var b in new UTF8Encoding(false, false).GetBytes(value)) sb.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    const string Placeholder = "hostile-value-placeholder";

    /// <summary>A JSON string literal written by hand: System.Text.Json's writer would turn a lone surrogate into U+FFFD.</summary>
    static string JsonString(string value)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in value)
            if (c < ' ' || c == '"' || c == '\\' || char.IsSurrogate(c) || c is >= (char)0x7F and <= (char)0x9F)
                sb.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        return sb.Append('"').ToString();
    }

    static string Show(string value) => value.Length > 40 ? $"<{value.Length} chars>" : JsonSerializer.Serialize(value);

    static Task Expect(Task<HttpResponseMessage> call, string code, string field) => Expect(call, 400, code, field);

    static async Task Expect(Task<HttpResponseMessage> call, int status, string code, string? field = null)
    {
        var response = await call;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status} {code}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = Json.Parse(body);
        Assert.Equal(code, (string?)problem["code"]);
        if (field is not null) Assert.True(problem["errors"]?[field] is not null, $"errors should name {field}: {body}");
    }

    sealed record Tally(int Creators, int Customers, int Products, int Prices, int Orders, int Refunds, int Endpoints);

    static Task<Tally> Counts(KnowPayServer server, string merchantId) =>
        server.QueryAsync(async d => new Tally(
            await d.Creators.CountAsync(x => x.MerchantId == merchantId),
            await d.Customers.CountAsync(x => x.MerchantId == merchantId),
            await d.Products.CountAsync(x => x.MerchantId == merchantId),
            await d.Products.Where(x => x.MerchantId == merchantId).SelectMany(x => x.Prices).CountAsync(),
            await d.Orders.CountAsync(x => x.MerchantId == merchantId),
            await d.Refunds.CountAsync(x => x.MerchantId == merchantId),
            await d.WebhookEndpoints.CountAsync(x => x.MerchantId == merchantId)));
}
