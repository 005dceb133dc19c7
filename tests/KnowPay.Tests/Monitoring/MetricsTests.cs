using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Monitoring;

[Collection("server")]
public sealed class MetricsTests
{
    [SkippableFact]
    public async Task Metrics_AfterFivePaymentsOfWhichThreePaid_ExposeExactBusinessCounts()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Sqlite);
        var m = await server!.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var payments = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var order = await m.OrderAsync(productId, customer: $"learner-{i}");
            payments.Add((string)(await m.PaymentAsync((string)order["id"]!, method: i == 4 ? "page" : "qr"))["id"]!);
        }
        for (var i = 0; i < 3; i++)
        {
            await m.BuyerPaysAsync(payments[i]);
            var payment = await m.GetOkAsync($"/v1/payments/{payments[i]}");
            await m.WaitForOrderAsync((string)payment["order_id"]!, "paid");
        }

        var text = await server.Anonymous.GetStringAsync("/metrics");
        Assert.Equal(4, Prometheus.Value(text, "knowpay_payments_created_total", ("provider", "sandbox"), ("method", "qr")));
        Assert.Equal(1, Prometheus.Value(text, "knowpay_payments_created_total", ("provider", "sandbox"), ("method", "page")));
        Assert.Equal(3, Prometheus.Value(text, "knowpay_payments_succeeded_total", ("provider", "sandbox"), ("method", "qr")));
        Assert.Equal(0, Prometheus.Value(text, "knowpay_payments_failed_total"));
        Assert.Equal(3, Prometheus.Value(text, "knowpay_payment_confirmation_latency_seconds_count", ("provider", "sandbox"), ("via", "notification")));
        Assert.Equal(3, Prometheus.Value(text, "knowpay_notification_duration_seconds_count", ("provider", "sandbox"), ("status", "2xx")));
        // 5 trade creations, each one provider call answered 200.
        Assert.Equal(5, Prometheus.Value(text, "knowpay_provider_call_duration_seconds_count", ("provider", "sandbox"), ("status", "200")));
        Assert.Contains("knowpay_outbox_backlog", text);
        Assert.Contains("http_server_request_duration_seconds", text);
    }
}
