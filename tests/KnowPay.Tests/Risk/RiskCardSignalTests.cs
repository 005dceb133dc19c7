using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Risk;

/// <summary>Card signals from the fingerprints the Stripe sandbox reports, over real HTTP, on both databases.</summary>
[Collection("server")]
public sealed class RiskCardSignalTests(Servers servers)
{
    static async Task WaitForPaymentAsync(MerchantClient m, string paymentId, string status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"] != status)
        {
            Assert.True(DateTime.UtcNow < until, $"payment {paymentId} did not become {status}");
            await Task.Delay(20);
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task FourDistinctCardsWithinAnHour_TripCardCountRule_OtherCustomerUnaffected(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var saved = await m.Http.PutAsync("/v1/risk/rules", System.Net.Http.Json.JsonContent.Create(
            new { rules = new[] { new { id = "many_cards", rule = "block if :card_count_for_customer_1h: > 3" } } }));
        Assert.True(saved.IsSuccessStatusCode, await saved.Content.ReadAsStringAsync());
        var (_, productId) = await m.CourseAsync(7000, (199, "USD"));
        object Order(string customer) => new
        {
            customer_external_id = customer, product_id = productId, currency = "USD", payment = new { provider = "stripe", method = "card" },
        };

        // The fifth card test: four orders, each declined on another card; the fourth is still allowed (4 > 3 needs four cards).
        string[] cards = [StripeSimulator.CardDeclines, StripeSimulator.CardInsufficientFunds, StripeSimulator.CardStolen, StripeSimulator.CardLost];
        var paymentIds = new List<string>();
        foreach (var card in cards)
        {
            var payment = (await m.PostOkAsync("/v1/orders", Order("carder")))["payment"]!;
            var declined = await StripeTests.ConfirmRawAsync(server, (string)payment["next_action"]!["client_secret"]!, card);
            Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
            await WaitForPaymentAsync(m, (string)payment["id"]!, "failed");
            paymentIds.Add((string)payment["id"]!);
        }
        var fingerprints = await server.QueryAsync(d => d.Payments.Where(p => paymentIds.Contains(p.Id)).Select(p => p.CardFingerprint).ToListAsync());
        Assert.Equal(4, fingerprints.Where(f => f is { Length: > 0 }).Distinct().Count());

        var blocked = await m.PostAsync("/v1/orders", Order("carder"));
        var problem = Json.Parse(await blocked.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, blocked.StatusCode);
        Assert.Equal("risk_blocked", (string?)problem["code"]);
        Assert.Equal("many_cards", (string?)problem["rule_id"]);
        var decision = await server.QueryAsync(d => d.RiskDecisions.SingleAsync(x => x.MerchantId == m.MerchantId && x.Action == RiskAction.Block));
        var signals = Json.Parse(decision.Signals);
        Assert.Equal(4, (long)signals["card_count_for_customer_1h"]!);
        Assert.Equal(4, (long)signals["card_count_for_customer_24h"]!);
        var lastCard = await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentIds[3]).Select(p => p.CardFingerprint).SingleAsync());
        Assert.Equal(lastCard, (string?)signals["card_fingerprint"]);
        Assert.Equal(1, (long)signals["payments_per_card_1h"]!);
        Assert.Equal(199, (long)signals["amount_per_card_24h"]!);
        Assert.Equal(4, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));

        // Another customer is allowed; its paid card is captured (from the charge) and counted for it alone.
        var other = await m.PostOkAsync("/v1/orders", Order("learner"));
        var otherPaymentId = (string)other["payment"]!["id"]!;
        await StripeTests.ConfirmAsync(server, (string)other["payment"]!["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)other["id"]!, "paid");
        var paidCard = await server.QueryAsync(d => d.Payments.Where(p => p.Id == otherPaymentId).Select(p => p.CardFingerprint).SingleAsync());
        Assert.False(string.IsNullOrEmpty(paidCard));
        Assert.DoesNotContain(paidCard, fingerprints);
        var againId = (string)(await m.PostOkAsync("/v1/orders", Order("learner")))["id"]!;
        var allowed = await server.QueryAsync(d => d.RiskDecisions.Where(x => x.OrderId == againId).Select(x => x.Signals).SingleAsync());
        Assert.Equal(1, (long)Json.Parse(allowed)["card_count_for_customer_1h"]!);
        Assert.Equal(paidCard, (string?)Json.Parse(allowed)["card_fingerprint"]);
        Assert.Equal(1, (long)Json.Parse(allowed)["payments_per_card_24h"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task NewMerchantDefaults_CustomerDeclinedOnFourCardsWithinAnHour_NextOrderBlockedByBuiltInGuard_OtherCustomerUnaffected(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        Assert.Contains("card_testing_cards", (await m.GetOkAsync("/v1/risk/rules"))["rules"]!.AsArray().Select(r => (string?)r!["id"]));
        var (_, productId) = await m.CourseAsync(7000, (199, "USD"));
        object Order(string customer) => new
        {
            customer_external_id = customer, product_id = productId, currency = "USD", payment = new { provider = "stripe", method = "card" },
        };

        string[] cards = [StripeSimulator.CardDeclines, StripeSimulator.CardInsufficientFunds, StripeSimulator.CardStolen, StripeSimulator.CardLost];
        foreach (var card in cards)
        {
            var payment = (await m.PostOkAsync("/v1/orders", Order("cycler")))["payment"]!;
            var declined = await StripeTests.ConfirmRawAsync(server, (string)payment["next_action"]!["client_secret"]!, card);
            Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
            await WaitForPaymentAsync(m, (string)payment["id"]!, "failed");
        }

        var blocked = await m.PostAsync("/v1/orders", Order("cycler"));
        var problem = Json.Parse(await blocked.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, blocked.StatusCode);
        Assert.Equal("risk_blocked", (string?)problem["code"]);
        Assert.Equal("card_testing_cards", (string?)problem["rule_id"]);
        var decision = await server.QueryAsync(d => d.RiskDecisions.SingleAsync(x => x.MerchantId == m.MerchantId && x.Action == RiskAction.Block));
        Assert.Equal(4, (long)Json.Parse(decision.Signals)["card_count_for_customer_1h"]!);
        Assert.Equal(4, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));

        // Another customer of the same merchant pays on its card as usual.
        var other = await m.PostOkAsync("/v1/orders", Order("learner"));
        await StripeTests.ConfirmAsync(server, (string)other["payment"]!["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)other["id"]!, "paid");
        Assert.Equal("pending", (string?)(await m.PostOkAsync("/v1/orders", Order("learner")))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.RiskDecisions.CountAsync(x => x.MerchantId == m.MerchantId && x.Action == RiskAction.Block)));
    }
}
