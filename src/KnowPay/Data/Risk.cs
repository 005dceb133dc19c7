using Microsoft.EntityFrameworkCore;
using KnowPay.Domain;

namespace KnowPay.Data;

/// <summary>
/// A merchant's risk policy: rules (JSON list of {id, rule}), limits and score thresholds. No row = the built-in defaults.
/// <see cref="Version"/> grows with every change to the policy or one of its lists: the decision path reads it with the
/// signals and recompiles only when it moved.
/// </summary>
public sealed class RiskPolicy
{
    public required string MerchantId { get; init; }
    public required string Rules { get; set; }
    public long? SinglePaymentMax { get; set; }
    public long? CustomerDailyAmount { get; set; }
    public long? CustomerDailyCount { get; set; }
    public long? ProductQuantityPerCustomer { get; set; }
    /// <summary>Payout limits per creator, in the payout currency's minor units (null = none).</summary>
    public long? CreatorPayoutMax { get; set; }
    public long? CreatorDailyPayoutAmount { get; set; }
    public int? ReviewThreshold { get; set; }
    public int? BlockThreshold { get; set; }
    public long Version { get; set; }
    public DateTime UpdatedAt { get; set; }
}

/// <summary>A merchant-managed list (<c>@name</c> in rules): its values as a JSON array of strings.</summary>
public sealed class RiskList
{
    public required string MerchantId { get; init; }
    public required string Name { get; init; }
    public required string Values { get; set; }
    public DateTime UpdatedAt { get; set; }
}

/// <summary>
/// One decision with the signals it saw and the rules that hit: the history a backtest replays and the evidence a review
/// shows. Its customer, device, IP, amount and time are also what the velocity signals count (indexed).
/// </summary>
public sealed class RiskDecision
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public RiskStage Stage { get; init; }
    public required string OrderId { get; init; }
    public string? PaymentId { get; set; }
    public string? RefundId { get; set; }
    public required string CustomerId { get; init; }
    public string? Ip { get; init; }
    public string? DeviceId { get; init; }
    public long Amount { get; init; }
    public required string Currency { get; init; }
    public RiskAction Action { get; init; }
    public int Score { get; init; }
    public string? RuleId { get; init; }
    /// <summary>JSON array of the score's top reasons.</summary>
    public required string Reasons { get; init; }
    /// <summary>JSON object of the signals' values, those at their default (0, "") left out unless a group was unavailable (<see cref="KnowPay.Features.Risk.StoredSignals"/>).</summary>
    public required string Signals { get; init; }
    /// <summary>JSON array of the ids of the rules that matched.</summary>
    public required string RuleHits { get; init; }
    /// <summary>Signal groups whose query failed: the decision was made without them. Null when all were computed.</summary>
    public string? Unavailable { get; init; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>A decision waiting for a person: the order (or refund) waits until approved, rejected or timed out.</summary>
public sealed class RiskReview
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string DecisionId { get; init; }
    public RiskStage Stage { get; init; }
    public required string OrderId { get; init; }
    /// <summary>Refund reviews: the payment, amount and reason of the refund that waits.</summary>
    public string? PaymentId { get; init; }
    public long? RefundAmount { get; init; }
    public string? RefundReason { get; init; }
    public string? RefundId { get; set; }
    public RiskReviewStatus Status { get; set; }
    public int Score { get; init; }
    public string? RuleId { get; init; }
    public required string Reasons { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? DecidedAt { get; set; }
    /// <summary>"api", "dashboard" or "timeout".</summary>
    public string? DecidedBy { get; set; }
}

public static class RiskTables
{
    public static void Configure(ModelBuilder model)
    {
        model.Entity<RiskPolicy>(e =>
        {
            e.ToTable("risk_policies");
            e.HasKey(x => x.MerchantId);
            e.Property(x => x.Rules).HasMaxLength(100_000);
        });
        model.Entity<RiskList>(e =>
        {
            e.ToTable("risk_lists");
            e.HasKey(x => new { x.MerchantId, x.Name });
            e.Property(x => x.Values).HasMaxLength(1_000_000);
        });
        model.Entity<RiskDecision>(e =>
        {
            e.ToTable("risk_decisions");
            e.Property(x => x.Signals).HasMaxLength(10_000);
            e.Property(x => x.Reasons).HasMaxLength(1000);
            e.Property(x => x.RuleHits).HasMaxLength(2000);
            e.Property(x => x.Unavailable).HasMaxLength(1000);
            // Every decision on the paid-order path writes one entry per index, so there are three B-trees. The key is the
            // customer's velocity range (nothing reads a decision by id alone); device and IP have their own range scans.
            e.HasKey(x => new { x.MerchantId, x.CustomerId, x.CreatedAt, x.Id });
            e.HasIndex(x => new { x.MerchantId, x.DeviceId, x.CreatedAt }).HasFilter("device_id IS NOT NULL");
            e.HasIndex(x => new { x.MerchantId, x.Ip, x.CreatedAt }).HasFilter("ip IS NOT NULL");
            // Time ranges (backtest, the anomaly job) on PostgreSQL: BRIN, a few pages summarising rows inserted in time
            // order, with no per-row entry to write. SQLite has no BRIN and keeps a B-tree.
            e.HasIndex(x => new { x.MerchantId, x.CreatedAt }).HasMethod("brin");
            // No index on order_id: nothing reads decisions by order, and every decision on the paid-order path would pay for one.
        });
        model.Entity<RiskReview>(e =>
        {
            e.ToTable("risk_reviews");
            e.Property(x => x.Reasons).HasMaxLength(1000);
            e.Property(x => x.RefundReason).HasMaxLength(500);
            e.HasIndex(x => new { x.MerchantId, x.Id });
            e.HasIndex(x => new { x.OrderId, x.Status });
            // The timeout job reads only open reviews.
            e.HasIndex(x => x.CreatedAt).HasFilter("status = 'Open'").HasDatabaseName("ix_risk_reviews_open_created_at");
        });
    }
}
