namespace KnowPay.Domain;

/// <summary>How a learner pays with a provider, and what each method needs from the learner's device.</summary>
public static class PaymentMethods
{
    public const string Qr = "qr";
    public const string Page = "page";
    public const string Card = "card";
    /// <summary>A phone browser: Alipay's mobile website pay (alipay.trade.wap.pay).</summary>
    public const string Wap = "wap";
    /// <summary>A phone browser outside WeChat: WeChat Pay H5.</summary>
    public const string H5 = "h5";
    /// <summary>A page opened inside WeChat: WeChat Pay JSAPI through WeixinJSBridge.</summary>
    public const string Jsapi = "jsapi";
    /// <summary>A WeChat mini program: WeChat Pay JSAPI through wx.requestPayment.</summary>
    public const string MiniProgram = "mini_program";
    /// <summary>The platform's own app: the provider's app SDK takes signed parameters.</summary>
    public const string App = "app";

    /// <summary>JSAPI and mini programs pay as a WeChat user of the merchant's appid: WeChat needs that user's openid.</summary>
    public static bool NeedsOpenId(string method) => method is Jsapi or MiniProgram;

    /// <summary>WeChat Pay H5 is accepted only with the learner's own network address (scene_info.payer_client_ip).</summary>
    public static bool NeedsPayerIp(string method) => method is H5;

    /// <summary>Methods a desktop browser completes; the others run on the learner's phone (a phone browser, WeChat, an app).</summary>
    public static bool OnDesktop(string method) => method is Qr or Page or Card;
}
