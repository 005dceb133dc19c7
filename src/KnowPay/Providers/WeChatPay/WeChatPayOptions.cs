using KnowPay.Infrastructure;

namespace KnowPay.Providers.WeChatPay;

/// <summary><c>Providers:WeChatPay:*</c>: every credential (none <see cref="Missing"/>), or no PrivateKey for the embedded simulator.</summary>
public sealed class WeChatPayOptions : ProviderOptions, IBoundOptions
{
    public static string Section => "Providers:WeChatPay";
    public string? MchId { get; set; }
    public string? AppId { get; set; }
    [HttpUrl] public string? ApiBaseUrl { get; set; }
    /// <summary>The merchant API certificate's serial and private key (PEM text, a file path, or bare base64).</summary>
    public string? MerchantSerialNo { get; set; }
    public string? PrivateKey { get; set; }
    /// <summary>The WeChat Pay public key (or platform certificate) and its id: KnowPay names it in Wechatpay-Serial.</summary>
    public string? PlatformPublicKey { get; set; }
    public string? PlatformSerialNo { get; set; }
    /// <summary>
    /// More verification keys by serial (<c>MorePlatformKeys:&lt;serial&gt;</c> = key), accepted beside PlatformPublicKey: while
    /// WeChat Pay moves a merchant from platform certificates to the public key, answers and notifications may be signed by either.
    /// </summary>
    public Dictionary<string, string>? MorePlatformKeys { get; set; }
    /// <summary>The cross-border (global) API's host, where payments priced in another currency than CNY go; empty = https://apihk.mch.weixin.qq.com.</summary>
    [HttpUrl] public string? GlobalApiBaseUrl { get; set; }
    /// <summary>The 32-byte APIv3 key that decrypts notifications.</summary>
    public string? ApiV3Key { get; set; }
    /// <summary>Empty = <c>{KnowPay:PublicUrl}/v1/notify/wechatpay</c>.</summary>
    [HttpUrl] public string? NotifyUrl { get; set; }
    /// <summary>The official account's AppSecret (same appid): the hosted checkout's WeChat OAuth trades a code for the openid with it; empty = no OAuth.</summary>
    public string? AppSecret { get; set; }
    /// <summary>Where WeChat's OAuth authorize page is (connect/oauth2/authorize); empty = https://open.weixin.qq.com.</summary>
    [HttpUrl] public string? OAuthBaseUrl { get; set; }
    /// <summary>Where sns/oauth2/access_token is answered; empty = https://api.weixin.qq.com.</summary>
    [HttpUrl] public string? OAuthApiBaseUrl { get; set; }
    /// <summary>The papay (委托代扣) template id (plan_id) registered for this appid; empty = contracts cannot be signed (the sandbox has its own).</summary>
    public string? PapayPlanId { get; set; }

    public IReadOnlyList<string> Missing() => new (string Name, string? Value)[]
    {
        (nameof(MchId), MchId), (nameof(AppId), AppId), (nameof(MerchantSerialNo), MerchantSerialNo), (nameof(PrivateKey), PrivateKey),
        (nameof(PlatformPublicKey), PlatformPublicKey), (nameof(PlatformSerialNo), PlatformSerialNo), (nameof(ApiV3Key), ApiV3Key),
    }.Where(s => string.IsNullOrEmpty(s.Value)).Select(s => s.Name).ToList();
}
