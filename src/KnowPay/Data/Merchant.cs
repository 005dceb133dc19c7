namespace KnowPay.Data;

/// <summary>A tenant: one paid-knowledge platform. Every other object belongs to exactly one merchant.</summary>
public sealed class Merchant
{
    public required string Id { get; init; }
    public required string Name { get; set; }
    public DateTime CreatedAt { get; init; }
    /// <summary>When true, a partial refund also revokes the learner's access (default: only a full refund does).</summary>
    public bool RevokeOnPartialRefund { get; set; }
}

/// <summary>A secret API key, stored as its SHA-256 hash; the secret itself is shown once.</summary>
public sealed class ApiKey
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string Hash { get; init; }
    /// <summary>The first characters of the secret, to recognise a key in lists without revealing it.</summary>
    public required string Prefix { get; init; }
    /// <summary>Space-separated scopes, e.g. "orders:write refunds:write" or "*".</summary>
    public required string Scopes { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? RevokedAt { get; set; }
}
