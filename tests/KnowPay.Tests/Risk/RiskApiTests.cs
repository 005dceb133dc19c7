using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Risk;

[Collection("server")]
public sealed class RiskApiTests(Servers servers)
{
    static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        return Json.Parse(text);
    }

    static async Task<HttpResponseMessage> PutAsync(MerchantClient m, string path, object body) =>
        await m.Http.PutAsync(path, System.Net.Http.Json.JsonContent.Create(body));

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
    public async Task CardTesting_ThirtyDeclinedCardsFromOneIp_BlockTheNextFromThatIp_OtherIpsUnaffected(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (199, "USD"));
        object Order(int i, string ip) => new
        {
            customer_external_id = $"ct-{i}", product_id = productId, currency = "USD",
            payment = new { provider = "stripe", method = "card" }, risk_context = new { ip, device_id = $"dev-{i}", user_agent = "curl/8" },
        };
        for (var i = 0; i < 30; i++)
        {
            var order = await m.PostOkAsync("/v1/orders", Order(i, "203.0.113.7"));
            var payment = order["payment"]!;
            var declined = await StripeTests.ConfirmRawAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardDeclines);
            Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
            await WaitForPaymentAsync(m, (string)payment["id"]!, "failed");
        }
        var stored = await server.QueryAsync(d => d.Payments.Where(p => p.MerchantId == m.MerchantId).Select(p => p.RiskIp).Distinct().ToListAsync());
        Assert.Equal(["203.0.113.7"], stored);

        var blocked = await ProblemAsync(await m.PostAsync("/v1/orders", Order(30, "203.0.113.7")), HttpStatusCode.UnprocessableEntity);
        Assert.Equal("risk_blocked", (string?)blocked["code"]);
        Assert.Equal("card_testing", (string?)blocked["rule_id"]);
        Assert.Equal(30, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
        var decision = await server.QueryAsync(d => d.RiskDecisions.SingleAsync(x => x.MerchantId == m.MerchantId && x.Action == RiskAction.Block));
        Assert.Equal("203.0.113.7", decision.Ip);
        Assert.Contains("\"failed_attempts_per_ip_10m\":30", decision.Signals);
        var events = await m.GetOkAsync("/v1/events?type=risk.decision");
        Assert.Equal((string?)blocked["decision_id"], (string?)events["data"]!.AsArray().Single()!["data"]!["id"]);

        var other = await m.PostOkAsync("/v1/orders", Order(31, "198.51.100.9"));
        Assert.Equal("pending", (string?)other["status"]);
        Assert.NotNull(other["payment"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Limits_Exceeded_Are422NamingTheLimit_AndWriteNoOrder(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        Assert.True((await PutAsync(m, "/v1/risk/settings", new { single_payment_max = 5000 })).IsSuccessStatusCode);
        var big = await ProblemAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "lim-1", product_id = productId, currency = "CNY" }),
            HttpStatusCode.UnprocessableEntity);
        Assert.Equal("limit_single_payment_max", (string?)big["code"]);
        Assert.Equal("single_payment_max", (string?)big["limit"]);
        // A refusal writes no order, for every limit: a half-created order would count against the customer's next purchase.
        Task<int> OrdersAsync() => server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId));
        Assert.Equal(0, await OrdersAsync());

        Assert.True((await PutAsync(m, "/v1/risk/settings", new { customer_daily_count = 2 })).IsSuccessStatusCode);
        await m.OrderAsync(productId, customer: "lim-2");
        await m.OrderAsync(productId, customer: "lim-2");
        Assert.Equal(2, await OrdersAsync());
        var third = await ProblemAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "lim-2", product_id = productId, currency = "CNY" }),
            HttpStatusCode.UnprocessableEntity);
        Assert.Equal("limit_customer_daily_count", (string?)third["code"]);
        Assert.Equal(2, await OrdersAsync());
        await m.OrderAsync(productId, customer: "lim-3"); // another customer is not limited by lim-2's orders

        Assert.True((await PutAsync(m, "/v1/risk/settings", new { product_quantity_per_customer = 1 })).IsSuccessStatusCode);
        var order = await m.OrderAsync(productId, customer: "lim-4");
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        Assert.Equal(4, await OrdersAsync());
        var again = await ProblemAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "lim-4", product_id = productId, currency = "CNY" }),
            HttpStatusCode.UnprocessableEntity);
        Assert.Equal("limit_product_quantity_per_customer", (string?)again["code"]);
        Assert.Equal(4, await OrdersAsync());

        var bad = await ProblemAsync(await PutAsync(m, "/v1/risk/settings", new { customer_daily_count = -1 }), HttpStatusCode.BadRequest);
        Assert.Equal("limit_invalid", (string?)bad["code"]);
        Assert.Equal(1, (long)(await m.GetOkAsync("/v1/risk/settings"))["product_quantity_per_customer"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundAfterEightyPercentConsumed_GoesToReview_ApprovedThenRefunded_BeforeTenPercent_RefundsAtOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        async Task<(string PaymentId, string EntitlementId)> ConsumedAsync(string customer, int progress)
        {
            var (_, paymentId, _, productId) = await WebhookClientPaidOrderAsync(m, customer);
            var entitlement = (await m.GetOkAsync($"/v1/customers/{customer}/entitlements/{productId}"))["entitlement"]!;
            var usage = await m.PostOkAsync($"/v1/entitlements/{entitlement["id"]}/usage", new { progress });
            Assert.Equal(progress, (int)usage["progress"]!);
            return (paymentId, (string)entitlement["id"]!);
        }

        var (consumed, entitlementId) = await ConsumedAsync("abuse-1", 85);
        var held = await m.PostAsync($"/v1/payments/{consumed}/refunds", new { reason = "requested_by_customer" });
        var review = await ProblemAsync(held, HttpStatusCode.Accepted);
        Assert.Equal("open", (string?)review["status"]);
        Assert.Equal("refund", (string?)review["stage"]);
        Assert.Equal("refund_abuse", (string?)review["rule_id"]);
        Assert.Equal(0, (long)(await m.GetOkAsync($"/v1/payments/{consumed}"))["refunded_amount"]!);
        Assert.Equal(0, await server.QueryAsync(d => d.Refunds.CountAsync(r => r.PaymentId == consumed)));

        var approved = await m.PostOkAsync($"/v1/reviews/{review["id"]}/approve", new { });
        Assert.Equal("approved", (string?)approved["status"]);
        Assert.NotNull(approved["refund_id"]);
        Assert.Equal(9900, (long)(await m.GetOkAsync($"/v1/payments/{consumed}"))["refunded_amount"]!);
        var twice = await ProblemAsync(await m.PostAsync($"/v1/reviews/{review["id"]}/reject", new { }), HttpStatusCode.Conflict);
        Assert.Equal("review_already_decided", (string?)twice["code"]);

        var (barely, _) = await ConsumedAsync("abuse-2", 5);
        var refund = await m.PostOkAsync($"/v1/payments/{barely}/refunds", new { reason = "requested_by_customer" });
        Assert.Equal("succeeded", (string?)refund["status"]);

        var badProgress = await ProblemAsync(await m.PostAsync($"/v1/entitlements/{entitlementId}/usage", new { progress = 101 }), HttpStatusCode.BadRequest);
        Assert.Equal("progress_invalid", (string?)badProgress["code"]);
        var other = await server.NewMerchantAsync();
        await ProblemAsync(await other.PostAsync($"/v1/entitlements/{entitlementId}/usage", new { progress = 1 }), HttpStatusCode.NotFound);
    }

    static Task<(string OrderId, string PaymentId, string CreatorId, string ProductId)> WebhookClientPaidOrderAsync(MerchantClient m, string customer) =>
        KnowPay.Tests.Events.WebhookClient.PaidOrderAsync(m, 9900, customer);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ReviewedOrder_WaitsForTheReview_ApproveLetsItBePaid_RejectAndTimeoutCloseIt(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var rules = await PutAsync(m, "/v1/risk/rules", new { rules = new[] { new { id = "big_new_accounts", rule = "review if :amount: > 5000 and :account_age_days: < 1" } } });
        Assert.True(rules.IsSuccessStatusCode, await rules.Content.ReadAsStringAsync());

        async Task<(string OrderId, string ReviewId)> HeldAsync(string customer)
        {
            var order = await m.PostOkAsync("/v1/orders", new
            {
                customer_external_id = customer, product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr" },
                risk_context = new { ip = "192.0.2.10", account_created_at = DateTime.UtcNow.AddHours(-2) },
            });
            Assert.Null(order["payment"]); // held: nothing started at the provider
            var reviews = (await m.GetOkAsync($"/v1/reviews?order_id={order["id"]}"))["data"]!.AsArray();
            var review = Assert.Single(reviews)!;
            Assert.Equal("open", (string?)review["status"]);
            Assert.Equal("big_new_accounts", (string?)review["rule_id"]);
            return ((string)order["id"]!, (string)review["id"]!);
        }

        var (approvedOrder, approveId) = await HeldAsync("rev-1");
        var waiting = await ProblemAsync(await m.PostAsync($"/v1/orders/{approvedOrder}/payments", new { provider = "sandbox", method = "qr" }), HttpStatusCode.Conflict);
        Assert.Equal("order_in_review", (string?)waiting["code"]);
        Assert.Equal("approved", (string?)(await m.PostOkAsync($"/v1/reviews/{approveId}/approve", new { }))["status"]);
        var payment = await m.PaymentAsync(approvedOrder);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync(approvedOrder, "paid");

        var (rejectedOrder, rejectId) = await HeldAsync("rev-2");
        Assert.Equal("rejected", (string?)(await m.PostOkAsync($"/v1/reviews/{rejectId}/reject", new { }))["status"]);
        Assert.Equal("canceled", (string?)(await m.GetOkAsync($"/v1/orders/{rejectedOrder}"))["status"]);
        await ProblemAsync(await m.PostAsync($"/v1/orders/{rejectedOrder}/payments", new { provider = "sandbox", method = "qr" }), HttpStatusCode.Conflict);

        var (timedOutOrder, timedOutId) = await HeldAsync("rev-3");
        Assert.True(await server.RunJobAsync("risk_review_timeout", DateTime.UtcNow.AddHours(73)) >= 1);
        var timedOut = await m.GetOkAsync($"/v1/reviews/{timedOutId}");
        Assert.Equal("rejected", (string?)timedOut["status"]);
        Assert.Equal("timeout", (string?)timedOut["decided_by"]);
        Assert.Equal("canceled", (string?)(await m.GetOkAsync($"/v1/orders/{timedOutOrder}"))["status"]);

        var types = (await m.GetOkAsync("/v1/events?type=risk.decision"))["data"]!.AsArray().Select(e => (string?)e!["data"]!["action"]).ToList();
        Assert.Equal(["review", "review", "review"], types);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Rules_AreTypeCheckedWhenSaved_AndTrustedListsAllowBeforeBlocks(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var defaults = await m.GetOkAsync("/v1/risk/rules");
        Assert.Equal(["card_testing", "card_testing_cards", "customer_daily_limit", "refund_abuse"], defaults["rules"]!.AsArray().Select(r => (string?)r!["id"]));

        var bad = await ProblemAsync(await PutAsync(m, "/v1/risk/rules", new { rules = new[] { new { id = "x", rule = "block if :amount: > 5" }, new { id = "y", rule = "review if :amount: > 'big'" } } }),
            HttpStatusCode.BadRequest);
        Assert.Equal("rule_invalid", (string?)bad["code"]);
        Assert.Equal(23, (int)bad["column"]!);
        Assert.NotNull(bad["errors"]!["rules[1].rule"]);
        var unknown = await ProblemAsync(await PutAsync(m, "/v1/risk/rules", new { rules = new[] { new { id = "x", rule = "block if :cards_per_moon: > 5" } } }), HttpStatusCode.BadRequest);
        Assert.Equal(10, (int)unknown["column"]!);
        Assert.Equal(4, (await m.GetOkAsync("/v1/risk/rules"))["rules"]!.AsArray().Count); // nothing written

        var saved = await PutAsync(m, "/v1/risk/rules", new
        {
            rules = new[] { new { id = "block_all", rule = "block if :amount: > 0" }, new { id = "trusted", rule = "allow if :customer_external_id: in @trusted_users" } },
        });
        Assert.True(saved.IsSuccessStatusCode, await saved.Content.ReadAsStringAsync());
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var stranger = await ProblemAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "stranger", product_id = productId, currency = "CNY" }),
            HttpStatusCode.UnprocessableEntity);
        Assert.Equal("block_all", (string?)stranger["rule_id"]);
        Assert.True((await PutAsync(m, "/v1/risk/lists/trusted_users", new { values = new[] { "vip-1" } })).IsSuccessStatusCode);
        Assert.Equal("vip-1", (string?)(await m.GetOkAsync("/v1/risk/lists/trusted_users"))["values"]![0]);
        await m.OrderAsync(productId, customer: "vip-1");
        await ProblemAsync(await m.PostAsync("/v1/orders", new { customer_external_id = "stranger", product_id = productId, currency = "CNY" }), HttpStatusCode.UnprocessableEntity);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Backtest_ReplaysStoredSignals_CountsWhatACandidateRuleWouldHaveBlocked(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var from = DateTime.UtcNow.AddMinutes(-1);
        var (_, cheap) = await m.CourseAsync(7000, (1000, "CNY"));
        var (_, dear) = await m.CourseAsync(7000, (9900, "CNY"));
        var amounts = new List<long>();
        for (var i = 0; i < 7; i++)
        {
            await m.OrderAsync(i % 3 == 0 ? dear : cheap, customer: $"bt-{i}");
            amounts.Add(i % 3 == 0 ? 9900 : 1000);
        }
        var (refundedOrder, paymentId, _, _) = await KnowPay.Tests.Events.WebhookClient.PaidOrderAsync(m, 9900, "bt-paid");
        amounts.Add(9900);
        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { reason = "requested_by_customer" });
        // later_refunded matches decisions to refunds by order: the refund is the paid order's, the one its decision was taken on
        Assert.Equal(refundedOrder, (string?)refund["order_id"]);

        var result = await m.PostOkAsync("/v1/risk/backtest", new { rules = new[] { new { id = "dear", rule = "block if :amount: > 5000" } }, from, to = DateTime.UtcNow.AddMinutes(1) });
        Assert.Equal(amounts.Count, (int)result["decisions"]!);
        Assert.Equal(amounts.Count(a => a > 5000), (int)result["blocked"]!["count"]!);
        Assert.Equal(amounts.Where(a => a > 5000).Sum(), (long)result["blocked"]!["amount"]!);
        Assert.Equal(1, (int)result["blocked"]!["later_refunded"]!);
        Assert.Equal(amounts.Count(a => a > 5000), (int)result["changed"]!);
        Assert.Equal(amounts.Count(a => a <= 5000), (int)result["allowed"]!["count"]!);
        var bad = await ProblemAsync(await m.PostAsync("/v1/risk/backtest", new { rules = new[] { new { id = "x", rule = "block if :amount: > 'x'" } }, from, to = DateTime.UtcNow }),
            HttpStatusCode.BadRequest);
        Assert.Equal("rule_invalid", (string?)bad["code"]);
    }
}
