namespace KnowPay.Sandbox.Alipay;

/// <summary>
/// Alipay on phones: alipay.trade.wap.pay (a signed browser redirect to a phone-sized cashier, quit_url offered) and the
/// app SDK (<c>POST /alipay/app/pay</c> plays the Alipay SDK: it takes the merchant's signed order string, verifies it,
/// creates and pays the trade, and answers the SDK's result with Alipay's signed alipay_trade_app_pay_response).
/// </summary>
public sealed partial class AlipaySimulator
{
    /// <summary>The SDK's own names (resultStatus), whatever naming policy the host gives its own JSON.</summary>
    static readonly JsonSerializerOptions RelaxedJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    void MapPhone(IEndpointRouteBuilder g)
    {
        g.MapGet("/wap/{outTradeNo}", (string outTradeNo) => WapCashier(outTradeNo));
        g.MapPost("/wap/{outTradeNo}", (string outTradeNo) =>
        {
            Pay(outTradeNo);
            return trades.TryGet(outTradeNo, out var t) && t.ReturnUrl is { } back
                ? Results.Redirect(back + (back.Contains('?') ? "&" : "?") + "out_trade_no=" + Uri.EscapeDataString(outTradeNo) + "&trade_no=" + t.TradeNo)
                : Results.Redirect($"{options.BasePath}/alipay/wap/{Uri.EscapeDataString(outTradeNo)}");
        }).DisableAntiforgery();
        g.MapPost("/app/pay", (Delegate)AppPayAsync).DisableAntiforgery();
    }

    /// <summary>The browser arrives with the signed request (its signature already verified by the gateway): the trade exists from now on.</summary>
    IResult WapPay(HttpContext http, JsonObject biz, Dictionary<string, string> p)
    {
        if (http.Request.Method != "GET" && !http.Request.HasFormContentType) return wire.ErrorResponse("isv.invalid-method", "wap.pay is a browser call");
        if ((string?)biz["product_code"] is { } product && product != "QUICK_WAP_WAY") return Refusal("product_code 应为 QUICK_WAP_WAY");
        var (trade, error) = Create(biz, p);
        if (trade is null || error is not null) return Refusal(error ?? "biz_content");
        if ((string?)biz["quit_url"] is { Length: > 0 } quit) trade.QuitUrl = quit;
        return WapCashier(trade.OutTradeNo);
    }

    static IResult Refusal(string error) =>
        Results.Content($"<p>{System.Net.WebUtility.HtmlEncode(error)}</p>", "text/html; charset=utf-8", statusCode: 400);

    IResult WapCashier(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return Results.NotFound();
        return new BuyerPage($"支付宝 – {t.Subject}", "支付宝 手机网站支付 (sandbox)", t.Subject, "¥" + SandboxRsa.Yuan(t.TotalFen), t.Status)
        {
            Phone = true,
            ReturnUrl = t.QuitUrl,
            Form = t.Status == "WAIT_BUYER_PAY" ? new BuyerForm($"{options.BasePath}/alipay/wap/{Uri.EscapeDataString(t.OutTradeNo)}", "pay", "确认付款 Pay") : null,
        }.Render();
    }

    /// <summary>
    /// The Alipay SDK's payment call: form field <c>order_string</c> (or the raw body). Answers the SDK's result:
    /// <c>resultStatus</c> 9000 with the signed response in <c>result</c>, or 4000 (payment failed) with a <c>memo</c>.
    /// </summary>
    async Task<IResult> AppPayAsync(HttpContext http)
    {
        var orderString = http.Request.HasFormContentType
            ? (await http.Request.ReadFormAsync())["order_string"].ToString()
            : await new StreamReader(http.Request.Body, Encoding.UTF8).ReadToEndAsync();
        var p = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in orderString.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            p[System.Net.WebUtility.UrlDecode(kv[0])] = kv.Length == 2 ? System.Net.WebUtility.UrlDecode(kv[1]) : "";
        }
        if (p.GetValueOrDefault("app_id") != options.AlipayAppId) return AppFailure("isv.invalid-app-id 无效的AppID参数");
        if (p.GetValueOrDefault("method") != "alipay.trade.app.pay") return AppFailure("isv.invalid-method 不存在的方法名");
        if (p.GetValueOrDefault("sign_type") != "RSA2") return AppFailure("isv.invalid-signature-type 无效的签名类型");
        if (!SandboxRsa.Verify(SandboxRsa.AlipayContent(p, withoutSignType: false), p.GetValueOrDefault("sign"), options.AlipayMerchantPublicKeyPem))
            return AppFailure("isv.invalid-signature 验签出错");
        JsonObject biz;
        try { biz = JsonNode.Parse(p.GetValueOrDefault("biz_content") ?? "{}")!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return AppFailure("isv.invalid-biz-content biz_content 非法"); }
        if ((string?)biz["product_code"] != "QUICK_MSECURITY_PAY") return AppFailure("product_code 应为 QUICK_MSECURITY_PAY");
        var (trade, error) = Create(biz, p);
        if (trade is null || error is not null) return AppFailure(error ?? "biz_content");
        Pay(trade.OutTradeNo);
        lock (trade)
        {
            if (trade.Status != "TRADE_SUCCESS") return AppFailure("ACQ.TRADE_STATUS_ERROR 交易状态不合法: " + trade.Status);
        }
        var inner = AlipayWire.Ok(new JsonObject
        {
            ["app_id"] = options.AlipayAppId, ["auth_app_id"] = options.AlipayAppId, ["charset"] = "utf-8",
            ["timestamp"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow), ["out_trade_no"] = trade.OutTradeNo, ["trade_no"] = trade.TradeNo,
            ["total_amount"] = SandboxRsa.Yuan(trade.TotalFen), ["seller_id"] = AlipayBills.SellerId,
        }).ToJsonString(RelaxedJson);
        var result = $"{{\"alipay_trade_app_pay_response\":{inner},\"sign\":\"{SandboxRsa.Sign(inner, options.AlipayPrivateKeyPem)}\",\"sign_type\":\"RSA2\"}}";
        return Results.Json(new { resultStatus = "9000", memo = "", result }, RelaxedJson);
    }

    static IResult AppFailure(string memo) => Results.Json(new { resultStatus = "4000", memo, result = "" }, RelaxedJson, statusCode: 400);
}
