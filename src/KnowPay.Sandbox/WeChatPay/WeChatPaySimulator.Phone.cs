namespace KnowPay.Sandbox.WeChatPay;

/// <summary>
/// WeChat Pay on phones: /v3/pay/transactions/jsapi (payer.openid), /app and /h5 (scene_info.payer_client_ip), and the
/// client side a merchant's signed parameters go to: the WeixinJSBridge / wx.requestPayment call (<c>/jsapi/pay</c>, the
/// test page <c>/jsapi/bridge</c>, the script <c>/jsapi/bridge.js</c>), the app SDK (<c>/app/pay</c>) and the H5 cashier
/// (<c>/h5/checkmweb</c>). The client checks the merchant's RSA signature with the merchant's public key, then pays.
/// </summary>
public sealed partial class WeChatPaySimulator
{
    static readonly string BridgeScript = LoadBridgeScript();
    /// <summary>The SDK's own names (errCode), whatever naming policy the host gives its own JSON.</summary>
    static readonly JsonSerializerOptions SdkJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    void MapPhone(IEndpointRouteBuilder g)
    {
        g.MapPost("/v3/pay/transactions/jsapi", (Delegate)((HttpContext http) => PrepayAsync(http, "JSAPI")));
        g.MapPost("/v3/pay/transactions/app", (Delegate)((HttpContext http) => PrepayAsync(http, "APP")));
        g.MapPost("/v3/pay/transactions/h5", (Delegate)((HttpContext http) => PrepayAsync(http, "MWEB")));
        // The cross-border API's phone payments: trade_type in the body, H5 named mweb.
        g.MapPost("/v3/global/transactions/jsapi", (Delegate)((HttpContext http) => PrepayAsync(http, "JSAPI", global: true)));
        g.MapPost("/v3/global/transactions/app", (Delegate)((HttpContext http) => PrepayAsync(http, "APP", global: true)));
        g.MapPost("/v3/global/transactions/mweb", (Delegate)((HttpContext http) => PrepayAsync(http, "MWEB", global: true)));
        g.MapGet("/h5/checkmweb", (HttpContext http) => H5Page(http, http.Request.Query["prepay_id"].ToString(), http.Request.Query["redirect_url"].ToString()));
        g.MapPost("/h5/checkmweb", (Delegate)H5PayAsync).DisableAntiforgery();
        g.MapGet("/jsapi/bridge.js", () => Results.Text(BridgeScript, "text/javascript; charset=utf-8"));
        g.MapGet("/jsapi/bridge", (HttpContext http) => BridgePage(http.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal), pay: false));
        g.MapPost("/jsapi/bridge", (Delegate)(async (HttpContext http) => BridgePage(await FieldsAsync(http.Request), pay: true))).DisableAntiforgery();
        g.MapPost("/jsapi/pay", (Delegate)JsapiPayAsync).DisableAntiforgery();
        g.MapPost("/app/pay", (Delegate)AppPayAsync).DisableAntiforgery();
    }

    /// <summary>
    /// Creates the trade as Native does, for another trade type, and answers prepay_id (JSAPI, APP) or h5_url (MWEB).
    /// <paramref name="global"/>: the cross-border API, as <see cref="Native"/> takes it (trade_type, a supported foreign currency).
    /// </summary>
    async Task<IResult> PrepayAsync(HttpContext http, string tradeType, bool global = false)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (global) requests.Record($"wechatpay POST /v3/global/transactions/{(tradeType == "MWEB" ? "mweb" : tradeType.ToLowerInvariant())} signature verified body={req?.ToJsonString()}");
        if (CurrencyRefusal(req, tradeType, global) is { } wrongCurrency) return wrongCurrency;
        var outTradeNo = (string?)req?["out_trade_no"];
        var total = (long?)req?["amount"]?["total"];
        var currency = (string?)req?["amount"]?["currency"] ?? "CNY";
        var notifyUrl = (string?)req?["notify_url"];
        var openId = (string?)req?["payer"]?["openid"];
        var payerIp = (string?)req?["scene_info"]?["payer_client_ip"];
        if ((string?)req?["appid"] != options.WeChatAppId || (string?)req?["mchid"] != options.WeChatMchId)
            return wire.Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        if (string.IsNullOrEmpty(outTradeNo) || outTradeNo.Length is < 6 or > 32 || total is not > 0 || string.IsNullOrEmpty(notifyUrl)
            || string.IsNullOrEmpty((string?)req?["description"]))
            return wire.Error(400, "PARAM_ERROR", "out_trade_no (6-32), description, notify_url and amount.total are required");
        if (tradeType == "JSAPI" && string.IsNullOrEmpty(openId)) return wire.Error(400, "PARAM_ERROR", "缺少参数 payer.openid");
        if (tradeType == "MWEB" && (string.IsNullOrEmpty(payerIp) || string.IsNullOrEmpty((string?)req?["scene_info"]?["h5_info"]?["type"])))
            return wire.Error(400, "PARAM_ERROR", "缺少参数 scene_info.payer_client_ip 或 scene_info.h5_info.type");
        return await gate.PassAsync(outTradeNo, wire.Unavailable, () =>
        {
            var trade = trades.GetOrAdd(outTradeNo, () => new WeChatTrade(
                "42000" + DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(1000, 9999).ToString(CultureInfo.InvariantCulture),
                outTradeNo, "", total.Value, currency, (string)req!["description"]!, notifyUrl)
            {
                TradeType = tradeType, OpenId = openId, PayerClientIp = payerIp, Global = global,
                PrepayId = "wx" + DateTimeOffset.UtcNow.ToOffset(WeChatPayWire.CstOffset).ToString("ddHHmmss", CultureInfo.InvariantCulture) + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(13)),
            });
            if (trade.TradeType != tradeType || trade.Total != total || trade.Currency != currency || trade.Global != global) return wire.Error(400, "INVALID_REQUEST", "商户订单号重复");
            if (trade.State == "SUCCESS") return wire.Error(400, "ORDERPAID", "该订单已支付");
            if (trade.State == "CLOSED") return wire.Error(400, "ORDER_CLOSED", "订单已关闭");
            trades.Alias(trade.PrepayId!, trade);
            return Signed(200, tradeType == "MWEB"
                ? new JsonObject { ["h5_url"] = $"{options.PublicBaseUrl()}/wechatpay/h5/checkmweb?prepay_id={trade.PrepayId}&package={RandomNumberGenerator.GetInt32(1_000_000_000, int.MaxValue)}" }
                : new JsonObject { ["prepay_id"] = trade.PrepayId }, outTradeNo);
        });
    }

    /// <summary>A trade of this type by its prepay_id, or why not.</summary>
    (WeChatTrade? Trade, string? Error) ByPrepayId(string? prepayId, string tradeType) =>
        prepayId is { Length: > 0 } && trades.TryGetByAlias(prepayId, out var t) && t.PrepayId == prepayId
            ? t.TradeType == tradeType ? (t, null) : (null, $"prepay_id 不是 {tradeType} 下单")
            : (null, "prepay_id 不存在或已过期");

    /// <summary>Verifies what the merchant signed for the client ("line\n" each) with the merchant's public key.</summary>
    bool MerchantSigned(string? signature, params string?[] lines) =>
        lines.All(l => !string.IsNullOrEmpty(l)) && SandboxRsa.Verify(string.Concat(lines.Select(l => l + "\n")), signature, options.WeChatMerchantPublicKeyPem);

    /// <summary>
    /// getBrandWCPayRequest / wx.requestPayment: appId (a mini program's call has none: the client knows its own), timeStamp,
    /// nonceStr, package "prepay_id=…", signType RSA, paySign over "appId\ntimeStamp\nnonceStr\npackage\n".
    /// </summary>
    (WeChatTrade? Trade, string? Error) CheckJsapi(IReadOnlyDictionary<string, string> f)
    {
        var appId = f.GetValueOrDefault("appId") is { Length: > 0 } given ? given : options.WeChatAppId;
        if (appId != options.WeChatAppId) return (null, "appId 与下单 appid 不一致");
        if (f.GetValueOrDefault("signType") != "RSA") return (null, "signType 应为 RSA");
        if (!long.TryParse(f.GetValueOrDefault("timeStamp"), NumberStyles.None, CultureInfo.InvariantCulture, out _)) return (null, "timeStamp 非法");
        var package = f.GetValueOrDefault("package") ?? "";
        if (!package.StartsWith("prepay_id=", StringComparison.Ordinal)) return (null, "package 应为 prepay_id=…");
        var (trade, error) = ByPrepayId(package["prepay_id=".Length..], "JSAPI");
        if (trade is null) return (null, error);
        if (!MerchantSigned(f.GetValueOrDefault("paySign"), appId, f.GetValueOrDefault("timeStamp"), f.GetValueOrDefault("nonceStr"), package))
            return (null, "支付验证签名失败");
        return (trade, null);
    }

    /// <summary>The bridge's answer: err_msg get_brand_wcpay_request:ok once paid, :fail with err_desc otherwise.</summary>
    async Task<IResult> JsapiPayAsync(HttpContext http)
    {
        var (trade, error) = CheckJsapi(await FieldsAsync(http.Request));
        if (trade is not null) error = Paid(trade);
        return error is null
            ? Results.Json(new { err_msg = "get_brand_wcpay_request:ok" }, SdkJson)
            : Results.Json(new { err_msg = "get_brand_wcpay_request:fail", err_desc = error }, SdkJson, statusCode: 400);
    }

    /// <summary>The test page: shows whether paySign verifies with the merchant's public key; its button pays as the bridge would.</summary>
    IResult BridgePage(Dictionary<string, string> fields, bool pay)
    {
        var (trade, error) = CheckJsapi(fields);
        if (trade is not null && pay) error = Paid(trade);
        var state = trade is null ? "–" : Locked(trade, t => t.State);
        return new BuyerPage("微信支付 WeixinJSBridge (sandbox)", "微信支付 JSAPI (sandbox)", trade?.Description ?? "getBrandWCPayRequest",
            trade is null ? "–" : "¥" + SandboxRsa.Yuan(trade.Total), state)
        {
            Phone = true,
            QrLabel = "paySign",
            Qr = error is null ? "verified with the merchant's public key" : null,
            Error = error,
            Form = error is null && state == "NOTPAY"
                ? new BuyerForm($"{options.BasePath}/wechatpay/jsapi/bridge", "pay", "确认支付 Pay")
                {
                    Hidden = fields.Where(f => f.Key is "appId" or "timeStamp" or "nonceStr" or "package" or "signType" or "paySign").ToList(),
                }
                : null,
        }.Render();
    }

    /// <summary>The app SDK's PayReq: appid, partnerid (mchid), prepayid, package Sign=WXPay, noncestr, timestamp, sign over "appid\ntimestamp\nnoncestr\nprepayid\n".</summary>
    async Task<IResult> AppPayAsync(HttpContext http)
    {
        var f = await FieldsAsync(http.Request);
        var (trade, error) = ByPrepayId(f.GetValueOrDefault("prepayid"), "APP");
        if (f.GetValueOrDefault("appid") != options.WeChatAppId) error = "appid 与下单 appid 不一致";
        else if (f.GetValueOrDefault("partnerid") != options.WeChatMchId) error = "partnerid 与商户号不一致";
        else if (f.GetValueOrDefault("package") != "Sign=WXPay") error = "package 应为 Sign=WXPay";
        else if (trade is not null && !MerchantSigned(f.GetValueOrDefault("sign"), f["appid"], f.GetValueOrDefault("timestamp"), f.GetValueOrDefault("noncestr"), f["prepayid"]))
            error = "支付验证签名失败";
        if (error is null && trade is not null) error = Paid(trade);
        return error is null ? Results.Json(new { errCode = 0, errStr = "" }, SdkJson) : Results.Json(new { errCode = -1, errStr = error }, SdkJson, statusCode: 400);
    }

    /// <summary>WeChat's own words when the buyer's IP is not the order's scene_info.payer_client_ip.</summary>
    public const string H5IpMismatch = "网络环境未能通过安全验证，请稍后再试";

    IResult H5Page(HttpContext http, string prepayId, string? redirectUrl)
    {
        var (t, error) = ByPrepayId(prepayId, "MWEB");
        if (t is null) return Results.Content($"<p>{System.Net.WebUtility.HtmlEncode(error)}</p>", "text/html; charset=utf-8", statusCode: 400);
        if (!FromPayerIp(http, t)) return H5Refused(t);
        var state = Locked(t, x => x.State);
        return new BuyerPage($"微信支付 – {t.Description}", "微信支付 H5 (sandbox)", t.Description, "¥" + SandboxRsa.Yuan(t.Total), state)
        {
            Phone = true,
            ReturnUrl = string.IsNullOrEmpty(redirectUrl) ? null : redirectUrl,
            Form = state == "NOTPAY"
                ? new BuyerForm($"{options.BasePath}/wechatpay/h5/checkmweb", "pay", "确认支付 Pay")
                {
                    Hidden = [new("prepay_id", prepayId), new("redirect_url", redirectUrl ?? "")],
                }
                : null,
        }.Render();
    }

    /// <summary>Pays, then goes where the merchant's redirect_url says (reached whether or not the learner paid), else back to the page.</summary>
    async Task<IResult> H5PayAsync(HttpContext http)
    {
        var f = await FieldsAsync(http.Request);
        var prepayId = f.GetValueOrDefault("prepay_id") ?? "";
        var (t, error) = ByPrepayId(prepayId, "MWEB");
        if (t is null) return Results.Content($"<p>{System.Net.WebUtility.HtmlEncode(error)}</p>", "text/html; charset=utf-8", statusCode: 400);
        if (!FromPayerIp(http, t)) return H5Refused(t);
        Paid(t);
        var back = f.GetValueOrDefault("redirect_url");
        return Results.Redirect(string.IsNullOrEmpty(back)
            ? $"{options.BasePath}/wechatpay/h5/checkmweb?prepay_id={Uri.EscapeDataString(prepayId)}" : back);
    }

    /// <summary>
    /// WeChat binds an H5 payment to the IP the merchant sent: the cashier opens only for a request from that address
    /// (the connection's, after the host's forwarded-headers handling), so a leaked h5_url cannot be paid elsewhere.
    /// </summary>
    static bool FromPayerIp(HttpContext http, WeChatTrade trade) =>
        System.Net.IPAddress.TryParse(trade.PayerClientIp, out var expected) && http.Connection.RemoteIpAddress is { } actual &&
        Unmapped(expected).Equals(Unmapped(actual));

    static System.Net.IPAddress Unmapped(System.Net.IPAddress ip) => ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;

    /// <summary>The cashier's refusal page: WeChat's message, no pay button; the trade stays unpaid.</summary>
    static IResult H5Refused(WeChatTrade t) =>
        new BuyerPage("微信支付", "微信支付 H5 (sandbox)", t.Description, "¥" + SandboxRsa.Yuan(t.Total), Locked(t, x => x.State))
        {
            Phone = true, Error = H5IpMismatch,
        }.Render();

    /// <summary>Pays the trade (the notification follows); null once it is paid, else why not.</summary>
    string? Paid(WeChatTrade trade)
    {
        Pay(trade.OutTradeNo);
        var state = Locked(trade, t => t.State);
        return state == "SUCCESS" ? null : "订单状态不可支付: " + state;
    }

    static T Locked<T>(WeChatTrade trade, Func<WeChatTrade, T> read)
    {
        lock (trade) return read(trade);
    }

    /// <summary>A form post or a JSON object's top-level values, as strings.</summary>
    static async Task<Dictionary<string, string>> FieldsAsync(HttpRequest request)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        if (request.HasFormContentType)
        {
            foreach (var (k, v) in await request.ReadFormAsync()) fields[k] = v.ToString();
            return fields;
        }
        try
        {
            if (await JsonNode.ParseAsync(request.Body) is JsonObject body)
                foreach (var (k, v) in body)
                    if (v is JsonValue value) fields[k] = value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString();
        }
        catch (JsonException) { }
        return fields;
    }

    static string LoadBridgeScript()
    {
        using var stream = typeof(WeChatPaySimulator).Assembly.GetManifestResourceStream("KnowPay.Sandbox.WeChatPay.WeixinJSBridge.js")
            ?? throw new InvalidOperationException("The embedded resource WeChatPay/WeixinJSBridge.js is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
