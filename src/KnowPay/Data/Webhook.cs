namespace KnowPay.Data;

/// <summary>A platform URL that receives signed events of the given types.</summary>
public sealed class WebhookEndpoint
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string Url { get; init; }
    /// <summary>Space-separated event types, or "*".</summary>
    public required string EventTypes { get; init; }
    /// <summary>The signing secret (whsec_…), sealed by SecretBox (<c>v1:&lt;key id&gt;:…</c>): kept so KnowPay can sign, never
    /// readable from the database alone; shown to the merchant only at creation and rotation.</summary>
    public required string Secret { get; set; }
    /// <summary>After a rotation the old secret (sealed too) also signs until <see cref="PreviousSecretExpiresAt"/>, so receivers can switch over.</summary>
    public string? PreviousSecret { get; set; }
    public DateTime? PreviousSecretExpiresAt { get; set; }
    public bool Disabled { get; set; }
    public DateTime CreatedAt { get; init; }

    public bool Matches(string eventType) =>
        EventTypes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(t => t == "*" || t == eventType);
}

/// <summary>
/// One event to one endpoint. Claimed by a dispatcher by moving <see cref="NextAttemptAt"/> to the end of a lease and
/// stamping <see cref="ClaimToken"/>: a crashed dispatcher's claim simply becomes due again when the lease ends.
/// </summary>
public sealed class WebhookDelivery
{
    public const string Pending = "pending", Succeeded = "succeeded", Failed = "failed";

    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string EventId { get; init; }
    public required string EndpointId { get; init; }
    /// <summary>pending, succeeded, failed.</summary>
    public required string Status { get; set; }
    public int Attempts { get; set; }
    public DateTime NextAttemptAt { get; set; }
    /// <summary>Retries stop after this (3 days from creation or from a redelivery) and the delivery is failed.</summary>
    public DateTime RetryUntil { get; set; }
    public string? ClaimToken { get; set; }
    public int? LastStatusCode { get; set; }
    public string? LastError { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? DeliveredAt { get; set; }
}
