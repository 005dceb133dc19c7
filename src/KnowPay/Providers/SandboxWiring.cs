using System.Security.Cryptography;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Sandbox;

namespace KnowPay.Providers;

/// <summary><c>Sandbox:*</c>: the embedded provider simulators.</summary>
public sealed class SandboxHostOptions : IBoundOptions
{
    public static string Section => "Sandbox";
    /// <summary>Run the simulators and wire every unconfigured provider to them; empty = in Development only.</summary>
    public bool? Enabled { get; set; }
    /// <summary>The simulators' retry delays are divided by this.</summary>
    [Between(0.001, 1_000_000)] public double TimeCompression { get; set; } = 1;
    /// <summary>SandboxPay forgets its oldest finished trades beyond this many.</summary>
    [Between(1, 10_000_000)] public int MaxTrades { get; set; } = 20_000;
}

/// <summary>
/// The one place where KnowPay and the embedded simulators are given the same credentials: each method takes what the
/// configuration gives, generates the rest at start, writes the simulator's side into <see cref="SandboxOptions"/> and
/// returns KnowPay's side to the provider's registration. Once the server listens, <see cref="Apply"/> gives the
/// sandbox its public URL.
/// </summary>
public sealed class SandboxWiring(SandboxOptions sandbox)
{
    /// <summary>The embedded sandbox when <c>Sandbox:Enabled</c> (default: in Development), else null.</summary>
    public static SandboxWiring? AddIfEnabled(WebApplicationBuilder builder)
    {
        var options = builder.AddBoundOptions<SandboxHostOptions>();
        if (!(options.Enabled ?? builder.Environment.IsDevelopment())) return null;
        var sandbox = new SandboxOptions { TimeCompression = options.TimeCompression, MaxTrades = options.MaxTrades };
        builder.Services.AddKnowPaySandbox(sandbox);
        var wiring = new SandboxWiring(sandbox);
        builder.Services.AddSingleton(wiring);
        return wiring;
    }

    /// <summary>The absolute URL of a simulator path, e.g. "/stripe".</summary>
    public string Url(PublicUrl publicUrl, string path) => publicUrl.Combine(sandbox.BasePath + path);

    /// <summary>The fee the provider's simulator bills per payment.</summary>
    public void Fee(string provider, ProviderFee fee) => sandbox.Fees[provider] = (fee.BasisPoints, fee.FixedMinorUnits);

    public void Apply(PublicUrl publicUrl) => sandbox.PublicBaseUrl = () => publicUrl.Combine(sandbox.BasePath);

    public string SandboxPay(string? secret)
    {
        secret ??= Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        sandbox.SandboxPaySecret = secret;
        return secret;
    }

    /// <summary>Two RSA key pairs: KnowPay gets the merchant private key and Alipay's public key, the simulator the other halves.</summary>
    public (string MerchantPrivateKeyPem, string AlipayPublicKeyPem) Alipay(string appId)
    {
        using var merchant = RSA.Create(2048);
        using var alipay = RSA.Create(2048);
        sandbox.AlipayAppId = appId;
        sandbox.AlipayMerchantPublicKeyPem = merchant.ExportSubjectPublicKeyInfoPem();
        sandbox.AlipayPrivateKeyPem = alipay.ExportPkcs8PrivateKeyPem();
        return (merchant.ExportPkcs8PrivateKeyPem(), alipay.ExportSubjectPublicKeyInfoPem());
    }

    /// <summary>The sandbox's PID, sent as seller_id in its notifications: the configured one, else its own.</summary>
    public string AlipaySellerId(string? sellerId)
    {
        if (sellerId is not null) sandbox.AlipaySellerId = sellerId;
        return sandbox.AlipaySellerId;
    }

    /// <summary>The currency the simulated Alipay account settles in: Alipay states it on cross-border trades, not the merchant.</summary>
    public void AlipaySettleCurrency(string currency) => sandbox.AlipaySettleCurrency = currency;

    /// <summary>The simulated Stripe account's currency: its balance transactions are in it. Null = each charge's own.</summary>
    public void StripeAccountCurrency(string? currency) => sandbox.StripeAccountCurrency = currency;

    /// <summary>The official account's AppSecret the sandbox's OAuth checks: the configured one, else generated.</summary>
    public string WeChatAppSecret(string? appSecret)
    {
        sandbox.WeChatAppSecret = appSecret ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        return sandbox.WeChatAppSecret;
    }

    /// <summary>
    /// The merchant's key pair and serial, an APIv3 key, and two platform keys, both active as during WeChat Pay's switch:
    /// the WeChat Pay public key (PUB_KEY_ID_…, the one KnowPay names) and a platform certificate's (a hex serial), shared as for Alipay.
    /// </summary>
    public (string MerchantSerialNo, string MerchantPrivateKeyPem, string PlatformPublicKeyPem, string PlatformSerialNo, string ApiV3Key,
        IReadOnlyDictionary<string, string> MorePlatformKeys) WeChatPay(string mchId, string appId)
    {
        using var merchant = RSA.Create(2048);
        using var platform = RSA.Create(2048);
        using var certificate = RSA.Create(2048);
        var merchantSerial = Convert.ToHexString(RandomNumberGenerator.GetBytes(20));
        var platformSerial = "PUB_KEY_ID_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
        var certificateSerial = Convert.ToHexString(RandomNumberGenerator.GetBytes(20));
        sandbox.WeChatPlatformKeys[certificateSerial] = certificate.ExportPkcs8PrivateKeyPem();
        var apiV3Key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        sandbox.WeChatMchId = mchId;
        sandbox.WeChatAppId = appId;
        sandbox.WeChatMerchantSerialNo = merchantSerial;
        sandbox.WeChatMerchantPublicKeyPem = merchant.ExportSubjectPublicKeyInfoPem();
        sandbox.WeChatPlatformSerialNo = platformSerial;
        sandbox.WeChatPlatformPrivateKeyPem = platform.ExportPkcs8PrivateKeyPem();
        sandbox.WeChatApiV3Key = apiV3Key;
        return (merchantSerial, merchant.ExportPkcs8PrivateKeyPem(), platform.ExportSubjectPublicKeyInfoPem(), platformSerial, apiV3Key,
            new Dictionary<string, string> { [certificateSerial] = certificate.ExportSubjectPublicKeyInfoPem() });
    }

    public (string SecretKey, string WebhookSecret) Stripe(string? secretKey, string? webhookSecret)
    {
        sandbox.StripeSecretKey = secretKey ?? "sk_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        sandbox.StripeWebhookSecret = webhookSecret
            ?? "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', 'A').Replace('/', 'B');
        return (sandbox.StripeSecretKey, sandbox.StripeWebhookSecret);
    }

    public (string ClientId, string ClientSecret, string WebhookId) PayPal(string? clientId, string? clientSecret, string? webhookId)
    {
        sandbox.PayPalClientId = clientId ?? "sbx-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        sandbox.PayPalClientSecret = clientSecret ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        sandbox.PayPalWebhookId = webhookId ?? "WH-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(10));
        return (sandbox.PayPalClientId, sandbox.PayPalClientSecret, sandbox.PayPalWebhookId);
    }
}
