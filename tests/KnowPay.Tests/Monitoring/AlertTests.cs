using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Monitoring;

/// <summary>
/// Fault injected: a SandboxPay outage. The sandbox drops its notifications and answers every API call with 503, so
/// buyers pay but KnowPay cannot learn it (no notification, queries fail); the payments stay pending past the
/// rule's grace and the provider's success rate falls. When the fault clears, the poller's queries confirm them and
/// the alert resolves. The evaluator runs with the job's "now".
/// </summary>
[Collection("server")]
public sealed class AlertTests(Servers servers)
{
    static readonly Dictionary<string, string?> Rules = new()
    {
        ["Alerts:Rules:0:Name"] = "sandbox_success_rate",
        ["Alerts:Rules:0:Kind"] = "success_rate",
        ["Alerts:Rules:0:Provider"] = "sandbox",
        ["Alerts:Rules:0:Threshold"] = "0.8",
        ["Alerts:Rules:0:WindowSeconds"] = "600",
        ["Alerts:Rules:0:MinCount"] = "5",
        ["Alerts:Rules:0:PendingGraceSeconds"] = "60",
    };

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SuccessRateAlert_FiresDuringASandboxOutage_AndResolvesWhenItRecovers(Db db)
    {
        _ = servers;
        await using var server = await KnowPayServer.StartAsync(db, Rules);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
            ids.Add((string)(await m.PaymentAsync((string)(await m.OrderAsync(productId, customer: $"l{i}"))["id"]!))["id"]!);

        var faults = server.Services.GetRequiredService<SandboxFaults>();
        faults.Set(null, new FaultSettings(DropNotifications: true, ApiError5xx: true));
        foreach (var id in ids) await m.BuyerPaysAsync(id);
        var t0 = DateTime.UtcNow;

        Assert.Equal(0, await server.RunJobAsync("alert_evaluator", t0)); // within grace: nothing settled yet
        await server.RunJobAsync("payment_poller", t0.AddMinutes(2));      // queries answered 503: still pending
        Assert.Equal(1, await server.RunJobAsync("alert_evaluator", t0.AddMinutes(2)));
        var alert = await server.QueryAsync(d => d.Alerts.SingleAsync(a => a.MerchantId == m.MerchantId));
        Assert.Equal("sandbox", alert.Subject);
        Assert.Equal(0, alert.Value);
        Assert.Null(alert.ResolvedAt);
        Assert.Equal(0, await server.RunJobAsync("alert_evaluator", t0.AddMinutes(2.5))); // still firing: not fired twice
        Assert.Equal(1, await Events(server, m.MerchantId, "alert.fired"));

        faults.Clear();
        await server.RunJobAsync("payment_poller", t0.AddMinutes(4));
        Assert.Equal(5, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId && p.Status == PaymentStatus.Succeeded)));
        Assert.Equal(1, await server.RunJobAsync("alert_evaluator", t0.AddMinutes(4)));
        var resolved = await server.QueryAsync(d => d.Alerts.SingleAsync(a => a.MerchantId == m.MerchantId));
        Assert.NotNull(resolved.ResolvedAt);
        Assert.Equal(1, resolved.Value);
        Assert.Equal(1, await Events(server, m.MerchantId, "alert.resolved"));

        var metrics = await server.Anonymous.GetStringAsync("/metrics");
        Assert.Equal(1, Prometheus.Value(metrics, "knowpay_alerts_transitions_total", ("rule", "sandbox_success_rate"), ("state", "fired")));
        Assert.Equal(1, Prometheus.Value(metrics, "knowpay_alerts_transitions_total", ("rule", "sandbox_success_rate"), ("state", "resolved")));
    }

    static Task<int> Events(KnowPayServer server, string merchantId, string type) =>
        server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == merchantId && e.Type == type));
}
