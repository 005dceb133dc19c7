using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Features.Risk;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Security;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Risk;

/// <summary>
/// Four simulated hours on a shifted clock (the server's and its sandbox's TimeProvider): two at the sandbox's usual
/// 98 % success (the baseline), one at 60 % (POST /sandbox/faults {success_rate}), one recovered. The jobs run as the real
/// runner would, every few payments. A busy merchant (40 payments an hour) gets exactly one success_rate_anomaly alert in
/// the bad hour, resolved in the recovered one; a quiet merchant with the same baseline but 10 payments in the bad hour
/// (under Risk:Anomaly:MinAttempts) gets none.
/// </summary>
[Collection("server")]
public sealed class SuccessRateAnomalyTests(Servers servers)
{
    static readonly Dictionary<string, string?> Settings = new()
    {
        ["Risk:Enabled"] = "false",
        ["Risk:Anomaly:MinAttempts"] = "20",
        ["Risk:Anomaly:MinBaselineAttempts"] = "60",
        // The quiet merchant's volume moves on purpose here; volume is judged in AnomalyAlertTests.
        ["Risk:Anomaly:VolumeFactor"] = "0",
        // Only the anomaly judges success here: the fixed 80 % rule would fire on a 60 % hour as well.
        ["Alerts:Rules:0:Name"] = "outbox_lag",
        ["Alerts:Rules:0:Kind"] = "outbox_lag",
        ["Alerts:Rules:0:Threshold"] = "1000000",
    };

    /// <summary>The system clock moved by an offset the test sets; timers run in real time.</summary>
    internal sealed class ShiftedClock : TimeProvider
    {
        TimeSpan offset;
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
        /// <summary>Moves the clock to <paramref name="at"/>, never back.</summary>
        public void MoveTo(DateTime at)
        {
            var now = GetUtcNow().UtcDateTime;
            if (at > now) offset += at - now;
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SuccessRateDropsFrom98To60ForAnHour_OneAlertFiresAndResolves_NoneAtLowVolume(Db db)
    {
        _ = servers;
        var clock = new ShiftedClock();
        var h1 = AnomalyBaselines.Hour(DateTime.UtcNow).AddHours(1);
        clock.MoveTo(h1);
        await using var server = await KnowPayServer.StartAsync(db, Settings, clock);
        var busy = await server.NewMerchantAsync();
        var quiet = await server.NewMerchantAsync();
        var busyCourse = (await busy.CourseAsync()).ProductId;
        var quietCourse = (await quiet.CourseAsync()).ProductId;
        var fired = new List<DateTime>();
        var resolved = new List<DateTime>();

        async Task Evaluate()
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await server.RunJobAsync("risk_anomaly_baselines", now);
            await server.RunJobAsync("alert_evaluator", now);
            var alerts = await server.QueryAsync(d => d.Alerts.AsNoTracking().Where(a => a.MerchantId == busy.MerchantId || a.MerchantId == quiet.MerchantId).ToListAsync());
            Assert.DoesNotContain(alerts, a => a.MerchantId == quiet.MerchantId);
            foreach (var a in alerts.Where(a => !fired.Contains(a.FiredAt))) fired.Add(a.FiredAt);
            foreach (var a in alerts.Where(a => a.ResolvedAt is { } r && !resolved.Contains(r))) resolved.Add(a.ResolvedAt!.Value);
        }

        // One hour: each merchant's payments at even steps between two minutes of it; the jobs run after every fifth.
        async Task Hour(DateTime start, double successRate, (MerchantClient M, string Course, int Count, double From, double To)[] traffic)
        {
            var faults = await server.Anonymous.PostAsJsonAsync("/sandbox/faults", new { success_rate = successRate });
            Assert.True(faults.IsSuccessStatusCode);
            var schedule = traffic.SelectMany(t => Enumerable.Range(0, t.Count).Select(i => (t.M, t.Course, At: start.AddMinutes(t.From + (t.To - t.From) * i / t.Count))))
                .OrderBy(x => x.At).ToList();
            for (var i = 0; i < schedule.Count; i++)
            {
                clock.MoveTo(schedule[i].At);
                await PayAsync(schedule[i].M, schedule[i].Course);
                if (i % 5 == 4) await Evaluate();
            }
            clock.MoveTo(start.AddHours(1));
            await Evaluate();
        }

        // The quiet merchant's baseline traffic comes in each hour's first 20 minutes and its later traffic after minute 20,
        // so that its window never mixes the two: it holds 98 % payments or fewer than MinAttempts.
        await Hour(h1, 0.98, [(busy, busyCourse, 40, 0, 60), (quiet, quietCourse, 40, 0, 20)]);
        await Hour(h1.AddHours(1), 0.98, [(busy, busyCourse, 40, 0, 60), (quiet, quietCourse, 40, 0, 20)]);
        Assert.Empty(fired);
        var baseline = await server.QueryAsync(d => d.Set<ProviderBaseline>().AsNoTracking().SingleAsync(b => b.MerchantId == busy.MerchantId && b.Metric == AnomalyMetric.SuccessRate.Name && b.HourOfDay == AnomalyMetric.EveryHour));
        Assert.Equal("sandbox", baseline.Provider);
        Assert.InRange(baseline.Baseline.Rate, 0.97, 1.0);   // the first hour (the second is within its grace): 39 or 40 of 40
        Assert.InRange(baseline.Baseline.HourlyVolume, 39.9, 40.1);   // 40 an hour

        await Hour(h1.AddHours(2), 0.60, [(busy, busyCourse, 40, 0, 60), (quiet, quietCourse, 10, 20, 60)]);
        var alert = Assert.Single(await server.QueryAsync(d => d.Alerts.AsNoTracking().Where(a => a.MerchantId == busy.MerchantId).ToListAsync()));
        Assert.Equal("success_rate_anomaly", alert.Rule);
        Assert.Equal("sandbox", alert.Subject);
        Assert.Null(alert.ResolvedAt);
        Assert.InRange(alert.FiredAt, h1.AddHours(2), h1.AddHours(3));
        Assert.InRange(alert.Threshold, 0.97, 1.0);   // the baseline rate it fell from
        Assert.Equal("every_hour", alert.Baseline);   // its hour of day has learnt one day of Risk:Anomaly:MinSameHourSamples
        Assert.True(alert.Value <= alert.Threshold - 0.1, $"fired at a success rate of {alert.Value}");   // the window's rate when it fired
        Assert.Single(fired);
        // The quiet merchant's silence in that hour is the low volume's, not a missing baseline's: its two 98 % hours were
        // learnt, enough to judge against (MinBaselineAttempts = 60), so only its 10 payments (under MinAttempts) kept it quiet.
        var quietBaseline = await server.QueryAsync(d => d.Set<ProviderBaseline>().AsNoTracking().SingleAsync(b => b.MerchantId == quiet.MerchantId && b.Metric == AnomalyMetric.SuccessRate.Name && b.HourOfDay == AnomalyMetric.EveryHour));
        Assert.Equal("sandbox", quietBaseline.Provider);
        Assert.InRange(quietBaseline.Baseline.Rate, 0.97, 1.0);
        Assert.True(quietBaseline.Baseline.Total >= 60, $"the quiet merchant's baseline holds {quietBaseline.Baseline.Total} attempts");

        // Visible on the dashboard, as the merchant's operator sees it.
        using var browser = DashboardLogoutTests.Browser(server);
        var cookie = await DashboardLogoutTests.SignInAsync(browser, busy.Secret);
        var snapshot = JsonNode.Parse(await (await DashboardLogoutTests.SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", cookie)).Content.ReadAsStringAsync())!;
        var shown = Assert.Single(snapshot["alerts"]!.AsArray());
        Assert.Equal("success_rate_anomaly", (string?)shown!["rule"]);
        Assert.Equal("firing", (string?)shown["status"]);

        await Hour(h1.AddHours(3), 0.98, [(busy, busyCourse, 40, 0, 60), (quiet, quietCourse, 10, 20, 60)]);
        var after = Assert.Single(await server.QueryAsync(d => d.Alerts.AsNoTracking().Where(a => a.MerchantId == busy.MerchantId).ToListAsync()));
        Assert.Equal(alert.Id, after.Id);
        Assert.NotNull(after.ResolvedAt);
        Assert.InRange(after.ResolvedAt!.Value, h1.AddHours(3), h1.AddHours(4));
        // Resolved once the window was no longer MinRateChange below the baseline, which the bad hour did not drag down.
        Assert.True(after.Value > after.Threshold - 0.1, $"resolved at a success rate of {after.Value} against {after.Threshold}");
        var frozen = await server.QueryAsync(d => d.Set<ProviderBaseline>().AsNoTracking().SingleAsync(b => b.MerchantId == busy.MerchantId && b.Metric == AnomalyMetric.SuccessRate.Name && b.HourOfDay == AnomalyMetric.EveryHour));
        Assert.InRange(frozen.Baseline.Rate, 0.97, 1.0);
        Assert.Equal(1, await Events(server, busy.MerchantId, "alert.fired"));
        Assert.Equal(1, await Events(server, busy.MerchantId, "alert.resolved"));
        Assert.Equal(0, await Events(server, quiet.MerchantId, "alert.fired"));
        Assert.Single(fired);
        Assert.Single(resolved);
    }

    /// <summary>An order, a SandboxPay payment, the buyer pays; returns once the sandbox's answer (paid or declined) has arrived.</summary>
    static async Task PayAsync(MerchantClient m, string course)
    {
        var order = await m.OrderAsync(course, customer: "learner-" + Guid.NewGuid().ToString("N")[..10]);
        var payment = (string)(await m.PaymentAsync((string)order["id"]!))["id"]!;
        await m.BuyerPaysAsync(payment);
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((string?)(await m.GetOkAsync($"/v1/payments/{payment}"))["status"] == "pending")
        {
            Assert.True(DateTime.UtcNow < until, $"payment {payment} still pending after 10 s");
            await Task.Delay(20);
        }
    }

    static Task<int> Events(KnowPayServer server, string merchantId, string type) =>
        server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == merchantId && e.Type == type));
}
