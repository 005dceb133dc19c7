namespace KnowPay.Data;

/// <summary>A tenant: one paid-knowledge platform. Every other object belongs to exactly one merchant.</summary>
public sealed class Merchant
{
    public required string Id { get; init; }
    public required string Name { get; set; }
    public DateTime CreatedAt { get; init; }
    /// <summary>When true, a partial refund also revokes the learner's access (default: only a full refund does).</summary>
    public bool RevokeOnPartialRefund { get; set; }
    /// <summary>The ISO 4217 currency the merchant is settled in; a provider account may settle in another (its SettleCurrency setting).</summary>
    public string SettlementCurrency { get; set; } = "CNY";
    /// <summary>When true, an order in a currency the product has no price in is priced from an FX quote of one it has.</summary>
    public bool AllowConvertedPrices { get; set; }
    /// <summary>Added to the mid rate of every FX quote, in basis points (150 = 1.5 %).</summary>
    public int FxMarkupBps { get; set; }
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
    /// <summary>From this time on the key is refused; set at creation, or by a roll to the end of the overlap.</summary>
    public DateTime? ExpiresAt { get; set; }
    /// <summary>When the key last authenticated a request, to within a minute (written off the request path).</summary>
    public DateTime? LastUsedAt { get; set; }

    public bool IsActive(DateTime now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>A dashboard sign-in. The cookie names it; sign-out revokes it here, so a copied cookie stops working on every node.</summary>
public sealed class DashboardSession
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string KeyId { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime ExpiresAt { get; init; }
    public DateTime? RevokedAt { get; set; }
}
