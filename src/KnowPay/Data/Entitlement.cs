namespace KnowPay.Data;

/// <summary>A learner's access to a product, granted by a paid order.</summary>
public sealed class Entitlement
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string CustomerId { get; init; }
    public required string ProductId { get; init; }
    public required string OrderId { get; set; }
    public DateTime GrantedAt { get; init; }
    /// <summary>Null for courses and columns (for ever); the end of the period for memberships.</summary>
    public DateTime? ExpiresAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    public string? RevokedReason { get; set; }
    /// <summary>How much of the content the learner consumed (0–100), as the platform last reported it.</summary>
    public int? Progress { get; set; }
}
