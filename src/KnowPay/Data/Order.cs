using KnowPay.Domain;

namespace KnowPay.Data;

/// <summary>A learner's purchase of one product; amount, currency and share are locked at creation.</summary>
public sealed class Order
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string CustomerId { get; init; }
    public required string ProductId { get; init; }
    public required string PriceId { get; init; }
    public required string CreatorId { get; init; }
    /// <summary>Set only while pending with no payment started, when an expired FX quote is refreshed.</summary>
    public long Amount { get; set; }
    public required string Currency { get; init; }
    public int CreatorShareBps { get; init; }
    /// <summary>A converted price: the FX quote locked on the order (fxq_…), null when the product has a price in <see cref="Currency"/>.</summary>
    public string? FxQuoteId { get; set; }
    /// <summary>The price's own currency and amount (the creator's), converted into <see cref="Amount"/> at <see cref="FxRate"/>.</summary>
    public string? FxFrom { get; init; }
    public long? FxFromAmount { get; init; }
    public decimal? FxRate { get; set; }
    public string? FxSource { get; set; }
    public DateTime? FxExpiresAt { get; set; }
    /// <summary>
    /// The creator's payout currency when it differs from the price's (locked at creation), and the rate its share converts at:
    /// units of it per unit of the price's currency. Both null: the creator is credited in the price's currency.
    /// </summary>
    public string? CreatorCurrency { get; init; }
    /// <summary>Moves with <see cref="FxRate"/> when a quote refresh re-prices an order whose creator is paid in the paid currency.</summary>
    public decimal? CreatorFxRate { get; set; }
    /// <summary>Memberships: days of access the order grants (locked from the product); null = for ever.</summary>
    public int? AccessDays { get; init; }
    public OrderStatus Status { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime ExpiresAt { get; init; }
    public DateTime? PaidAt { get; set; }
    public DateTime? ClosedAt { get; set; }
    /// <summary>Set when a payment succeeded after the order had expired: honoured, and flagged for review.</summary>
    public bool PaidAfterExpiry { get; set; }
    public string? Description { get; set; }
    /// <summary>Set when the order collects a subscription's invoice: its confirmation pays the invoice in the same commit.</summary>
    public string? InvoiceId { get; init; }
}

public sealed class Payment
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string OrderId { get; init; }
    public required string Provider { get; init; }
    public required string Method { get; init; }
    public PaymentStatus Status { get; set; }
    public long Amount { get; init; }
    public required string Currency { get; init; }
    /// <summary>The provider's own id for this payment (trade_no, transaction_id, PaymentIntent id, …).</summary>
    public string? ProviderTradeNo { get; set; }
    public string? QrCode { get; set; }
    public string? RedirectUrl { get; set; }
    public string? ClientSecret { get; set; }
    /// <summary>The signed parameters the learner's app or WeChat hands to the provider's SDK or bridge: a next action as JSON.</summary>
    public string? SignedParameters { get; set; }
    public long RefundedAmount { get; set; }
    public string? FailureCode { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? ProviderPaidAt { get; set; }
    public DateTime? SucceededAt { get; set; }
    /// <summary>How the success became known: "notification" or "query".</summary>
    public string? ConfirmedBy { get; set; }
    public DateTime? LastQueriedAt { get; set; }
    /// <summary>Set when this payment succeeded on an order already paid by another payment: it is refunded in full automatically (reason "duplicate_payment").</summary>
    public bool Duplicate { get; set; }
    /// <summary>What the provider credited the merchant's account, in that account's currency, and the rate it used (see ProviderSettlement).</summary>
    public long? SettlementAmount { get; set; }
    public string? SettlementCurrency { get; set; }
    public decimal? SettlementRate { get; set; }
    /// <summary>What the learner paid in their own currency, when the provider converted it (Alipay pay_*, WeChat Pay global payer_*).</summary>
    public long? PayerAmount { get; set; }
    public string? PayerCurrency { get; set; }
    public decimal? PayerRate { get; set; }
    /// <summary>The learner's context when the payment started (risk signals; dispute evidence).</summary>
    public string? RiskIp { get; set; }
    public string? RiskDeviceId { get; set; }
    public string? RiskUserAgent { get; set; }
    public DateTime? RiskAccountCreatedAt { get; set; }
    public string? RiskLoginId { get; set; }
    /// <summary>The card the learner presented, as the provider fingerprints it (Stripe): card risk signals.</summary>
    public string? CardFingerprint { get; set; }
}
