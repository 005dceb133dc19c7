using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Features.Monitoring;
using KnowPay.Features.Risk;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Security;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Risk;

/// <summary>
/// A rate is judged against its own hour of day once that hour has learnt Risk:Anomaly:MinSameHourSamples (7) days, and
/// against the every-hour baseline before. Three merchants get baselines of risk_block_rate whose hour of day differs
/// from their pool, then the same window: 12 of 40 risk decisions blocked (30 %) in one hour. By hand (z = (rate − p0) ÷
/// √(s(1 − s) ÷ 40), s = (hits + 1) ÷ (total + 2)):
/// <list type="bullet">
/// <item>warm, pool 2 % (20/1000), hour 30 % (60/200, 7 days): against its hour z = 0 → no alert (against the pool it
/// would be z = 12.4 and +28 points);</item>
/// <item>cold, the same but 6 days: against the pool z = 12.4, +28 points → fires with threshold 2 %, every_hour;</item>
/// <item>warm, pool 30 % (300/1000), hour 2 % (4/200, 7 days): against its hour z = 11.4, +28 points → fires with
/// threshold 2 %, same_hour (against the pool it would be z = 0).</item>
/// </list>
/// </summary>
[Collection("server")]
public sealed class SameHourAnomalyTests(Servers servers)
{
    static readonly Dictionary<string, string?> Settings = new()
    {
        ["Risk:Enabled"] = "true",
        ["Risk:Anomaly:MinAttempts"] = "20",
        ["Risk:Anomaly:MinBaselineAttempts"] = "60",
        ["Alerts:Rules:0:Name"] = "outbox_lag",
        ["Alerts:Rules:0:Kind"] = "outbox_lag",
        ["Alerts:Rules:0:Threshold"] = "1000000",
    };

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ABlockRateNormalAtItsHourOfDay_IsJudgedAgainstThatHourOnceWarm_AndAgainstThePoolBefore(Db db)
    {
        _ = servers;
        var clock = new SuccessRateAnomalyTests.ShiftedClock();
        var hour = AnomalyBaselines.Hour(DateTime.UtcNow).AddHours(1);
        clock.MoveTo(hour);
        await using var server = await KnowPayServer.StartAsync(db, Settings, clock);
        var warm = await server.NewMerchantAsync();
        var cold = await server.NewMerchantAsync();
        var calmHour = await server.NewMerchantAsync();
        await Baselines(server, warm.MerchantId, hour, pool: (1000, 20), sameHour: (200, 60), days: 7);
        await Baselines(server, cold.MerchantId, hour, pool: (1000, 20), sameHour: (200, 60), days: 6);
        await Baselines(server, calmHour.MerchantId, hour, pool: (1000, 300), sameHour: (200, 4), days: 7);

        foreach (var m in new[] { warm, cold, calmHour })
        {
            var rules = await m.Http.PutAsync("/v1/risk/rules", JsonContent.Create(new { rules = new[] { new { id = "dear", rule = "block if :amount: > 5000" } } }));
            Assert.True(rules.IsSuccessStatusCode, await rules.Content.ReadAsStringAsync());
            var cheap = (await m.CourseAsync(7000, (1000, "CNY"))).ProductId;
            var dear = (await m.CourseAsync(7000, (9900, "CNY"))).ProductId;
            // 40 orders in the hour, one risk decision each; every dear one (12) is blocked.
            for (var i = 0; i < 40; i++)
            {
                clock.MoveTo(hour.AddMinutes(1 + i));
                var response = await m.PostAsync("/v1/orders", new
                {
                    customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..10], product_id = i % 10 < 3 ? dear : cheap, currency = "CNY",
                });
                if (i % 10 < 3) Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
                else Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            }
        }
        // The window is exactly the hour, so it covers one hour of day.
        clock.MoveTo(hour.AddHours(1));
        await server.RunJobAsync("alert_evaluator", hour.AddHours(1));

        var alerts = await server.QueryAsync(d => d.Alerts.AsNoTracking().ToListAsync());
        Assert.DoesNotContain(alerts, a => a.MerchantId == warm.MerchantId);
        var pooled = Assert.Single(alerts, a => a.MerchantId == cold.MerchantId);
        var own = Assert.Single(alerts, a => a.MerchantId == calmHour.MerchantId);
        foreach (var (alert, baseline) in new[] { (pooled, "every_hour"), (own, "same_hour") })
        {
            Assert.Equal("risk_block_rate_anomaly", alert.Rule);
            Assert.Equal(AnomalyMetric.AllProviders, alert.Subject);
            Assert.Equal(0.3, alert.Value, 9);
            Assert.Equal(0.02, alert.Threshold, 9);
            Assert.Equal(baseline, alert.Baseline);
            var fired = await server.QueryAsync(d => d.Events.AsNoTracking().SingleAsync(e => e.MerchantId == alert.MerchantId && e.Type == "alert.fired"));
            Assert.Equal(baseline, (string?)JsonNode.Parse(fired.Data)!["baseline"]);
        }
        Assert.Contains("against the every-hour baseline (these hours of day have learnt 6 of 7 days)", pooled.Message);
        Assert.Contains("against the same hours of day's baseline", own.Message);

        // The dashboard says which baseline, as the merchant's operator reads it.
        using var browser = DashboardLogoutTests.Browser(server);
        var cookie = await DashboardLogoutTests.SignInAsync(browser, calmHour.Secret);
        var snapshot = JsonNode.Parse(await (await DashboardLogoutTests.SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", cookie)).Content.ReadAsStringAsync())!;
        var shown = Assert.Single(snapshot["alerts"]!.AsArray());
        Assert.Equal("Risk blocked 30% of decisions, far above the usual 2% at this hour of day", (string?)shown!["message"]);
    }

    /// <summary>A merchant's risk-block-rate baselines as the fold would have left them: pooled, and the hour of day of <paramref name="hour"/>.</summary>
    static Task Baselines(KnowPayServer server, string merchantId, DateTime hour, (double Total, double Hits) pool, (double Total, double Hits) sameHour, int days) =>
        server.QueryAsync(async d =>
        {
            ProviderBaseline Row(int hourOfDay, (double Total, double Hits) t, double hours, int samples) => new()
            {
                MerchantId = merchantId, Provider = AnomalyMetric.AllProviders, Metric = AnomalyMetric.RiskBlockRate.Name, HourOfDay = hourOfDay,
                Total = t.Total, Hits = t.Hits, Hours = hours, Samples = samples, FoldedThrough = hour.AddHours(-1),
            };
            d.AddRange(Row(AnomalyMetric.EveryHour, pool, 24 * days, 24 * days), Row(hour.Hour, sameHour, days, days));
            return await d.SaveChangesAsync();
        });
}
