namespace KnowPay.Sandbox;

/// <summary>
/// The embedded simulators' settings (<c>Sandbox:*</c>). Keys are the PROVIDER's side: the sandbox verifies what the
/// merchant signs with the merchant's public key and signs with its own private key, exactly as the real gateways.
/// </summary>
public sealed class SandboxOptions
{
    /// <summary>Where the sandbox is mounted in the host, e.g. "/sandbox".</summary>
    public string BasePath { get; set; } = "/sandbox";
    /// <summary>Absolute base URL of the sandbox as buyers and merchants reach it (e.g. http://localhost:5080/sandbox), resolved lazily.</summary>
    public Func<string> PublicBaseUrl { get; set; } = () => "http://localhost/sandbox";
    /// <summary>Retry delays are divided by this (e.g. 3600 turns an hour into a second).</summary>
    public double TimeCompression { get; set; } = 1;
    /// <summary>
    /// Each simulator remembers at most this many trades; beyond it the oldest finished ones (paid, closed) are forgotten, so
    /// the sandbox's memory stays bounded on a long-running node (about 1 KB per trade otherwise kept for ever).
    /// </summary>
    public int MaxTrades { get; set; } = 20_000;
    /// <summary>The fee each provider bills per payment, by provider name (sandbox, alipay, wechatpay, stripe, paypal); none when absent.</summary>
    public Dictionary<string, (int BasisPoints, long Fixed)> Fees { get; set; } = new(StringComparer.Ordinal);
    /// <summary>SandboxPay's shared HMAC secret.</summary>
    public string SandboxPaySecret { get; set; } = "";

    /// <summary>Alipay: the merchant's app_id, the merchant's public key (verifies requests), Alipay's own private key (signs answers and notifications).</summary>
    public string AlipayAppId { get; set; } = "";
    public string AlipayMerchantPublicKeyPem { get; set; } = "";
    public string AlipayPrivateKeyPem { get; set; } = "";
    /// <summary>Alipay: the merchant's PID (2088…), sent as seller_id in every notification.</summary>
    public string AlipaySellerId { get; set; } = Alipay.AlipayBills.SellerId;
    /// <summary>Alipay: the currency the account settles in; a trade priced or settled in another carries the cross-border fields.</summary>
    public string AlipaySettleCurrency { get; set; } = "CNY";
    /// <summary>WeChat Pay: mchid, appid, the merchant's certificate serial and public key, the platform's key pair serial and private key, the APIv3 key.</summary>
    public string WeChatMchId { get; set; } = "";
    public string WeChatAppId { get; set; } = "";
    public string WeChatMerchantSerialNo { get; set; } = "";
    public string WeChatMerchantPublicKeyPem { get; set; } = "";
    public string WeChatPlatformSerialNo { get; set; } = "";
    public string WeChatPlatformPrivateKeyPem { get; set; } = "";
    /// <summary>
    /// More platform keys by serial (private PEM), beside the default above: during the switch from platform certificates to
    /// the WeChat Pay public key (PUB_KEY_ID_…) answers and notifications may be signed with either; a merchant's
    /// Wechatpay-Serial chooses which signs its answers, and an unknown one is refused.
    /// </summary>
    public Dictionary<string, string> WeChatPlatformKeys { get; set; } = new(StringComparer.Ordinal);
    public string WeChatApiV3Key { get; set; } = "";
    /// <summary>The official account's AppSecret: sns/oauth2/access_token refuses another.</summary>
    public string WeChatAppSecret { get; set; } = "";
    /// <summary>Stripe: the account's secret API key the sandbox accepts, and the webhook endpoint's signing secret (whsec_…).</summary>
    public string StripeSecretKey { get; set; } = "";
    public string StripeWebhookSecret { get; set; } = "";
    /// <summary>Stripe: the account's currency, in which balance transactions are stated; null = each charge's own (no conversion).</summary>
    public string? StripeAccountCurrency { get; set; }
    /// <summary>Stripe's webhook endpoint; null = this host's /v1/notify/stripe.</summary>
    public string? StripeWebhookUrl { get; set; }
    /// <summary>PayPal: the REST app's client credentials the sandbox accepts, and the webhook id it signs with.</summary>
    public string PayPalClientId { get; set; } = "";
    public string PayPalClientSecret { get; set; } = "";
    public string PayPalWebhookId { get; set; } = "";
    /// <summary>PayPal's webhook listener; null = this host's /v1/notify/paypal.</summary>
    public string? PayPalWebhookUrl { get; set; }
}
