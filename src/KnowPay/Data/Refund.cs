using KnowPay.Domain;

namespace KnowPay.Data;

/// <summary>
/// A refund of (part of) a payment. Recorded pending with its amount reserved on the payment before the provider
/// is called; completed once, from the provider's answer, its notification or a query.
/// </summary>
public sealed class Refund
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string PaymentId { get; init; }
    public required string OrderId { get; init; }
    public required string Provider { get; init; }
    public long Amount { get; init; }
    public required string Currency { get; init; }
    public string? Reason { get; init; }
    /// <summary>The Idempotency-Key of the request that created it (unique per merchant): a retry that takes over the key
    /// after its first attempt died finds this refund and resumes it instead of starting a second one.</summary>
    public string? IdempotencyKey { get; init; }
    public RefundState Status { get; set; }
    public string? ProviderRefundId { get; set; }
    public string? FailureReason { get; set; }
    /// <summary>The creator's part given back, fixed when the refund succeeds (cumulative split, see RefundSplit).</summary>
    public long? CreatorPart { get; set; }
    /// <summary>How the outcome became known: "answer", "notification" or "query".</summary>
    public string? CompletedBy { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? CompletedAt { get; set; }
    public DateTime? LastQueriedAt { get; set; }
}
