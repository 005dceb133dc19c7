
namespace KnowPay.Sandbox.Alipay;

/// <summary>
/// Alipay's OpenAPI gateway from the provider's side, at {base}/alipay/gateway.do. Reads common parameters from the
/// query and the form body, verifies the merchant's RSA2 signature (refusing with error_response 40002
/// isv.invalid-signature), keeps trades, answers <c>{"&lt;method&gt;_response":{…},"sign":"…"}</c> signed over the exact
/// inner text, notifies form-encoded and signed (sign and sign_type excluded) until the body is exactly
/// <c>success</c>, on Alipay's schedule, and serves zipped CSV trade bills.
/// </summary>
public sealed partial class AlipaySimulator(SandboxOptions options, SandboxNotifier notifier, FaultGate gate, SandboxRequestLog requests, SandboxBills billing)
{
    readonly AlipayWire wire = new(options);
    readonly TradeStore<AlipayTrade> trades = new(options, t => t.Status == "WAIT_BUYER_PAY");
    readonly ConcurrentDictionary<string, DateOnly> bills = new();
    readonly ConcurrentDictionary<string, bool> brokenSignatures = new();

    /// <summary>Test hook: answers about this trade carry a corrupted signature (a tampered or forged gateway answer). "" stands for the calls about no trade (bills); <paramref name="broken"/> false mends them.</summary>
    public void BreakResponseSignatures(string outTradeNo, bool broken = true)
    {
        if (broken) brokenSignatures[outTradeNo] = true;
        else brokenSignatures.TryRemove(outTradeNo, out _);
    }

    /// <summary>Trade state as the sandbox holds it: status, refunded fen (for tests and the bills).</summary>
    public (string Status, long TotalFen, long RefundedFen, int Refunds)? Inspect(string outTradeNo) =>
        trades.TryGet(outTradeNo, out var t) ? (t.Status, t.TotalFen, t.RefundedFen, t.Refunds.Count) : null;

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/alipay");
        g.MapMethods("/gateway.do", ["GET", "POST"], (Delegate)Gateway).DisableAntiforgery();
        g.MapGet("/qr/{outTradeNo}", (string outTradeNo) => Cashier(outTradeNo));
        g.MapPost("/qr/{outTradeNo}", (string outTradeNo) =>
        {
            Pay(outTradeNo);
            return trades.TryGet(outTradeNo, out var t) && t.ReturnUrl is { } back
                ? Results.Redirect(back + (back.Contains('?') ? "&" : "?") + "out_trade_no=" + Uri.EscapeDataString(outTradeNo) + "&trade_no=" + t.TradeNo)
                : Results.Redirect($"{options.BasePath}/alipay/qr/{outTradeNo}");
        }).DisableAntiforgery();
        g.MapPost("/buyer/{outTradeNo}/pay", (string outTradeNo) => Pay(outTradeNo));
        g.MapGet("/bills/{token}", Bill);
        MapPhone(g);
        MapAgreements(g);
    }

    async Task<IResult> Gateway(HttpContext http)
    {
        var p = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in http.Request.Query) p[k] = v.ToString();
        if (http.Request.HasFormContentType)
            foreach (var (k, v) in await http.Request.ReadFormAsync()) p[k] = v.ToString();
        var method = p.GetValueOrDefault("method") ?? "";
        if (p.GetValueOrDefault("app_id") != options.AlipayAppId) return wire.ErrorResponse("isv.invalid-app-id", "无效的AppID参数");
        if (p.GetValueOrDefault("sign_type") != "RSA2") return wire.ErrorResponse("isv.invalid-signature-type", "无效的签名类型");
        if (!SandboxRsa.Verify(SandboxRsa.AlipayContent(p, withoutSignType: false), p.GetValueOrDefault("sign"), options.AlipayMerchantPublicKeyPem))
            return wire.ErrorResponse("isv.invalid-signature", "验签出错");
        if (!DateTime.TryParseExact(p.GetValueOrDefault("timestamp"), "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
            return wire.ErrorResponse("isv.invalid-timestamp", "非法的时间戳参数");
        JsonObject biz;
        try { biz = JsonNode.Parse(p.GetValueOrDefault("biz_content") ?? "{}")!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return wire.ErrorResponse("isv.invalid-biz-content", "biz_content 非法"); }
        var outTradeNo = (string?)biz["out_trade_no"] ?? "";

        if (method is "alipay.trade.pay" or "alipay.trade.precreate" || method.StartsWith("alipay.user.agreement.", StringComparison.Ordinal))
            requests.Record($"alipay {method} signature verified biz_content={p.GetValueOrDefault("biz_content")}");
        if (method == "alipay.user.agreement.page.sign") return PageSign(http, biz, p);
        if (method == "alipay.trade.wap.pay") return WapPay(http, biz, p);
        if (method == "alipay.trade.page.pay")
        {
            if (http.Request.Method != "GET" && !http.Request.HasFormContentType) return wire.ErrorResponse("isv.invalid-method", "page.pay is a browser call");
            var created = Create(biz, p);
            if (created.Error is not null) return Results.Content($"<p>{System.Net.WebUtility.HtmlEncode(created.Error)}</p>", "text/html; charset=utf-8", statusCode: 400);
            return Cashier(outTradeNo);
        }
        return await gate.PassOrReplayAsync(outTradeNo, () => Results.Text("Service Currently Unavailable", statusCode: 503), () =>
        {
            var inner = method switch
            {
                "alipay.trade.precreate" => Precreate(biz, p),
                "alipay.trade.pay" => AgreementPay(biz, p),
                "alipay.user.agreement.query" => AgreementQuery(biz),
                "alipay.user.agreement.unsign" => AgreementUnsign(biz),
                "alipay.trade.query" => Query(outTradeNo),
                "alipay.trade.close" => Close(outTradeNo),
                "alipay.trade.refund" => Refund(biz),
                "alipay.trade.fastpay.refund.query" => RefundQuery(biz),
                "alipay.data.dataservice.bill.downloadurl.query" => BillUrl(biz),
                _ => null,
            };
            if (inner is null) return (wire.ErrorResponse("isv.invalid-method", "不存在的方法名"), false);
            return (wire.Signed(method.Replace('.', '_') + "_response", inner, brokenSignatures.ContainsKey(outTradeNo)), true);
        });
    }

    (AlipayTrade? Trade, string? Error) Create(JsonObject biz, Dictionary<string, string> p)
    {
        var outTradeNo = (string?)biz["out_trade_no"];
        if (string.IsNullOrEmpty(outTradeNo) || outTradeNo.Length > 64) return (null, "out_trade_no");
        // Only alipay.trade.pay takes the cross-border fields; page, wap, app pay and precreate are priced in CNY.
        var crossBorder = p.GetValueOrDefault("method") == "alipay.trade.pay";
        var trans = (string?)biz["trans_currency"] ?? "CNY";
        var settle = (string?)biz["settle_currency"] ?? options.AlipaySettleCurrency;
        if (!crossBorder && (biz["trans_currency"] is not null || biz["settle_currency"] is not null)) return (null, "trans_currency");
        if (!SandboxFx.Supports(trans) || !SandboxFx.Supports(settle)) return (null, "ACQ.CURRENCY_NOT_SUPPORT");
        if (settle != options.AlipaySettleCurrency) return (null, "settle_currency");
        if (!SandboxFx.TryMinor((string?)biz["total_amount"], trans, out var fen)) return (null, "total_amount");
        if (string.IsNullOrEmpty((string?)biz["subject"])) return (null, "subject");
        var trade = trades.GetOrAdd(outTradeNo, () => new AlipayTrade(
            DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + "2200" + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(10_000, 99_999).ToString(CultureInfo.InvariantCulture),
            outTradeNo, fen, (string)biz["subject"]!, p.GetValueOrDefault("notify_url"), DateTimeOffset.UtcNow) { TransCurrency = trans, SettleCurrency = settle });
        if (p.GetValueOrDefault("return_url") is { Length: > 0 } back) trade.ReturnUrl = back;
        if (trade.TotalFen != fen) return (null, "ACQ.CONTEXT_INCONSISTENT");
        return (trade, null);
    }

    JsonObject Precreate(JsonObject biz, Dictionary<string, string> p)
    {
        var (trade, error) = Create(biz, p);
        if (error == "ACQ.CONTEXT_INCONSISTENT") return AlipayWire.Failure("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
        if (error == "ACQ.CURRENCY_NOT_SUPPORT") return AlipayWire.Failure("ACQ.CURRENCY_NOT_SUPPORT", "币种不支持");
        if (trade is null) return AlipayWire.Invalid($"{error} 参数非法");
        if (trade.Status is "TRADE_SUCCESS" or "TRADE_FINISHED") return AlipayWire.Failure("ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
        if (trade.Status == "TRADE_CLOSED") return AlipayWire.Failure("ACQ.TRADE_HAS_CLOSE", "交易已经关闭");
        return AlipayWire.Ok(new JsonObject { ["out_trade_no"] = trade.OutTradeNo, ["qr_code"] = QrTarget(trade.OutTradeNo) });
    }

    JsonObject Query(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return AlipayWire.Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        lock (t)
        {
            var o = AlipayWire.Ok(new JsonObject
            {
                ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo, ["buyer_logon_id"] = "lea***@example.com", ["trade_status"] = t.Status,
                ["total_amount"] = SandboxFx.Major(t.TotalFen, t.TransCurrency),
            });
            if (t.PaidAt is { } paid)
            {
                o["buyer_pay_amount"] = SandboxRsa.Yuan(t.TotalFen);
                o["receipt_amount"] = SandboxRsa.Yuan(t.TotalFen);
                o["send_pay_date"] = SandboxRsa.Beijing(paid);
                foreach (var (k, v) in AlipayWire.CrossBorderFields(t)) o[k] = v;
            }
            return o;
        }
    }

    JsonObject Close(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return AlipayWire.Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        lock (t)
        {
            if (t.Status is "TRADE_SUCCESS" or "TRADE_FINISHED") return AlipayWire.Failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
            t.Status = "TRADE_CLOSED";
        }
        return AlipayWire.Ok(new JsonObject { ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo });
    }

    JsonObject Refund(JsonObject biz)
    {
        var outTradeNo = (string?)biz["out_trade_no"] ?? "";
        if (!SandboxRsa.TryFen((string?)biz["refund_amount"], out var fen)) return AlipayWire.Invalid("refund_amount 参数非法");
        var requestNo = (string?)biz["out_request_no"] is { Length: > 0 } r ? r : outTradeNo;
        if (!trades.TryGet(outTradeNo, out var t)) return AlipayWire.Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        DateTimeOffset at;
        lock (t)
        {
            if (t.Refunds.TryGetValue(requestNo, out var earlier))
            {
                // A repeat of the same out_request_no: no money moves again.
                return RefundAnswer(t, "N", earlier.At);
            }
            if (t.Status != "TRADE_SUCCESS") return AlipayWire.Failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
            if (t.RefundedFen + fen > t.TotalFen) return AlipayWire.Failure("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
            at = DateTimeOffset.UtcNow;
            t.Refunds[requestNo] = (fen, at);
            t.RefundedFen += fen;
            if (t.RefundedFen == t.TotalFen) t.Status = "TRADE_CLOSED";
        }
        if (t.NotifyUrl is not null)
        {
            var fields = wire.TradeFields(t);
            fields["out_biz_no"] = requestNo;
            fields["refund_fee"] = SandboxRsa.Yuan(t.RefundedFen);
            fields["gmt_refund"] = SandboxRsa.Beijing(at) + ".000";
            notifier.SendRefund(wire.Notification(t, fields));
        }
        // Alipay's synchronous refund answer has no "in progress" state: the fault answers a system error after acting.
        if (gate.AnswersRefundPending(outTradeNo))
            return new JsonObject { ["code"] = "20000", ["msg"] = "Service Currently Unavailable", ["sub_code"] = "ACQ.SYSTEM_ERROR", ["sub_msg"] = "系统错误" };
        return RefundAnswer(t, "Y", at);
    }

    JsonObject RefundAnswer(AlipayTrade t, string fundChange, DateTimeOffset at) => AlipayWire.Ok(new JsonObject
    {
        ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo, ["buyer_logon_id"] = "lea***@example.com", ["fund_change"] = fundChange,
        ["refund_fee"] = SandboxRsa.Yuan(t.RefundedFen), ["gmt_refund_pay"] = SandboxRsa.Beijing(at),
    });

    JsonObject RefundQuery(JsonObject biz)
    {
        var outTradeNo = (string?)biz["out_trade_no"] ?? "";
        var requestNo = (string?)biz["out_request_no"] ?? "";
        if (!trades.TryGet(outTradeNo, out var t)) return AlipayWire.Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        lock (t)
        {
            // No such refund: Alipay answers success with no refund fields.
            if (!t.Refunds.TryGetValue(requestNo, out var refund)) return AlipayWire.Ok(new JsonObject());
            return AlipayWire.Ok(new JsonObject
            {
                ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo, ["out_request_no"] = requestNo,
                ["total_amount"] = SandboxRsa.Yuan(t.TotalFen), ["refund_amount"] = SandboxRsa.Yuan(refund.Fen), ["refund_status"] = "REFUND_SUCCESS",
            });
        }
    }

    JsonObject BillUrl(JsonObject biz)
    {
        if ((string?)biz["bill_type"] != "trade") return AlipayWire.Invalid("bill_type 参数非法");
        if (!DateOnly.TryParseExact((string?)biz["bill_date"], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return AlipayWire.Invalid("bill_date 参数非法");
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        bills[token] = day;
        return AlipayWire.Ok(new JsonObject { ["bill_download_url"] = $"{options.PublicBaseUrl()}/alipay/bills/{token}" });
    }

    /// <summary>
    /// The simulated buyer pays (scan, cashier, phone). Declined under the SuccessRate fault: the trade closes unpaid
    /// (TRADE_CLOSED, notified as Alipay notifies a closed trade), as it would once the buyer gave up. Refused once the trade is closed.
    /// </summary>
    public IResult Pay(string outTradeNo) => Pay(outTradeNo, declinable: true);

    /// <param name="declinable">False for a deduction under an agreement: the SuccessRate fault judges buyers' payments only, as SandboxPay's does.</param>
    IResult Pay(string outTradeNo, bool declinable)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return Results.Json(new { error = "trade_not_found" }, statusCode: 404);
        lock (t)
        {
            if (t.Status == "TRADE_CLOSED") return Results.Json(new { error = "trade_closed" }, statusCode: 409);
            if (t.Status != "WAIT_BUYER_PAY") return Results.Json(new { out_trade_no = t.OutTradeNo, trade_status = t.Status });
            if (declinable && gate.Declines(outTradeNo)) t.Status = "TRADE_CLOSED";
            else
            {
                t.Status = "TRADE_SUCCESS";
                t.PaidAt = DateTimeOffset.UtcNow;
            }
        }
        if (t.NotifyUrl is not null) notifier.SendPayment(wire.Notification(t, wire.TradeFields(t)));
        return Results.Json(new { out_trade_no = t.OutTradeNo, trade_no = t.TradeNo, trade_status = t.Status });
    }

    IResult Cashier(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return Results.NotFound();
        return new BuyerPage($"支付宝 Alipay sandbox – {t.Subject}", "支付宝 Alipay (sandbox)", t.Subject, "¥" + SandboxRsa.Yuan(t.TotalFen), t.Status)
        {
            Qr = QrTarget(t.OutTradeNo),
            Form = t.Status == "WAIT_BUYER_PAY" ? new BuyerForm($"{options.BasePath}/alipay/qr/{Uri.EscapeDataString(t.OutTradeNo)}", "pay", "Pay 付款") : null,
        }.Render();
    }

    IResult Bill(string token) => bills.TryRemove(token, out var day)
        ? AlipayBills.Zip(day, billing.Day(day, TimeSpan.FromHours(8), AlipayBills.Entries(trades.Values, billing)))
        : Results.NotFound();

    string QrTarget(string outTradeNo) => $"{options.PublicBaseUrl()}/alipay/qr/{Uri.EscapeDataString(outTradeNo)}";

}
