namespace KnowPay.Data;

/// <summary>An event for the platform, written in the same transaction as the change it tells of. Never updated.</summary>
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
}

/// <summary>
/// An event whose webhook deliveries the dispatcher has not created yet: written with the event, deleted once its
/// deliveries exist (one per matching endpoint). A small queue row instead of a "fanned out at" column on the event
/// (marking an event row would rewrite the whole row and every index entry of it; the queue row is deleted, and the
/// events table stays append-only).
/// </summary>
public sealed class PendingFanOut
{
    public required string EventId { get; init; }
    public required string MerchantId { get; init; }
    public DateTime CreatedAt { get; init; }
}
