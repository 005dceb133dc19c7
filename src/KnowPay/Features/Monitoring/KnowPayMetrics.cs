using System.Diagnostics;
using System.Diagnostics.Metrics;
using KnowPay.Data;

namespace KnowPay.Features.Monitoring;

/// <summary>
/// Business metrics on the "KnowPay" meter (exported at /metrics as knowpay_*). Call sites are one line each;
/// success rate is derived: succeeded ÷ (succeeded + failed) per provider, or from the alert evaluator's database view.
/// </summary>
public static class KnowPayMetrics
{
    public const string MeterName = "KnowPay";
    public static readonly ActivitySource Source = new(MeterName);
    static readonly Meter Meter = new(MeterName);

    static readonly Counter<long> Created = Meter.CreateCounter<long>("knowpay.payments.created", "{payment}", "Payments started at a provider");
    static readonly Counter<long> Succeeded = Meter.CreateCounter<long>("knowpay.payments.succeeded", "{payment}", "Payments confirmed (notification or query)");
    static readonly Counter<long> Failed = Meter.CreateCounter<long>("knowpay.payments.failed", "{payment}", "Payments failed at the provider, or refused by it at start");
    static readonly Histogram<double> ConfirmationLatency = Meter.CreateHistogram<double>("knowpay.payment.confirmation.latency", "s",
        "Provider paid time to KnowPay confirmed", advice: new() { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900] });
    /// <summary>Notification handling is a few ms when healthy: 1 ms steps to 10 ms, then 12.5–50 ms in 2.5–10 ms steps, so
    /// p50/p99 interpolated from the buckets (the benchmark reads them here) are within a bucket's width of exact.</summary>
    static readonly double[] NotificationBuckets =
        [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03, 0.04, 0.05,
         0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5];
    static readonly Histogram<double> NotificationDuration = Meter.CreateHistogram<double>("knowpay.notification.duration", "s",
        "Time to handle a provider notification", advice: new() { HistogramBucketBoundaries = NotificationBuckets });
    static readonly Histogram<double> ProviderCallDuration = Meter.CreateHistogram<double>("knowpay.provider.call.duration", "s",
        "Provider API calls as KnowPay sees them, retries included", advice: new() { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20] });
    static readonly Counter<long> Refunds = Meter.CreateCounter<long>("knowpay.refunds", "{refund}", "Refunds by outcome");
    static readonly Counter<long> RiskDecisions = Meter.CreateCounter<long>("knowpay.risk.decisions", "{decision}", "Risk decisions: allow, review, block");
    static readonly Histogram<double> OutboxDeliveryLatency = Meter.CreateHistogram<double>("knowpay.outbox.delivery.latency", "s",
        "Event created to delivered to the platform", advice: new() { HistogramBucketBoundaries = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600] });
    static readonly Counter<long> JobItemFailures = Meter.CreateCounter<long>("knowpay.jobs.item_failures", "{item}",
        "Items (a payment, refund, payout, rule) a job could not process; the job went on with the others");
    static readonly Counter<long> AlertTransitions = Meter.CreateCounter<long>("knowpay.alerts.transitions", "{alert}", "Alerts fired or resolved by this node");

    static OutboxBacklogProbe? backlog;

    static KnowPayMetrics()
    {
        Meter.CreateObservableGauge("knowpay.outbox.backlog", () => backlog?.Read().Undelivered ?? 0, "{delivery}", "Webhook deliveries pending, plus events not yet fanned out (from the database, cached 5 s)");
        Meter.CreateObservableGauge("knowpay.outbox.oldest_age", () => backlog?.Read().OldestAgeSeconds ?? 0, "s", "Age of the oldest pending delivery or event not yet fanned out");
    }

    public static void PaymentCreated(Payment p) =>
        Created.Add(1, new("provider", p.Provider), new("method", p.Method));

    /// <summary>Once per payment, when its confirmation commits. Latency: provider's paid time → our commit (0 if the provider's clock is ahead).</summary>
    public static void PaymentSucceeded(Payment p, DateTime? providerPaidAt, DateTime confirmedAt, string via)
    {
        Succeeded.Add(1, new("provider", p.Provider), new("method", p.Method));
        if (providerPaidAt is { } paid)
            ConfirmationLatency.Record(Math.Max(0, (confirmedAt - paid).TotalSeconds), new("provider", p.Provider), new("via", via));
    }

    public static void PaymentFailed(string provider, string method, string reason) =>
        Failed.Add(1, new("provider", provider), new("method", method), new("reason", reason));

    public static void NotificationHandled(string provider, int status, TimeSpan elapsed) =>
        NotificationDuration.Record(elapsed.TotalSeconds, new("provider", provider), new("status", status >= 500 ? "5xx" : status >= 400 ? "4xx" : "2xx"));

    public static void ProviderCall(string provider, string status, TimeSpan elapsed) =>
        ProviderCallDuration.Record(elapsed.TotalSeconds, new("provider", provider), new("status", status));

    /// <summary>For the refunds feature: outcome is pending, succeeded or failed.</summary>
    public static void Refund(string provider, string outcome) => Refunds.Add(1, new("provider", provider), new("outcome", outcome));

    /// <summary>For the risk feature: decision is allow, review or block.</summary>
    public static void RiskDecision(string decision) => RiskDecisions.Add(1, new KeyValuePair<string, object?>("decision", decision));

    /// <summary>For the outbox dispatcher: once per successful delivery.</summary>
    public static void OutboxDelivered(string eventType, TimeSpan sinceCreated) =>
        OutboxDeliveryLatency.Record(Math.Max(0, sinceCreated.TotalSeconds), new KeyValuePair<string, object?>("type", eventType));

    /// <summary>One item of a job failed for one merchant; the job carried on with the other items and merchants.</summary>
    public static void JobItemFailed(string job, string merchantId) => JobItemFailures.Add(1, new("job", job), new("merchant", merchantId));

    public static void AlertTransition(string rule, string state) => AlertTransitions.Add(1, new("rule", rule), new("state", state));

    /// <summary>The process-wide gauges read the backlog of the last server started in this process (one in production).</summary>
    internal static void UseOutboxBacklog(OutboxBacklogProbe probe) => backlog = probe;

    internal static void ReleaseOutboxBacklog(OutboxBacklogProbe probe) => Interlocked.CompareExchange(ref backlog, null, probe);
}
