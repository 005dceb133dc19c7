using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace KnowPay.Sandbox.Alipay;

/// <summary>
/// Alipay's OpenAPI gateway from the provider's side, at {base}/alipay/gateway.do. Reads common parameters from the
/// query and the form body, verifies the merchant's RSA2 signature (refusing with error_response 40002
/// isv.invalid-signature), keeps trades, answers <c>{"&lt;method&gt;_response":{…},"sign":"…"}</c> signed over the exact
/// inner text, notifies form-encoded and signed (sign and sign_type excluded) until the body is exactly
/// <c>success</c>, on Alipay's schedule, and serves zipped CSV trade bills.
/// </summary>
public sealed class AlipaySimulator(SandboxOptions options, SandboxNotifier notifier, SandboxFaults faults)
{
    static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), TimeSpan.FromHours(2),
        TimeSpan.FromHours(6), TimeSpan.FromHours(15),
    ];
    const string SellerId = "2088000000000001";

    readonly ConcurrentDictionary<string, Trade> trades = new();
    readonly ConcurrentDictionary<string, DateOnly> bills = new();
    readonly ConcurrentDictionary<string, bool> brokenSignatures = new();

    sealed class Trade
    {
        public required string TradeNo { get; init; }
        public required string OutTradeNo { get; init; }
        public long TotalFen { get; init; }
        public required string Subject { get; init; }
        public string? NotifyUrl { get; init; }
        public string? ReturnUrl { get; set; }
        public string Status { get; set; } = "WAIT_BUYER_PAY";
        public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
        public DateTimeOffset? PaidAt { get; set; }
        public long RefundedFen { get; set; }
        public Dictionary<string, (long Fen, DateTimeOffset At)> Refunds { get; } = new(StringComparer.Ordinal);
        public Action? HeldPaymentNotification { get; set; }
    }

    /// <summary>Test hook: answers about this trade carry a corrupted signature (a tampered or forged gateway answer). "" stands for the calls about no trade (bills); <paramref name="broken"/> false mends them.</summary>
    public void BreakResponseSignatures(string outTradeNo, bool broken = true)
    {
        if (broken) brokenSignatures[outTradeNo] = true;
        else brokenSignatures.TryRemove(outTradeNo, out _);
    }

    /// <summary>Trade state as the sandbox holds it: status, refunded fen (for tests and the bills).</summary>
    public (string Status, long TotalFen, long RefundedFen, int Refunds)? Inspect(string outTradeNo) =>
        trades.TryGetValue(outTradeNo, out var t) ? (t.Status, t.TotalFen, t.RefundedFen, t.Refunds.Count) : null;

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/alipay");
        g.MapMethods("/gateway.do", ["GET", "POST"], (Delegate)Gateway).DisableAntiforgery();
        g.MapGet("/qr/{outTradeNo}", (string outTradeNo) => Cashier(outTradeNo));
        g.MapPost("/qr/{outTradeNo}", (string outTradeNo) =>
        {
            Pay(outTradeNo);
            return trades.TryGetValue(outTradeNo, out var t) && t.ReturnUrl is { } back
                ? Results.Redirect(back + (back.Contains('?') ? "&" : "?") + "out_trade_no=" + Uri.EscapeDataString(outTradeNo) + "&trade_no=" + t.TradeNo)
                : Results.Redirect($"{options.BasePath}/alipay/qr/{outTradeNo}");
        }).DisableAntiforgery();
        g.MapPost("/buyer/{outTradeNo}/pay", (string outTradeNo) => Pay(outTradeNo));
        g.MapGet("/bills/{token}", Bill);
    }

    async Task<IResult> Gateway(HttpContext http)
    {
        var p = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in http.Request.Query) p[k] = v.ToString();
        if (http.Request.HasFormContentType)
            foreach (var (k, v) in await http.Request.ReadFormAsync()) p[k] = v.ToString();
        var method = p.GetValueOrDefault("method") ?? "";
        if (p.GetValueOrDefault("app_id") != options.AlipayAppId) return ErrorResponse("isv.invalid-app-id", "无效的AppID参数");
        if (p.GetValueOrDefault("sign_type") != "RSA2") return ErrorResponse("isv.invalid-signature-type", "无效的签名类型");
        if (!SandboxRsa.Verify(SandboxRsa.AlipayContent(p, withoutSignType: false), p.GetValueOrDefault("sign"), options.AlipayMerchantPublicKeyPem))
            return ErrorResponse("isv.invalid-signature", "验签出错");
        if (!DateTime.TryParseExact(p.GetValueOrDefault("timestamp"), "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
            return ErrorResponse("isv.invalid-timestamp", "非法的时间戳参数");
        JsonObject biz;
        try { biz = JsonNode.Parse(p.GetValueOrDefault("biz_content") ?? "{}")!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return ErrorResponse("isv.invalid-biz-content", "biz_content 非法"); }
        var outTradeNo = (string?)biz["out_trade_no"] ?? "";

        if (method == "alipay.trade.page.pay")
        {
            if (http.Request.Method != "GET" && !http.Request.HasFormContentType) return ErrorResponse("isv.invalid-method", "page.pay is a browser call");
            var created = Create(biz, p);
            if (created.Error is not null) return Results.Content($"<p>{Enc(created.Error)}</p>", "text/html; charset=utf-8", statusCode: 400);
            return Cashier(outTradeNo);
        }
        var fault = faults.For(outTradeNo);
        if (fault.ApiError5xx) return Results.Text("Service Currently Unavailable", statusCode: 503);
        var inner = method switch
        {
            "alipay.trade.precreate" => Precreate(biz, p),
            "alipay.trade.query" => Query(outTradeNo),
            "alipay.trade.close" => Close(outTradeNo),
            "alipay.trade.refund" => Refund(biz),
            "alipay.trade.fastpay.refund.query" => RefundQuery(biz),
            "alipay.data.dataservice.bill.downloadurl.query" => BillUrl(biz),
            _ => null,
        };
        if (inner is null) return ErrorResponse("isv.invalid-method", "不存在的方法名");
        if (fault.ApiStallMs > 0) await Task.Delay(fault.ApiStallMs);
        return Signed(method.Replace('.', '_') + "_response", inner, brokenSignatures.ContainsKey(outTradeNo));
    }

    (Trade? Trade, string? Error) Create(JsonObject biz, Dictionary<string, string> p)
    {
        var outTradeNo = (string?)biz["out_trade_no"];
        if (string.IsNullOrEmpty(outTradeNo) || outTradeNo.Length > 64) return (null, "out_trade_no");
        if (!SandboxRsa.TryFen((string?)biz["total_amount"], out var fen)) return (null, "total_amount");
        if (string.IsNullOrEmpty((string?)biz["subject"])) return (null, "subject");
        var trade = trades.GetOrAdd(outTradeNo, _ => new Trade
        {
            TradeNo = DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + "2200" + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(10_000, 99_999).ToString(CultureInfo.InvariantCulture),
            OutTradeNo = outTradeNo, TotalFen = fen, Subject = (string)biz["subject"]!, NotifyUrl = p.GetValueOrDefault("notify_url"),
        });
        if (p.GetValueOrDefault("return_url") is { Length: > 0 } back) trade.ReturnUrl = back;
        if (trade.TotalFen != fen) return (null, "ACQ.CONTEXT_INCONSISTENT");
        return (trade, null);
    }

    JsonObject Precreate(JsonObject biz, Dictionary<string, string> p)
    {
        var (trade, error) = Create(biz, p);
        if (error == "ACQ.CONTEXT_INCONSISTENT") return Failure("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
        if (trade is null) return Invalid($"{error} 参数非法");
        if (trade.Status is "TRADE_SUCCESS" or "TRADE_FINISHED") return Failure("ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
        if (trade.Status == "TRADE_CLOSED") return Failure("ACQ.TRADE_HAS_CLOSE", "交易已经关闭");
        return Ok(new JsonObject { ["out_trade_no"] = trade.OutTradeNo, ["qr_code"] = QrTarget(trade.OutTradeNo) });
    }

    JsonObject Query(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var t)) return Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        lock (t)
        {
            var o = Ok(new JsonObject
            {
                ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo, ["buyer_logon_id"] = "lea***@example.com", ["trade_status"] = t.Status,
                ["total_amount"] = SandboxRsa.Yuan(t.TotalFen),
            });
            if (t.PaidAt is { } paid)
            {
                o["buyer_pay_amount"] = SandboxRsa.Yuan(t.TotalFen);
                o["receipt_amount"] = SandboxRsa.Yuan(t.TotalFen);
                o["send_pay_date"] = SandboxRsa.Beijing(paid);
            }
            return o;
        }
    }

    JsonObject Close(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var t)) return Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        lock (t)
        {
            if (t.Status is "TRADE_SUCCESS" or "TRADE_FINISHED") return Failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
            t.Status = "TRADE_CLOSED";
        }
        return Ok(new JsonObject { ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo });
    }

    JsonObject Refund(JsonObject biz)
    {
        var outTradeNo = (string?)biz["out_trade_no"] ?? "";
        if (!SandboxRsa.TryFen((string?)biz["refund_amount"], out var fen)) return Invalid("refund_amount 参数非法");
        var requestNo = (string?)biz["out_request_no"] is { Length: > 0 } r ? r : outTradeNo;
        if (!trades.TryGetValue(outTradeNo, out var t)) return Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        DateTimeOffset at;
        lock (t)
        {
            if (t.Refunds.TryGetValue(requestNo, out var earlier))
            {
                // A repeat of the same out_request_no: no money moves again.
                return RefundAnswer(t, "N", earlier.At);
            }
            if (t.Status != "TRADE_SUCCESS") return Failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
            if (t.RefundedFen + fen > t.TotalFen) return Failure("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
            at = DateTimeOffset.UtcNow;
            t.Refunds[requestNo] = (fen, at);
            t.RefundedFen += fen;
            if (t.RefundedFen == t.TotalFen) t.Status = "TRADE_CLOSED";
        }
        if (t.NotifyUrl is not null)
        {
            var fields = TradeFields(t);
            fields["out_biz_no"] = requestNo;
            fields["refund_fee"] = SandboxRsa.Yuan(t.RefundedFen);
            fields["gmt_refund"] = SandboxRsa.Beijing(at) + ".000";
            Notify(t, fields);
            if (t.HeldPaymentNotification is { } held)
            {
                t.HeldPaymentNotification = null;
                _ = Task.Delay(300).ContinueWith(_ => held(), TaskScheduler.Default);
            }
        }
        // Alipay's synchronous refund answer has no "in progress" state: the fault answers a system error after acting.
        if (faults.For(outTradeNo).RefundAnswerPending)
            return new JsonObject { ["code"] = "20000", ["msg"] = "Service Currently Unavailable", ["sub_code"] = "ACQ.SYSTEM_ERROR", ["sub_msg"] = "系统错误" };
        return RefundAnswer(t, "Y", at);
    }

    JsonObject RefundAnswer(Trade t, string fundChange, DateTimeOffset at) => Ok(new JsonObject
    {
        ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo, ["buyer_logon_id"] = "lea***@example.com", ["fund_change"] = fundChange,
        ["refund_fee"] = SandboxRsa.Yuan(t.RefundedFen), ["gmt_refund_pay"] = SandboxRsa.Beijing(at),
    });

    JsonObject RefundQuery(JsonObject biz)
    {
        var outTradeNo = (string?)biz["out_trade_no"] ?? "";
        var requestNo = (string?)biz["out_request_no"] ?? "";
        if (!trades.TryGetValue(outTradeNo, out var t)) return Failure("ACQ.TRADE_NOT_EXIST", "交易不存在");
        lock (t)
        {
            // No such refund: Alipay answers success with no refund fields.
            if (!t.Refunds.TryGetValue(requestNo, out var refund)) return Ok(new JsonObject());
            return Ok(new JsonObject
            {
                ["trade_no"] = t.TradeNo, ["out_trade_no"] = t.OutTradeNo, ["out_request_no"] = requestNo,
                ["total_amount"] = SandboxRsa.Yuan(t.TotalFen), ["refund_amount"] = SandboxRsa.Yuan(refund.Fen), ["refund_status"] = "REFUND_SUCCESS",
            });
        }
    }

    JsonObject BillUrl(JsonObject biz)
    {
        if ((string?)biz["bill_type"] != "trade") return Invalid("bill_type 参数非法");
        if (!DateOnly.TryParseExact((string?)biz["bill_date"], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return Invalid("bill_date 参数非法");
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        bills[token] = day;
        return Ok(new JsonObject { ["bill_download_url"] = $"{options.PublicBaseUrl()}/alipay/bills/{token}" });
    }

    /// <summary>The simulated buyer pays (scan or cashier). Refused once the trade is closed.</summary>
    public IResult Pay(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var t)) return Results.Json(new { error = "trade_not_found" }, statusCode: 404);
        lock (t)
        {
            if (t.Status == "TRADE_CLOSED") return Results.Json(new { error = "trade_closed" }, statusCode: 409);
            if (t.Status != "WAIT_BUYER_PAY") return Results.Json(new { out_trade_no = t.OutTradeNo, trade_status = t.Status });
            t.Status = "TRADE_SUCCESS";
            t.PaidAt = DateTimeOffset.UtcNow;
        }
        if (t.NotifyUrl is not null)
        {
            var fields = TradeFields(t);
            if (faults.For(t.OutTradeNo).ReorderRefundBeforePayment)
            {
                // Held until a refund notification has gone out (or 2 s pass): the merchant sees the refund first.
                var once = 0;
                t.HeldPaymentNotification = () => { if (Interlocked.Exchange(ref once, 1) == 0) Notify(t, fields); };
                var held = t.HeldPaymentNotification;
                _ = Task.Delay(2000).ContinueWith(_ => held(), TaskScheduler.Default);
            }
            else Notify(t, fields);
        }
        return Results.Json(new { out_trade_no = t.OutTradeNo, trade_no = t.TradeNo, trade_status = t.Status });
    }

    Dictionary<string, string> TradeFields(Trade t) => new(StringComparer.Ordinal)
    {
        ["notify_type"] = "trade_status_sync",
        ["notify_id"] = "2024" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(14)),
        ["app_id"] = options.AlipayAppId,
        ["charset"] = "utf-8",
        ["version"] = "1.0",
        ["sign_type"] = "RSA2",
        ["trade_no"] = t.TradeNo,
        ["out_trade_no"] = t.OutTradeNo,
        ["trade_status"] = t.Status,
        ["total_amount"] = SandboxRsa.Yuan(t.TotalFen),
        ["receipt_amount"] = SandboxRsa.Yuan(t.TotalFen),
        ["buyer_pay_amount"] = SandboxRsa.Yuan(t.TotalFen),
        ["gmt_create"] = SandboxRsa.Beijing(t.CreatedAt),
        ["gmt_payment"] = t.PaidAt is { } paid ? SandboxRsa.Beijing(paid) : "",
        ["seller_id"] = SellerId,
        ["buyer_id"] = "2088102177846880",
        ["subject"] = t.Subject,
    };

    /// <summary>Signs Alipay's way (sign and sign_type excluded), re-signed with a fresh notify_time on every attempt; same notify_id.</summary>
    void Notify(Trade t, Dictionary<string, string> fields)
    {
        notifier.Send(new OutgoingNotification("alipay", t.OutTradeNo, t.NotifyUrl!, () =>
        {
            var f = new Dictionary<string, string>(fields, StringComparer.Ordinal) { ["notify_time"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow) };
            f["sign"] = SandboxRsa.Sign(SandboxRsa.AlipayContent(f, withoutSignType: true), options.AlipayPrivateKeyPem);
            var body = string.Join("&", f.Where(kv => kv.Value.Length > 0).Select(kv => kv.Key + "=" + Uri.EscapeDataString(kv.Value)));
            return SandboxNotifier.Post(t.NotifyUrl!, body, "application/x-www-form-urlencoded; charset=utf-8");
        }, (response, body) => response.IsSuccessStatusCode && body == "success", RetrySchedule));
    }

    IResult Cashier(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var t)) return Results.NotFound();
        var html = $$"""
            <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>支付宝 Alipay sandbox – {{Enc(t.Subject)}}</title>
            <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}button{font-size:1.1rem;padding:.6rem 1.4rem}code{word-break:break-all}</style></head>
            <body><h1>支付宝 Alipay (sandbox)</h1><p>{{Enc(t.Subject)}}</p><p>Amount: <strong>¥{{SandboxRsa.Yuan(t.TotalFen)}}</strong></p>
            <p>QR target: <code id="qr">{{Enc(QrTarget(t.OutTradeNo))}}</code></p>
            <p>Status: <strong id="status">{{t.Status}}</strong></p>
            {{(t.Status == "WAIT_BUYER_PAY" ? $"<form method=\"post\" action=\"{options.BasePath}/alipay/qr/{Uri.EscapeDataString(t.OutTradeNo)}\"><button id=\"pay\" type=\"submit\">Pay 付款</button></form>" : "")}}
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }

    /// <summary>A zip holding the day's trade detail CSV (GBK) with Alipay's # header and footer lines.</summary>
    IResult Bill(string token)
    {
        if (!bills.TryRemove(token, out var day)) return Results.NotFound();
        var gbk = CodePagesEncodingProvider.Instance.GetEncoding("GBK") ?? Encoding.UTF8;
        var csv = new StringBuilder();
        csv.Append("#支付宝业务明细查询\r\n#账号：[").Append(SellerId).Append("0156]\r\n");
        csv.Append("#起始日期：[").Append(day.ToString("yyyy年MM月dd日", CultureInfo.InvariantCulture)).Append(" 00:00:00]   终止日期：[")
            .Append(day.AddDays(1).ToString("yyyy年MM月dd日", CultureInfo.InvariantCulture)).Append(" 00:00:00]\r\n");
        csv.Append("#-----------------------------------------业务明细列表----------------------------------------\r\n");
        csv.Append("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n");
        int paidCount = 0, refundCount = 0;
        foreach (var t in trades.Values.OrderBy(t => t.CreatedAt))
        {
            lock (t)
            {
                if (t.PaidAt is { } paid && DateOnly.FromDateTime(paid.ToOffset(TimeSpan.FromHours(8)).DateTime) == day)
                {
                    paidCount++;
                    csv.Append(Row(t, "交易", t.TotalFen, paid, ""));
                }
                foreach (var (requestNo, refund) in t.Refunds)
                    if (DateOnly.FromDateTime(refund.At.ToOffset(TimeSpan.FromHours(8)).DateTime) == day)
                    {
                        refundCount++;
                        csv.Append(Row(t, "退款", -refund.Fen, refund.At, requestNo));
                    }
            }
        }
        csv.Append("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
        csv.Append("#交易合计：").Append(paidCount).Append("笔，退款合计：").Append(refundCount).Append("笔\r\n");
        csv.Append("#导出时间：[").Append(SandboxRsa.Beijing(DateTimeOffset.UtcNow)).Append(']');
        var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            var entry = archive.CreateEntry($"{SellerId}0156_{day:yyyyMMdd}_业务明细.csv");
            using var stream = entry.Open();
            stream.Write(gbk.GetBytes(csv.ToString()));
        }
        return Results.File(zip.ToArray(), "application/zip", $"{SellerId}0156_{day:yyyyMMdd}.csv.zip");

        static string Row(Trade t, string type, long fen, DateTimeOffset at, string requestNo)
        {
            var amount = fen < 0 ? "-" + SandboxRsa.Yuan(-fen) : SandboxRsa.Yuan(fen);
            return string.Join(",", t.TradeNo + "\t", t.OutTradeNo + "\t", type, t.Subject.Replace(',', '，'), SandboxRsa.Beijing(t.CreatedAt),
                SandboxRsa.Beijing(at), "", "", "", "", "lea***@example.com", amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00",
                "0.00", requestNo, "0.00", "0.00", "") + "\r\n";
        }
    }

    string QrTarget(string outTradeNo) => $"{options.PublicBaseUrl()}/alipay/qr/{Uri.EscapeDataString(outTradeNo)}";

    static JsonObject Ok(JsonObject o)
    {
        var r = new JsonObject { ["code"] = "10000", ["msg"] = "Success" };
        foreach (var (k, v) in o.ToList())
        {
            o.Remove(k);
            r[k] = v;
        }
        return r;
    }

    static JsonObject Failure(string subCode, string subMsg) =>
        new() { ["code"] = "40004", ["msg"] = "Business Failed", ["sub_code"] = subCode, ["sub_msg"] = subMsg };

    static JsonObject Invalid(string subMsg) =>
        new() { ["code"] = "40002", ["msg"] = "Invalid Arguments", ["sub_code"] = "isv.invalid-parameter", ["sub_msg"] = subMsg };

    IResult ErrorResponse(string subCode, string subMsg) =>
        Signed("error_response", new JsonObject { ["code"] = "40002", ["msg"] = "Invalid Arguments", ["sub_code"] = subCode, ["sub_msg"] = subMsg }, false);

    /// <summary>The body is built as text so the signature covers exactly the bytes of the inner object.</summary>
    IResult Signed(string key, JsonObject inner, bool breakSignature)
    {
        var raw = inner.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var sign = SandboxRsa.Sign(raw, options.AlipayPrivateKeyPem);
        if (breakSignature) sign = (sign[0] == 'A' ? "B" : "A") + sign[1..];
        return Results.Text($"{{\"{key}\":{raw},\"sign\":\"{sign}\"}}", "application/json; charset=utf-8");
    }

    static string Enc(string s) => System.Net.WebUtility.HtmlEncode(s);
}
