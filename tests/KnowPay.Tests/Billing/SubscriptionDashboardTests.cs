using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Features.Monitoring;
using KnowPay.Tests.Infrastructure;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>The dashboard's subscription figures from subscriptions in every state, read over HTTP as a signed-in person would.</summary>
[Collection("server")]
public sealed class SubscriptionDashboardTests(Servers servers)
{
    static readonly DateTime T0 = new(2028, 1, 15, 10, 0, 0, DateTimeKind.Utc);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Dashboard_CountsActiveAndPastDue_SumsMrrPerCurrencyNormalisedToAMonth_AndChurnThisMonth(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var clockId = await ClockAsync(m, T0);
        var monthly = await PriceAsync(m, 3000);
        var (active, _) = await SubscribeAsync(m, clockId, monthly, T0);
        var (yearly, _) = await SubscribeAsync(m, clockId, await PriceAsync(m, 12000, "year"), T0);
        var (fortnightly, _) = await SubscribeAsync(m, clockId, await PriceAsync(m, 700, "week", 2), T0);
        var (usd, _) = await SubscribeAsync(m, clockId, await PriceAsync(m, 999, "day", 30, "USD"), T0);
        var (pastDue, declining) = await SubscribeAsync(m, clockId, monthly, T0);
        var (churned, _) = await SubscribeAsync(m, clockId, monthly, T0);
        await DeclineNextAsync(server, declining, 50);

        var renewal = new DateTime(2028, 2, 15, 10, 0, 0, DateTimeKind.Utc);
        await AdvanceAsync(m, clockId, renewal);
        var (trialing, _) = await SubscribeAsync(m, clockId, monthly, renewal, trialDays: 14);
        var (incomplete, _) = await SubscribeAsync(m, clockId, monthly, renewal, sign: false);
        await m.PostOkAsync($"/v1/subscriptions/{churned}/cancel", new { at_period_end = false });

        foreach (var id in new[] { active, yearly, fortnightly, usd }) Assert.Equal("active", await StatusAsync(m, id));
        Assert.Equal("past_due", await StatusAsync(m, pastDue));
        Assert.Equal("canceled", await StatusAsync(m, churned));
        Assert.Equal("trialing", await StatusAsync(m, trialing));
        Assert.Equal("incomplete", await StatusAsync(m, incomplete));

        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(server.BaseUrl) };
        var login = await browser.PostAsync("/dashboard/login", new FormUrlEncodedContent([new("api_key", m.Secret)]));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var subs = JsonNode.Parse(await browser.GetStringAsync("/dashboard/snapshot"))!["subscriptions"]!;
        Assert.Equal(4, (int)subs["active"]!);
        Assert.Equal(1, (int)subs["past_due"]!);
        Assert.Equal(1, (int)subs["trialing"]!);
        // CNY: 30.00 + 30.00 (past due still counts) + 120.00 / 12 + 7.00 × 52 / 12 / 2 = 85.1666… → 85.17; USD: 9.99 × 30.4375 / 30 = 10.1358… → 10.14.
        var mrr = subs["mrr"]!.AsArray().Select(x => ((string)x!["currency"]!, (long)x["amount"]!, (string)x["formatted"]!)).ToList();
        Assert.Equal([("CNY", 8517L, "85.17 CNY"), ("USD", 1014L, "$10.14")], mrr);

        // Churn is per calendar month of "now": the test clock's February 2028 (the real month holds none of these subscriptions).
        var february = await server.QueryAsync(d => DashboardSnapshots.SubscriptionsAsync(d, m.MerchantId, renewal.AddDays(3), CancellationToken.None));
        Assert.Equal(6, february.ActiveAtMonthStart);   // the six created in January; the trial and the incomplete one came later
        Assert.Equal(1, february.CanceledThisMonth);
        Assert.Equal(1 / 6.0, february.ChurnRate);
        var march = await server.QueryAsync(d => DashboardSnapshots.SubscriptionsAsync(d, m.MerchantId, new DateTime(2028, 3, 2, 0, 0, 0, DateTimeKind.Utc), CancellationToken.None));
        Assert.Equal((0, 6), (march.CanceledThisMonth, march.ActiveAtMonthStart));   // the trial now counts; the canceled one no longer

        var page = await browser.GetStringAsync("/dashboard?locale=en");
        Assert.Contains("Active subscriptions", page);
        Assert.Contains("id=\"kpi-mrr\"", page);
        var zh = await browser.GetStringAsync("/dashboard?locale=zh-CN");
        Assert.Contains("有效订阅", zh);
        Assert.Contains("流失率", zh);
    }
}
