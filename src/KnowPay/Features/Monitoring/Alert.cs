namespace KnowPay.Features.Monitoring;

/// <summary>
/// A firing (ResolvedAt null) or resolved alert of one merchant. At most one open alert per merchant, rule and subject
/// (a filtered unique index), so any number of nodes evaluating at once fire it once.
/// </summary>
public sealed class Alert
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    /// <summary>The rule's configured name.</summary>
    public required string Rule { get; init; }
    /// <summary>success_rate, pending_backlog, outbox_lag, error_spike, reconciliation_difference, success_rate_anomaly, refund_rate_anomaly,
    /// risk_block_rate_anomaly, order_volume_anomaly.</summary>
    public required string Kind { get; init; }
    /// <summary>What the alert is about: a provider name, "all" (a merchant's risk decisions), or "outbox".</summary>
    public required string Subject { get; init; }
    public double Value { get; set; }
    public double Threshold { get; init; }
    /// <summary>An anomaly's: which baseline Threshold comes from, <c>same_hour</c> (its hours of day) or <c>every_hour</c>
    /// (the pool, while those hours warm up); null for the configured rules.</summary>
    public string? Baseline { get; init; }
    public required string Message { get; set; }
    public DateTime FiredAt { get; init; }
    public DateTime? ResolvedAt { get; set; }
}

public sealed record AlertView(
    string Id, string Object, string Rule, string Kind, string Subject, string Status, double Value, double Threshold,
    string Message, DateTime FiredAt, DateTime? ResolvedAt, string? Baseline = null)
{
    public static AlertView From(Alert a) => new(a.Id, "alert", a.Rule, a.Kind, a.Subject, a.ResolvedAt is null ? "firing" : "resolved",
        a.Value, a.Threshold, a.Message, a.FiredAt, a.ResolvedAt, a.Baseline);
}

/// <summary>
/// One entry of <c>Alerts:Rules</c>. Kinds and what Threshold means:
/// success_rate (fires when succeeded ÷ settled &lt; Threshold with at least MinCount settled payments in the window;
/// a payment still pending PendingGraceSeconds after creation counts as settled and not succeeded),
/// pending_backlog (payments pending longer than PendingGraceSeconds ≥ Threshold: notifications not arriving),
/// error_spike (failed payments in the window ≥ Threshold), outbox_lag (oldest pending webhook delivery older than Threshold s),
/// reconciliation_difference (unresolved missing_at_provider or amount_mismatch items of any run ≥ Threshold, per provider).
/// Provider limits a payment rule to one provider (default: each provider separately).
/// </summary>
public sealed class AlertRule
{
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public string? Provider { get; set; }
    public int WindowSeconds { get; set; } = 900;
    public int MinCount { get; set; } = 20;
    public double Threshold { get; set; }
    public int PendingGraceSeconds { get; set; } = 300;

    public static IReadOnlyList<AlertRule> Defaults { get; } =
    [
        new() { Name = "provider_success_rate", Kind = "success_rate", Threshold = 0.8, WindowSeconds = 900, MinCount = 20, PendingGraceSeconds = 300 },
        new() { Name = "notification_backlog", Kind = "pending_backlog", Threshold = 50, WindowSeconds = 3600, PendingGraceSeconds = 300 },
        new() { Name = "payment_error_spike", Kind = "error_spike", Threshold = 20, WindowSeconds = 300 },
        new() { Name = "outbox_lag", Kind = "outbox_lag", Threshold = 300 },
        new() { Name = "reconciliation_difference", Kind = "reconciliation_difference", Threshold = 1 },
    ];
}
