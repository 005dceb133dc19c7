using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Features.Fx;
using KnowPay.Sandbox.Ecb;
using KnowPay.Sandbox.PayPal;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Fx;

[Collection("server")]
public sealed class FxApiTests(Servers servers)
{
    [Fact]
    public void EcbDailyFile_IsParsed_AsEuroRates_AtTheirPublicationTime()
    {
        var rates = EcbRateSource.Parse(EcbReferenceRates.Daily(new DateTimeOffset(2026, 12, 3, 16, 0, 0, TimeSpan.Zero)));
        Assert.Equal(EcbReferenceRates.Rates.Count, rates.Count);
        var cny = Assert.Single(rates, r => r.Quote == "CNY");
        Assert.Equal(("EUR", 7.6285m, new DateTime(2026, 12, 3, 13, 15, 0, DateTimeKind.Utc)), (cny.Base, cny.Rate, cny.AsOf));
        // Before the day's publication the file is the previous day's.
        Assert.Equal(new DateTime(2026, 12, 2, 13, 15, 0), EcbRateSource.Parse(EcbReferenceRates.Daily(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero)))[0].AsOf);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task UsdLearner_BuysCnyCourse_ThroughStripe_AtTheLockedEcbQuote_AndTheCreatorIsCreditedInCny(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        Assert.Equal("currency_unsupported", await CodeAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "l-1", product_id = productId, currency = "USD" })));
        await PutOkAsync(m, "/v1/fx/settings", new { allow_converted_prices = true, markup_bps = 150 });
        await server.RunJobAsync("fx_rates", DateTime.UtcNow);

        // The hand computation: USD per CNY crossed through EUR (12 decimals), plus 1.5 %, 99.00 CNY rounded once to cents.
        var rate = Math.Round(1.0512m / 7.6285m, 12, MidpointRounding.AwayFromZero) * 1.015m;
        var usd = (long)Math.Round(9900 * rate, 0, MidpointRounding.AwayFromZero);
        var quote = await m.GetOkAsync("/v1/fx/quote?from=CNY&to=USD&amount=9900");
        Assert.Equal((rate, usd, "ecb"), ((decimal)quote["rate"]!, (long)quote["converted_amount"]!, (string)quote["source"]!));

        var order = await m.OrderAsync(productId, "USD");
        Assert.Equal((usd, "USD"), ((long)order["amount"]!, (string)order["currency"]!));
        Assert.Equal(("CNY", "USD", rate, "ecb"), ((string)order["fx_quote"]!["from"]!, (string)order["fx_quote"]!["to"]!, (decimal)order["fx_quote"]!["rate"]!, (string)order["fx_quote"]!["source"]!));
        Assert.StartsWith("fxq_", (string)order["fx_quote"]!["id"]!);

        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        var intent = Assert.Single(server.Services.GetRequiredService<StripeSimulator>().FindIntents("payment_id", (string)payment["id"]!));
        Assert.Equal((usd, "usd"), ((long)intent["amount"]!, (string)intent["currency"]!));
        await StripeTests.ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");

        var entries = await server.QueryAsync(d => d.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        var split = RevenueSplit.For(9900, 7000, ProviderFee.None);
        Assert.Equal(new Dictionary<(string, string), long>
        {
            [("provider:stripe:clearing:USD", "USD")] = usd,
            [("fx:CNY:USD", "USD")] = -usd,
            [("fx:CNY:USD", "CNY")] = 9900,
            [($"creator:{creatorId}:pending:CNY", "CNY")] = -split.Creator,     // 69.30 CNY: 70 % of the price, at the locked rate
            [("platform:revenue:CNY", "CNY")] = -split.Platform,
        }, entries.ToDictionary(e => (e.Account, e.Currency), e => e.Amount));
        Assert.All(entries.GroupBy(e => e.Currency), g => Assert.Equal(0, g.Sum(e => e.Amount)));   // balanced in USD and in CNY
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ManualRates_TakeTheMarkupExactly_AndAStaleOrMissingRate_Refuses_WritingNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        await PutOkAsync(m, "/v1/fx/settings", new { allow_converted_prices = true, markup_bps = 150 });
        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "CNY", quote = "JPY", rate = 21.05m, as_of = DateTime.UtcNow.AddHours(-1) } } });

        var quote = await m.GetOkAsync("/v1/fx/quote?from=CNY&to=JPY&amount=9900");
        Assert.Equal((21.36575m, 2115L, "manual"), ((decimal)quote["rate"]!, (long)quote["converted_amount"]!, (string)quote["source"]!)); // 21.05 × 1.015; 99 × 21.36575 = 2115.209
        var inverse = await m.GetOkAsync("/v1/fx/quote?from=JPY&to=CNY&amount=2115");
        Assert.Equal(Math.Round(1 / 21.05m, 12, MidpointRounding.AwayFromZero) * 1.015m, (decimal)inverse["rate"]!);

        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "CNY", quote = "JPY", rate = 21.05m, as_of = DateTime.UtcNow.AddHours(-97) } } });
        var orders = await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId));
        Assert.Equal("fx_rate_stale", await CodeAsync(await m.Http.GetAsync("/v1/fx/quote?from=CNY&to=JPY&amount=9900")));
        Assert.Equal("fx_rate_stale", await CodeAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "l-1", product_id = productId, currency = "JPY" })));
        Assert.Equal("fx_rate_unavailable", await CodeAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "l-1", product_id = productId, currency = "KWD" })));
        Assert.Equal("currency_withdrawn", await CodeAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "l-1", product_id = productId, currency = "HRK" })));
        Assert.Equal("currency_unsupported", await CodeAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "l-1", product_id = productId, currency = "ABC" })));
        Assert.Equal(orders, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task JpyKwdUgx_ReachStripe_AndJpyHuf_ReachPayPal_InEachProvidersRepresentation(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (500, "JPY"), (1234, "KWD"), (5000, "UGX"), (10000, "HUF"));
        var stripe = server.Services.GetRequiredService<StripeSimulator>();
        foreach (var (currency, sent) in new[] { ("JPY", 500L), ("KWD", 1234L), ("UGX", 500000L) })   // UGX: × 100 for Stripe
        {
            var order = await m.OrderAsync(productId, currency);
            var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
            Assert.Equal(sent, (long)Assert.Single(stripe.FindIntents("payment_id", (string)payment["id"]!))["amount"]!);
            await StripeTests.ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
            var paid = await m.WaitForOrderAsync((string)order["id"]!, "paid");
            var clearing = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account == $"provider:stripe:clearing:{currency}").SumAsync(e => e.Amount));
            Assert.Equal((long)order["amount"]!, clearing);   // the answer came back in ISO minor units
        }
        var paypal = server.Services.GetRequiredService<PayPalSimulator>();
        foreach (var (currency, sent) in new[] { ("JPY", "500"), ("HUF", "100") })   // HUF: whole forints for PayPal
        {
            var order = await m.OrderAsync(productId, currency);
            var payment = await m.PaymentAsync((string)order["id"]!, "paypal", "page");
            var atPayPal = Assert.Single(paypal.FindOrders((string)payment["id"]!));
            Assert.Equal((currency, sent), ((string)atPayPal["purchase_units"]![0]!["amount"]!["currency_code"]!, (string)atPayPal["purchase_units"]![0]!["amount"]!["value"]!));
        }

        var (_, odd) = await m.CourseAsync(7000, (12345, "HUF"));   // 123.45 HUF: PayPal takes no fillér
        var hufOrder = await m.OrderAsync(odd, "HUF");
        Assert.Equal("amount_not_representable", await CodeAsync(await m.PostAsync($"/v1/orders/{hufOrder["id"]}/payments", new { provider = "paypal", method = "page" })));
        Assert.Equal(0, await server.QueryAsync(d => d.Payments.CountAsync(p => p.OrderId == (string)hufOrder["id"]!)));

        // A currency PayPal does not take at all is refused before PayPal is asked, not answered with its error.
        var (_, dinar) = await m.CourseAsync(7000, (12345, "KWD"));
        var kwdOrder = await m.OrderAsync(dinar, "KWD");
        Assert.Equal("currency_unsupported_by_provider",
            await CodeAsync(await m.PostAsync($"/v1/orders/{kwdOrder["id"]}/payments", new { provider = "paypal", method = "page" })));
        Assert.Equal(0, await server.QueryAsync(d => d.Payments.CountAsync(p => p.OrderId == (string)kwdOrder["id"]!)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task UsdOrder_ToAlipayPageWapAppOrQr_IsRefusedBeforeAlipayIsAsked_WritingNothing(Db db)
    {
        var server = await servers.Get(db);
        var log = server.Services.GetRequiredService<KnowPay.Sandbox.SandboxRequestLog>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"), (9900, "CNY"));
        var order = await m.OrderAsync(productId, "USD");
        var orderId = (string)order["id"]!;
        var before = log.Snapshot().Count;
        foreach (var method in new[] { "page", "wap", "app", "qr" })
        {
            var response = await m.PostAsync($"/v1/orders/{orderId}/payments", new { provider = "alipay", method, return_url = "https://shop.example/back" });
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            Assert.Equal("currency_unsupported_by_provider", await CodeAsync(response));
        }
        Assert.Equal(0, await server.QueryAsync(d => d.Payments.CountAsync(p => p.OrderId == orderId)));
        Assert.DoesNotContain(log.Snapshot().Skip(before), e => e.Contains("alipay", StringComparison.OrdinalIgnoreCase));

        // The same course in CNY goes to Alipay as before.
        var cny = await m.OrderAsync(productId, "CNY");
        Assert.NotNull((string?)(await m.PaymentAsync((string)cny["id"]!, "alipay", "qr"))["next_action"]!["qr_code"]);
        Assert.Contains(log.Snapshot().Skip(before), e => e.StartsWith("alipay alipay.trade.precreate signature verified", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SettlementCurrency_IsSetThroughFxSettings_AsAnIso4217Code_AndABadCodeChangesNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        Assert.Equal("CNY", (string?)(await m.GetOkAsync("/v1/fx/settings"))["settlement_currency"]);

        await PutOkAsync(m, "/v1/fx/settings", new { settlement_currency = "usd", markup_bps = 25 });
        var settings = await m.GetOkAsync("/v1/fx/settings");
        Assert.Equal(("USD", 25, false), ((string?)settings["settlement_currency"], (int)settings["markup_bps"]!, (bool)settings["allow_converted_prices"]!));

        foreach (var (code, expected) in new[] { ("HRK", "currency_withdrawn"), ("ABC", "currency_unsupported"), ("", "currency_unsupported") })
        {
            var response = await m.Http.PutAsJsonAsync("/v1/fx/settings", new { settlement_currency = code, markup_bps = 99, allow_converted_prices = true });
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(expected, await CodeAsync(response));
        }
        settings = await m.GetOkAsync("/v1/fx/settings");
        Assert.Equal(("USD", 25, false), ((string?)settings["settlement_currency"], (int)settings["markup_bps"]!, (bool)settings["allow_converted_prices"]!));
        Assert.Equal("USD", await server.QueryAsync(d => d.Merchants.Where(x => x.Id == m.MerchantId).Select(x => x.SettlementCurrency).SingleAsync()));
    }

    static async Task PutOkAsync(MerchantClient m, string path, object body)
    {
        var response = await m.Http.PutAsJsonAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    static async Task<string?> CodeAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode is >= HttpStatusCode.BadRequest and < HttpStatusCode.InternalServerError, $"{(int)response.StatusCode}: {text}");
        return (string?)JsonNode.Parse(text)?["code"];
    }
}
