namespace KnowPay.Data;

/// <summary>An event for the platform, written in the same transaction as the change it tells of.</summary>
public sealed class OutboxEvent
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    /// <summary>order.paid, entitlement.granted, refund.succeeded, …</summary>
    public required string Type { get; init; }
    public required string ObjectId { get; init; }
    /// <summary>The event's data object as JSON.</summary>
    public required string Data { get; init; }
    public DateTime CreatedAt { get; init; }
    /// <summary>Set once the dispatcher has created this event's deliveries (one per matching endpoint).</summary>
    public DateTime? FannedOutAt { get; set; }
}
