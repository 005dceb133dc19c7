using System.Net;
using KnowPay.Data;
using KnowPay.Tests.Events;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Monitoring;

/// <summary>
/// The outbox backlog and lag come from the webhook deliveries table: a platform whose receiver is down leaves its
/// deliveries pending (the gauge shows exactly how many, the outbox_lag alert fires once they are older than the rule's
/// threshold, by the job's "now"); once the receiver is back they are delivered, the gauge drops to 0, the delivery
/// latency histogram counts each, and the alert resolves. Refunds count by outcome, and the dashboard's refund figures
/// come from the refunds table.
/// </summary>
[Collection("server")]
public sealed class OutboxAndRefundMetricsTests
{
    static readonly Dictionary<string, string?> LagRules = new()
    {
        ["Alerts:Rules:0:Name"] = "outbox_lag",
        ["Alerts:Rules:0:Kind"] = "outbox_lag",
        ["Alerts:Rules:0:Threshold"] = "300",
        ["Webhooks:RetryBaseSeconds"] = "0.2",
        ["Webhooks:PollMilliseconds"] = "100",
        ["Webhooks:TimeoutSeconds"] = "2",
    };

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OutboxLagAlert_FiresWhileTheReceiverIsDown_AndResolvesOnceDelivered_AndTheBacklogGaugeIsExact(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db, LagRules);
        await using var receiver = await WebhookReceiver.StartAsync();
        await receiver.DownAsync();
        var m = await server.NewMerchantAsync();
        await m.RegisterAsync(receiver, "order.paid");
        var (_, productId) = await m.CourseAsync();
        for (var i = 0; i < 3; i++)
        {
            var order = await m.OrderAsync(productId, customer: $"learner-{i}");
            await m.BuyerPaysAsync((string)(await m.PaymentAsync((string)order["id"]!))["id"]!);
            await m.WaitForOrderAsync((string)order["id"]!, "paid");
        }
        var t0 = DateTime.UtcNow;
        // Each of the 3 order.paid deliveries was tried and failed (connection refused): still pending.
        await WaitAsync(async () => await Deliveries(server, m.MerchantId, d => d.Status == WebhookDelivery.Pending && d.Attempts >= 1) == 3);

        var metrics = await MetricsWhenAsync(server, t => Prometheus.Value(t, "knowpay_outbox_backlog") == 3);
        Assert.InRange(Prometheus.Value(metrics, "knowpay_outbox_oldest_age_seconds"), 0.0, 120.0);
        Assert.Equal(0, Prometheus.Value(metrics, "knowpay_outbox_delivery_latency_seconds_count"));

        Assert.Equal(0, await server.RunJobAsync("alert_evaluator", t0));                 // minutes old at most: below 300 s
        Assert.Equal(1, await server.RunJobAsync("alert_evaluator", t0.AddMinutes(10)));  // 10 minutes later, still undelivered
        var alert = await server.QueryAsync(d => d.Alerts.SingleAsync(a => a.MerchantId == m.MerchantId));
        Assert.Equal(("outbox_lag", "outbox", null), (alert.Kind, alert.Subject, alert.ResolvedAt));
        Assert.InRange(alert.Value, 540.0, 720.0); // deliveries are stamped when the dispatcher fans out, about t0
        Assert.StartsWith("3 webhook deliveries pending; oldest ", alert.Message);
        Assert.Equal(0, await server.RunJobAsync("alert_evaluator", t0.AddMinutes(10.5))); // still firing, not fired twice

        await receiver.UpAsync();
        await receiver.WaitForAsync(events => events.Count(e => e.Type == "order.paid") == 3, 30_000);
        await WaitAsync(async () => await Deliveries(server, m.MerchantId, d => d.Status == WebhookDelivery.Succeeded) == 3);
        Assert.All(receiver.Received, e => Assert.True(e.SignatureValid));

        Assert.Equal(1, await server.RunJobAsync("alert_evaluator", t0.AddMinutes(11)));
        var resolved = await server.QueryAsync(d => d.Alerts.SingleAsync(a => a.MerchantId == m.MerchantId));
        Assert.NotNull(resolved.ResolvedAt);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "alert.fired")));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "alert.resolved")));

        metrics = await MetricsWhenAsync(server, t => Prometheus.Value(t, "knowpay_outbox_backlog") == 0);
        Assert.Equal(3, Prometheus.Value(metrics, "knowpay_outbox_delivery_latency_seconds_count", ("type", "order.paid")));
        Assert.Equal(3, Prometheus.Value(metrics, "knowpay_outbox_delivery_latency_seconds_count"));
        Assert.Equal(0, Prometheus.Value(metrics, "knowpay_outbox_oldest_age_seconds"));
        Assert.Equal(1, Prometheus.Value(metrics, "knowpay_alerts_transitions_total", ("rule", "outbox_lag"), ("state", "fired")));
        Assert.Equal(1, Prometheus.Value(metrics, "knowpay_alerts_transitions_total", ("rule", "outbox_lag"), ("state", "resolved")));
    }

    [SkippableFact]
    public async Task Refunds_AreCountedByOutcome_AndTheDashboardShowsThemFromTheRefundsTable()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Sqlite);
        var m = await server!.NewMerchantAsync();
        var (_, paymentId, _, _) = await m.PaidOrderAsync(9900);

        var text = await server.Anonymous.GetStringAsync("/metrics");
        Assert.Equal(0, Prometheus.Value(text, "knowpay_refunds_total"));

        var first = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 3000, reason = "requested_by_customer" });
        await WaitAsync(async () => (string?)(await m.GetOkAsync($"/v1/refunds/{first["id"]}"))["status"] == "succeeded");
        text = await server.Anonymous.GetStringAsync("/metrics");
        Assert.Equal(1, Prometheus.Value(text, "knowpay_refunds_total", ("provider", "sandbox"), ("outcome", "succeeded")));
        Assert.Equal(1, Prometheus.Value(text, "knowpay_refunds_total"));

        var second = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 2000 });
        await WaitAsync(async () => (string?)(await m.GetOkAsync($"/v1/refunds/{second["id"]}"))["status"] == "succeeded");
        text = await server.Anonymous.GetStringAsync("/metrics");
        Assert.Equal(2, Prometheus.Value(text, "knowpay_refunds_total", ("provider", "sandbox"), ("outcome", "succeeded")));
        Assert.Equal(0, Prometheus.Value(text, "knowpay_refunds_total", ("outcome", "failed")));

        // The dashboard (signed in with the key, as a person would): two refunds of one payment, 50.00 CNY in all.
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(server.BaseUrl) };
        var login = await browser.PostAsync("/dashboard/login", new FormUrlEncodedContent([new("api_key", m.Secret)]));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var snapshot = Json.Parse(await browser.GetStringAsync("/dashboard/snapshot"));
        Assert.Equal(2, (int)snapshot["refunds"]!);
        Assert.Equal("50.00 CNY", (string?)Assert.Single(snapshot["refunded"]!.AsArray()));
    }

    static Task<int> Deliveries(KnowPayServer server, string merchantId, System.Linq.Expressions.Expression<Func<WebhookDelivery, bool>> where) =>
        server.QueryAsync(d => d.WebhookDeliveries.Where(x => x.MerchantId == merchantId).CountAsync(where));

    /// <summary>/metrics once the condition holds (the backlog gauge reads the database at most every 5 s).</summary>
    static async Task<string> MetricsWhenAsync(KnowPayServer server, Func<string, bool> condition, int timeoutMs = 15_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            var text = await server.Anonymous.GetStringAsync("/metrics");
            if (condition(text)) return text;
            Assert.True(DateTime.UtcNow < until, "metrics did not reach the expected values:\n" +
                string.Join('\n', text.Split('\n').Where(l => l.StartsWith("knowpay_outbox", StringComparison.Ordinal))));
            await Task.Delay(250);
        }
    }

    static async Task WaitAsync(Func<Task<bool>> condition, int timeoutMs = 30_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "the condition did not hold before the timeout");
            await Task.Delay(100);
        }
    }
}
