using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Risk;

/// <summary>
/// A signal group whose query fails for real: the entitlements table (read only by the "entitlements" group: consumed
/// progress, quantity owned) is renamed away on a server of its own, as an operator's migration or a lost grant would
/// leave it. The order path must stay up, decide from the other groups with the merchant's own rules, and name the
/// missing group; once the table is back, nothing is missing.
/// </summary>
public sealed class RiskSignalFailureTests
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task EntitlementsTableGone_DecisionFromTheRest_ListsTheGroupUnavailable_MerchantRulesStillApply(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db);
        var m = await server.NewMerchantAsync();
        var (_, cheap) = await m.CourseAsync(7000, (1000, "CNY"));
        var (_, dear) = await m.CourseAsync(7000, (9900, "CNY"));
        var rules = await m.Http.PutAsync("/v1/risk/rules", System.Net.Http.Json.JsonContent.Create(new
        {
            rules = new[]
            {
                new { id = "dear", rule = "block if :amount: > 5000" },
                // Matches whenever the quantity owned is known (it is never negative).
                new { id = "owned_known", rule = "review if :product_quantity_for_customer: >= 0" },
            },
        }));
        Assert.True(rules.IsSuccessStatusCode, await rules.Content.ReadAsStringAsync());
        object Order(string product, string customer) => new
        {
            customer_external_id = customer, product_id = product, currency = "CNY", payment = new { provider = "sandbox", method = "qr" },
            risk_context = new { ip = "192.0.2.44", device_id = "dev-44" },
        };
        async Task<JsonObject> LastDecisionEventAsync() =>
            (await m.GetOkAsync("/v1/events?type=risk.decision"))["data"]!.AsArray().First()!["data"]!.AsObject();

        var held = await m.PostOkAsync("/v1/orders", Order(cheap, "sf-1"));
        Assert.Null(held["payment"]); // the entitlements signal is there: the review rule holds the order
        Assert.Equal("owned_known", (string?)(await LastDecisionEventAsync())["rule_id"]);
        Assert.Empty((await LastDecisionEventAsync())["unavailable"]!.AsArray());

        await server.QueryAsync(d => d.Database.ExecuteSqlRawAsync("ALTER TABLE entitlements RENAME TO entitlements_unavailable"));
        try
        {
            // The rule over the missing signal cannot be evaluated and does not match: the order goes through to its payment.
            var allowed = await m.PostOkAsync("/v1/orders", Order(cheap, "sf-2"));
            Assert.Equal("pending", (string?)allowed["status"]);
            Assert.NotNull(allowed["payment"]);
            var decision = await server.QueryAsync(d => d.RiskDecisions.AsNoTracking().SingleAsync(x => x.OrderId == (string)allowed["id"]!));
            Assert.Equal(RiskAction.Allow, decision.Action);
            Assert.Equal("entitlements", decision.Unavailable);
            Assert.DoesNotContain("product_quantity_for_customer", decision.Signals);
            Assert.Contains("\"orders_per_ip_24h\":1", decision.Signals); // the other groups were read: sf-1's order from this IP
            Assert.Contains("\"orders_per_customer_24h\":0", decision.Signals);

            // The merchant's own block rule still applies (its policy is read in a group of its own).
            var response = await m.PostAsync("/v1/orders", Order(dear, "sf-3"));
            var blocked = Json.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            Assert.Equal("risk_blocked", (string?)blocked["code"]);
            Assert.Equal("dear", (string?)blocked["rule_id"]);
            var evt = await LastDecisionEventAsync();
            Assert.Equal((string?)blocked["decision_id"], (string?)evt["id"]);
            Assert.Equal(["entitlements"], evt["unavailable"]!.AsArray().Select(x => (string?)x));
        }
        finally
        {
            await server.QueryAsync(d => d.Database.ExecuteSqlRawAsync("ALTER TABLE entitlements_unavailable RENAME TO entitlements"));
        }

        var again = await m.PostOkAsync("/v1/orders", Order(cheap, "sf-4"));
        Assert.Null(again["payment"]);
        var back = await LastDecisionEventAsync();
        Assert.Equal("owned_known", (string?)back["rule_id"]);
        Assert.Empty(back["unavailable"]!.AsArray());
    }
}
