using KnowPay.Domain;

namespace KnowPay.Data;

/// <summary>
/// A payment agreement (mdt_): the learner's consent that KnowPay may charge them again without them present, held at
/// one provider — an Alipay 周期扣款 agreement, a WeChat Pay 委托代扣 contract, a Stripe saved card, SandboxPay's own.
/// Subscriptions charged automatically renew through it.
/// </summary>
public sealed class Mandate
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string CustomerId { get; init; }
    public required string Provider { get; init; }
    /// <summary>How the learner signs: page, qr, app, … (the provider's sign methods).</summary>
    public required string Method { get; init; }
    public MandateStatus Status { get; set; }
    public required string Currency { get; init; }
    /// <summary>The most one charge may take (Alipay's single_amount, WeChat Pay's estimate): a larger charge is refused before the provider is called.</summary>
    public long MaxAmount { get; init; }
    /// <summary>The provider's id of the agreement: agreement_no, contract_id, the Stripe PaymentMethod.</summary>
    public string? ProviderMandateId { get; set; }
    /// <summary>The provider's id of the learner: alipay_user_id / open_id, WeChat openid, the Stripe Customer.</summary>
    public string? ProviderCustomerRef { get; set; }
    /// <summary>The signing the learner is sent to: a URL, a QR payload or a client secret (JSON of a next action).</summary>
    public string? SignAction { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? SignedAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    /// <summary>Who ended it: user (at the provider), merchant (through KnowPay), provider, or not_signed.</summary>
    public string? RevokedReason { get; set; }
    /// <summary>The provider's time of the last change applied: an older notification never overrides a newer one.</summary>
    public DateTime? ProviderChangedAt { get; set; }
}
