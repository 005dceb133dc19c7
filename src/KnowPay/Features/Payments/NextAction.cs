using System.Text.Json.Serialization;

namespace KnowPay.Features.Payments;

/// <summary>
/// What the learner's browser, WeChat or app does next to pay; <c>type</c> says which variant. The signed variants
/// (<c>alipay_app</c>, <c>wechat_jsapi</c>, <c>wechat_app</c>) are handed to the provider's SDK or bridge unchanged.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(QrCodeNextAction), "qr_code")]
[JsonDerivedType(typeof(RedirectNextAction), "redirect")]
[JsonDerivedType(typeof(ClientSecretNextAction), "client_secret")]
[JsonDerivedType(typeof(AlipayAppNextAction), "alipay_app")]
[JsonDerivedType(typeof(WeChatJsapiNextAction), "wechat_jsapi")]
[JsonDerivedType(typeof(WeChatAppNextAction), "wechat_app")]
public abstract record NextAction;

/// <summary>Show <c>qr_code</c> as a QR code to scan with the provider's app; <c>redirect_url</c>, when present, pays in a browser instead.</summary>
public sealed record QrCodeNextAction(string QrCode, string? RedirectUrl) : NextAction;

/// <summary>Send the learner's browser to <c>redirect_url</c> (Alipay page and WAP, WeChat Pay H5, PayPal).</summary>
public sealed record RedirectNextAction(string RedirectUrl) : NextAction;

/// <summary>Confirm the card payment with Stripe's client SDK.</summary>
public sealed record ClientSecretNextAction(string ClientSecret) : NextAction;

/// <summary>The whole signed order string of alipay.trade.app.pay: the app passes it to the Alipay SDK's payment call as is.</summary>
public sealed record AlipayAppNextAction(string OrderString) : NextAction;

/// <summary>
/// The parameters of <c>WeixinJSBridge.invoke('getBrandWCPayRequest', …)</c> / <c>wx.requestPayment</c> (appId, timeStamp,
/// nonceStr, package, signType, paySign); <c>pay_sign</c> is the merchant's RSA-SHA256 signature of
/// "app_id\ntime_stamp\nnonce_str\npackage\n".
/// </summary>
public sealed record WeChatJsapiNextAction(string AppId, string TimeStamp, string NonceStr, string Package, string SignType, string PaySign) : NextAction;

/// <summary>
/// The WeChat app SDK's PayReq (appId, partnerId, prepayId, packageValue, nonceStr, timeStamp, sign); <c>sign</c> is the
/// merchant's RSA-SHA256 signature of "app_id\ntime_stamp\nnonce_str\nprepay_id\n".
/// </summary>
public sealed record WeChatAppNextAction(string AppId, string PartnerId, string PrepayId, string Package, string NonceStr, string TimeStamp, string Sign)
    : NextAction;
