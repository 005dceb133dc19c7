using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Features.Risk;

/// <summary>
/// <c>Risk:*</c>: the score's logistic model (z = ScoreIntercept + Σ Weights[s] · ln(1 + s), score = ⌊99 · σ(z)⌋), the
/// default thresholds (a merchant may set its own) and how long a review may wait before it is rejected.
/// </summary>
public sealed class RiskOptions : IBoundOptions
{
    public static string Section => "Risk";
    /// <summary>Off: no signals, no rules, no decisions (every order allowed).</summary>
    public bool Enabled { get; set; } = true;
    [Between(1, 24 * 90)] public double ReviewTimeoutHours { get; set; } = 72;
    [Between(0, 99)] public int ReviewThreshold { get; set; } = 65;
    [Between(0, 99)] public int BlockThreshold { get; set; } = 75;
    [Between(-100, 100)] public double ScoreIntercept { get; set; } = -6;
    /// <summary>Per numeric signal; a signal not named weighs nothing. A negative weight lowers the score (an older account).</summary>
    public Dictionary<string, double> Weights { get; set; } = new()
    {
        ["amount"] = 0.15,
        ["failed_attempts_per_ip_1h"] = 0.6,
        ["failed_attempts_per_customer_1h"] = 0.8,
        ["orders_per_ip_10m"] = 0.5,
        ["orders_per_device_10m"] = 0.5,
        ["distinct_customers_per_device_24h"] = 0.7,
        ["refunds_per_customer_90d"] = 0.6,
        ["consumed_progress"] = 0.3,
        ["account_age_days"] = -0.3,
    };

    public RiskModel Model() => new(ScoreIntercept, Weights.Where(w => RiskSignals.Catalog.GetValueOrDefault(w.Key) == SignalKind.Number && RiskSignals.Catalog.ContainsKey(w.Key))
        .ToDictionary(w => w.Key, w => w.Value));
}
