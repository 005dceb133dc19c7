using System.ComponentModel.DataAnnotations;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.Alipay;

/// <summary><c>Providers:Alipay:*</c>: AppId, PrivateKey and AlipayPublicKey, or none of them for the embedded simulator.</summary>
public sealed class AlipayOptions : ProviderOptions, IBoundOptions
{
    public static string Section => "Providers:Alipay";
    public string? AppId { get; set; }
    [HttpUrl] public string? GatewayUrl { get; set; }
    /// <summary>The application private key (RSA2): PEM text, a file path, or bare base64 (see <see cref="ProviderKeys"/>).</summary>
    public string? PrivateKey { get; set; }
    /// <summary>Alipay's public key, same forms.</summary>
    public string? AlipayPublicKey { get; set; }
    /// <summary>The merchant's PID (2088…): a notification whose seller_id is another seller's is refused. Empty = not checked.</summary>
    public string? SellerId { get; set; }
    /// <summary>Empty = <c>{KnowPay:PublicUrl}/v1/notify/alipay</c>.</summary>
    [HttpUrl] public string? NotifyUrl { get; set; }
    /// <summary>Deduction agreements: the product_code of the merchant's contract (alipay.user.agreement.page.sign).</summary>
    [Required, RegularExpression("^[A-Z0-9_]{1,64}$")] public string AgreementProductCode { get; set; } = "GENERAL_WITHHOLDING";
    /// <summary>Deduction agreements: the personal_product_code the learner signs (周期扣款: CYCLE_PAY_AUTH_P).</summary>
    [Required, RegularExpression("^[A-Z0-9_]{1,64}$")] public string PersonalProductCode { get; set; } = "CYCLE_PAY_AUTH_P";
    /// <summary>Deduction agreements: sign_scene, INDUSTRY|… as agreed with Alipay; never DEFAULT|DEFAULT (external_agreement_no is always sent).</summary>
    [Required, RegularExpression(@"^(?!DEFAULT\|DEFAULT$)[A-Z0-9_]+\|[A-Z0-9_]+$")] public string SignScene { get; set; } = "INDUSTRY|DIGITAL_MEDIA";
    /// <summary>Deduction agreements: the days before an agreement's scheduled date on which Alipay accepts its deduction (5 in the 2024 docs, 3 in older ones).</summary>
    [Between(0, 10)] public int DeductionWindowDays { get; set; } = 5;
    /// <summary>The currency the Alipay account settles in (ISO 4217): CNY, or e.g. USD for an overseas-settled (cross-border) merchant.</summary>
    [Required, RegularExpression("^[A-Z]{3}$")] public string SettleCurrency { get; set; } = "CNY";
}
