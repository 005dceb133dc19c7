using KnowPay.Domain;

namespace KnowPay.Data;

public sealed class Creator
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string Name { get; set; }
    public string? ExternalId { get; set; }
    public string? Email { get; set; }
    /// <summary>ISO 4217: the currency the creator is credited and paid in; null = the price's currency of each sale.</summary>
    public string? PayoutCurrency { get; set; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>A learner, known by the platform's own id.</summary>
public sealed class Customer
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string ExternalId { get; init; }
    public string? Email { get; set; }
    public string? Name { get; set; }
    public DateTime CreatedAt { get; init; }
    /// <summary>The learner's openid under the WeChat Pay appid, from the checkout's WeChat OAuth: the next checkout in WeChat skips OAuth.</summary>
    public string? WeChatOpenId { get; set; }
}

public sealed class Product
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string CreatorId { get; init; }
    public required string Name { get; set; }
    public ProductKind Kind { get; init; }
    public ProductStatus Status { get; set; }
    /// <summary>The creator's share of each payment, in basis points of the gross amount.</summary>
    public int CreatorShareBps { get; set; }
    /// <summary>Memberships: access lasts this many days per paid order.</summary>
    public int? PeriodDays { get; set; }
    public DateTime CreatedAt { get; init; }
    public List<ProductPrice> Prices { get; init; } = [];
}

/// <summary>One price of a product in one currency. A change makes a new version; orders keep the one they locked.</summary>
public sealed class ProductPrice
{
    public required string Id { get; init; }
    public required string ProductId { get; init; }
    public required string Currency { get; init; }
    public long Amount { get; init; }
    public int Version { get; init; }
    public bool Active { get; set; }
    public DateTime CreatedAt { get; init; }
    /// <summary>Recurring prices: day, week, month or year (with <see cref="RecurringIntervalCount"/>); null = one-time.</summary>
    public string? RecurringInterval { get; init; }
    public int? RecurringIntervalCount { get; init; }
    public int? TrialPeriodDays { get; init; }
}
