using System.Net;
using System.Net.Http.Json;
using KnowPay.Features.Monitoring;
using KnowPay.Features.Risk;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Risk;

/// <summary>
/// The refund-rate and risk-block-rate anomalies through the same baselines job and alert engine as the success rate, on a
/// shifted clock (see <see cref="SuccessRateAnomalyTests"/>): two baseline hours, then a surge. Refunds: 10 % of paid
/// payments refunded, then 50 % for an hour → exactly one refund_rate_anomaly, resolved in the hour after. Blocks: 2 of
/// ~80 decisions an hour, then 30 → exactly one risk_block_rate_anomaly. Volume stays steady, so no other alert fires.
/// </summary>
[Collection("server")]
public sealed class AnomalyAlertTests(Servers servers)
{
    static Dictionary<string, string?> Settings(bool risk) => new()
    {
        ["Risk:Enabled"] = risk ? "true" : "false",
        ["Risk:Anomaly:MinAttempts"] = "20",
        ["Risk:Anomaly:MinBaselineAttempts"] = "60",
        ["Alerts:Rules:0:Name"] = "outbox_lag",
        ["Alerts:Rules:0:Kind"] = "outbox_lag",
        ["Alerts:Rules:0:Threshold"] = "1000000",
    };

    /// <summary>A shifted-clock server with one merchant; Step moves the clock, then every fifth call runs the jobs as the runner would.</summary>
    sealed class Hours(KnowPayServer server, SuccessRateAnomalyTests.ShiftedClock clock, MerchantClient m) : IAsyncDisposable
    {
        public KnowPayServer Server => server;
        public MerchantClient Merchant => m;
        public List<Alert> Seen { get; } = [];
        int steps;

        public async Task StepAsync(DateTime at)
        {
            clock.MoveTo(at);
            if (++steps % 5 == 0) await EvaluateAsync();
        }

        public async Task EvaluateAsync()
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await server.RunJobAsync("risk_anomaly_baselines", now);
            await server.RunJobAsync("alert_evaluator", now);
            Seen.Clear();
            Seen.AddRange(await server.QueryAsync(d => d.Alerts.AsNoTracking().Where(a => a.MerchantId == m.MerchantId).ToListAsync()));
        }

        public async Task EndHourAsync(DateTime start)
        {
            clock.MoveTo(start.AddHours(1));
            await EvaluateAsync();
        }

        public ValueTask DisposeAsync() => server.DisposeAsync();
    }

    static async Task<Hours> StartAsync(Db db, bool risk, DateTime h1)
    {
        var clock = new SuccessRateAnomalyTests.ShiftedClock();
        clock.MoveTo(h1);
        var server = await KnowPayServer.StartAsync(db, Settings(risk), clock);
        return new Hours(server, clock, await server.NewMerchantAsync());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundRateRisesFrom10To50PercentForAnHour_OneAlertFiresAndResolves(Db db)
    {
        _ = servers;
        var h1 = AnomalyBaselines.Hour(DateTime.UtcNow).AddHours(1);
        await using var hours = await StartAsync(db, risk: false, h1);
        var m = hours.Merchant;
        var course = (await m.CourseAsync()).ProductId;

        // 40 paid payments an hour, every refundEvery-th refunded right away.
        async Task Hour(DateTime start, int refundEvery)
        {
            for (var i = 0; i < 40; i++)
            {
                await hours.StepAsync(start.AddMinutes(60.0 * i / 40));
                var payment = await PaidAsync(m, course);
                if (i % refundEvery == 0) await m.PostOkAsync($"/v1/payments/{payment}/refunds", new { amount = 100 });
            }
            await hours.EndHourAsync(start);
        }

        await Hour(h1, 10);
        await Hour(h1.AddHours(1), 10);
        Assert.Empty(hours.Seen);
        var baselines = await hours.Server.QueryAsync(d => d.Set<ProviderBaseline>().AsNoTracking()
            .Where(b => b.MerchantId == m.MerchantId && b.Metric == AnomalyMetric.RefundRate.Name).ToListAsync());
        // The first hour (4 refunds of 40 paid), learnt by the pooled baseline and by its own hour of day's.
        var pooled = Assert.Single(baselines, b => b.HourOfDay == AnomalyMetric.EveryHour);
        Assert.Equal(0.1, pooled.Baseline.Rate, 9);
        var sameHour = Assert.Single(baselines, b => b.HourOfDay == h1.Hour);
        Assert.Equal(0.1, sameHour.Baseline.Rate, 9);
        Assert.Equal(1, sameHour.Samples);

        await Hour(h1.AddHours(2), 2);
        var alert = Assert.Single(hours.Seen);
        Assert.Equal("refund_rate_anomaly", alert.Rule);
        Assert.Equal("sandbox", alert.Subject);
        Assert.Null(alert.ResolvedAt);
        Assert.InRange(alert.FiredAt, h1.AddHours(2), h1.AddHours(3));
        Assert.Equal(0.1, alert.Threshold, 9);   // the baseline rate it rose from
        Assert.Equal("every_hour", alert.Baseline);   // h1's hour of day has learnt one day, not Risk:Anomaly:MinSameHourSamples
        Assert.True(alert.Value >= alert.Threshold + 0.1, $"fired at a refund rate of {alert.Value}");

        await Hour(h1.AddHours(3), 10);
        var after = Assert.Single(hours.Seen);
        Assert.Equal(alert.Id, after.Id);
        Assert.InRange(after.ResolvedAt!.Value, h1.AddHours(3), h1.AddHours(4));
        // The surge hour was not learnt: the baseline is still the 10 % of the calm hours.
        var frozen = await hours.Server.QueryAsync(d => d.Set<ProviderBaseline>().AsNoTracking()
            .SingleAsync(b => b.MerchantId == m.MerchantId && b.Metric == AnomalyMetric.RefundRate.Name && b.HourOfDay == AnomalyMetric.EveryHour));
        Assert.Equal(0.1, frozen.Baseline.Rate, 9);
        Assert.Equal(1, await Events(hours.Server, m.MerchantId, "alert.fired"));
        Assert.Equal(1, await Events(hours.Server, m.MerchantId, "alert.resolved"));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RiskBlocksRiseFrom2To30AnHour_OneAlertFires(Db db)
    {
        _ = servers;
        var h1 = AnomalyBaselines.Hour(DateTime.UtcNow).AddHours(1);
        await using var hours = await StartAsync(db, risk: true, h1);
        var m = hours.Merchant;
        var rules = await m.Http.PutAsync("/v1/risk/rules", JsonContent.Create(new { rules = new[] { new { id = "dear", rule = "block if :amount: > 5000" } } }));
        Assert.True(rules.IsSuccessStatusCode, await rules.Content.ReadAsStringAsync());
        var cheap = (await m.CourseAsync(7000, (1000, "CNY"))).ProductId;
        var dear = (await m.CourseAsync(7000, (9900, "CNY"))).ProductId;

        // 40 paid orders an hour (an order and a payment decision each) and `blocked` orders the rule blocks.
        async Task Hour(DateTime start, int blocked)
        {
            var schedule = Enumerable.Range(0, 40).Select(i => (At: start.AddMinutes(60.0 * i / 40), Dear: false))
                .Concat(Enumerable.Range(0, blocked).Select(i => (At: start.AddMinutes(60.0 * (i + 0.5) / blocked), Dear: true))).OrderBy(x => x.At);
            foreach (var (at, isDear) in schedule)
            {
                await hours.StepAsync(at);
                if (!isDear) await PaidAsync(m, cheap);
                else
                {
                    var refused = await m.PostAsync("/v1/orders", new { customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..10], product_id = dear, currency = "CNY" });
                    Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
                }
            }
            await hours.EndHourAsync(start);
        }

        await Hour(h1, 2);
        await Hour(h1.AddHours(1), 2);
        Assert.Empty(hours.Seen);
        await Hour(h1.AddHours(2), 30);
        var alert = Assert.Single(hours.Seen);
        Assert.Equal("risk_block_rate_anomaly", alert.Rule);
        Assert.Equal(AnomalyMetric.AllProviders, alert.Subject);
        Assert.InRange(alert.FiredAt, h1.AddHours(2), h1.AddHours(3));
        Assert.InRange(alert.Threshold, 2.0 / 82, 2.0 / 42);   // 2 blocked of 40 orders and their payments
        Assert.True(alert.Value >= alert.Threshold + 0.1, $"fired at a block rate of {alert.Value}");
        Assert.Equal(1, await Events(hours.Server, m.MerchantId, "alert.fired"));
    }

    /// <summary>An order, a SandboxPay payment the buyer pays; returns the payment's id once it has succeeded.</summary>
    static async Task<string> PaidAsync(MerchantClient m, string course)
    {
        var order = await m.OrderAsync(course, customer: "learner-" + Guid.NewGuid().ToString("N")[..10]);
        var payment = (string)(await m.PaymentAsync((string)order["id"]!))["id"]!;
        await m.BuyerPaysAsync(payment);
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((string?)(await m.GetOkAsync($"/v1/payments/{payment}"))["status"] != "succeeded")
        {
            Assert.True(DateTime.UtcNow < until, $"payment {payment} not succeeded after 10 s");
            await Task.Delay(20);
        }
        return payment;
    }

    static Task<int> Events(KnowPayServer server, string merchantId, string type) =>
        server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == merchantId && e.Type == type));
}
