using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.Routing;

namespace KnowPay.Sandbox.WeChatPay;

/// <summary>
/// WeChat Pay API v3 from the provider's side, at {base}/wechatpay/v3/…. Verifies the merchant's
/// WECHATPAY2-SHA256-RSA2048 Authorization (401 SIGN_ERROR when wrong, stale or for another mchid/serial), keeps
/// trades and refunds, signs every answer with the platform key (Wechatpay-* headers), sends AES-256-GCM encrypted,
/// signed notifications until answered 2xx on WeChat's schedule, and serves trade bills.
/// </summary>
public sealed class WeChatPaySimulator(SandboxOptions options, SandboxNotifier notifier, SandboxFaults faults)
{
    static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(10),
        TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(60),
        TimeSpan.FromHours(3), TimeSpan.FromHours(3), TimeSpan.FromHours(3), TimeSpan.FromHours(6), TimeSpan.FromHours(6),
    ];
    static readonly TimeSpan CstOffset = TimeSpan.FromHours(8);

    readonly ConcurrentDictionary<string, Trade> trades = new();
    readonly ConcurrentDictionary<string, Refund> refunds = new();
    readonly ConcurrentDictionary<string, BillFile> bills = new();
    readonly ConcurrentDictionary<string, bool> brokenSignatures = new();

    /// <summary>A bill as it was when its download_url was handed out.</summary>
    sealed record BillFile(byte[] Content, bool Gzip, DateTimeOffset ExpiresAt);

    sealed class Trade
    {
        public required string TransactionId { get; init; }
        public required string OutTradeNo { get; init; }
        public required string CodeUrl { get; init; }
        public long Total { get; init; }
        public required string Currency { get; init; }
        public required string Description { get; init; }
        public required string NotifyUrl { get; init; }
        public string State { get; set; } = "NOTPAY";
        public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
        public DateTimeOffset? PaidAt { get; set; }
        public long Refunded { get; set; }
        public Action? HeldPaymentNotification { get; set; }
    }

    sealed class Refund
    {
        public required string RefundId { get; init; }
        public required string OutRefundNo { get; init; }
        public required Trade Trade { get; init; }
        public long Amount { get; init; }
        public string Status { get; set; } = "PROCESSING";
        public string? NotifyUrl { get; init; }
        public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
        public DateTimeOffset? SucceededAt { get; set; }
    }

    /// <summary>Test hook: answers about this trade carry a corrupted Wechatpay-Signature. "" stands for the calls about no trade (bills); <paramref name="broken"/> false mends them.</summary>
    public void BreakResponseSignatures(string outTradeNo, bool broken = true)
    {
        if (broken) brokenSignatures[outTradeNo] = true;
        else brokenSignatures.TryRemove(outTradeNo, out _);
    }

    public (string State, long Total, long Refunded)? Inspect(string outTradeNo) =>
        trades.TryGetValue(outTradeNo, out var t) ? (t.State, t.Total, t.Refunded) : null;

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/wechatpay");
        g.MapPost("/v3/pay/transactions/native", (Delegate)Native);
        g.MapGet("/v3/pay/transactions/out-trade-no/{outTradeNo}", Query);
        g.MapPost("/v3/pay/transactions/out-trade-no/{outTradeNo}/close", Close);
        g.MapPost("/v3/refund/domestic/refunds", (Delegate)CreateRefund);
        g.MapGet("/v3/refund/domestic/refunds/{outRefundNo}", QueryRefund);
        g.MapGet("/v3/bill/tradebill", (Delegate)BillUrl);
        g.MapGet("/v3/billdownload/file", (Delegate)Bill);
        g.MapGet("/pay/{outTradeNo}", (string outTradeNo) => PayPage(outTradeNo));
        g.MapPost("/pay/{outTradeNo}", (string outTradeNo) =>
        {
            Pay(outTradeNo);
            return Results.Redirect($"{options.BasePath}/wechatpay/pay/{Uri.EscapeDataString(outTradeNo)}");
        }).DisableAntiforgery();
        g.MapPost("/buyer/{outTradeNo}/pay", (string outTradeNo) => Pay(outTradeNo));
    }

    async Task<IResult> Native(HttpContext http)
    {
        var (req, refusal) = await VerifyAsync(http);
        if (refusal is not null) return refusal;
        var outTradeNo = (string?)req?["out_trade_no"];
        var total = (long?)req?["amount"]?["total"];
        var currency = (string?)req?["amount"]?["currency"] ?? "CNY";
        var notifyUrl = (string?)req?["notify_url"];
        if ((string?)req?["appid"] != options.WeChatAppId || (string?)req?["mchid"] != options.WeChatMchId)
            return Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        if (string.IsNullOrEmpty(outTradeNo) || outTradeNo.Length is < 6 or > 32 || total is not > 0 || string.IsNullOrEmpty(notifyUrl)
            || string.IsNullOrEmpty((string?)req?["description"]))
            return Error(400, "PARAM_ERROR", "out_trade_no (6-32), description, notify_url and amount.total are required");
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        var trade = trades.GetOrAdd(outTradeNo, _ => new Trade
        {
            TransactionId = "42000" + DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(1000, 9999).ToString(CultureInfo.InvariantCulture),
            OutTradeNo = outTradeNo, CodeUrl = "weixin://wxpay/bizpayurl?pr=" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5)),
            Total = total.Value, Currency = currency, Description = (string)req!["description"]!, NotifyUrl = notifyUrl,
        });
        // The same out_trade_no with the same parameters returns the same code_url; anything else is a duplicate order.
        if (trade.Total != total || trade.Currency != currency) return Error(400, "INVALID_REQUEST", "商户订单号重复");
        if (trade.State == "SUCCESS") return Error(400, "ORDERPAID", "该订单已支付");
        if (trade.State == "CLOSED") return Error(400, "ORDER_CLOSED", "订单已关闭");
        return await SignedAsync(200, new JsonObject { ["code_url"] = trade.CodeUrl }, outTradeNo);
    }

    async Task<IResult> Query(HttpContext http, string outTradeNo)
    {
        var (_, refusal) = await VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (http.Request.Query["mchid"] != options.WeChatMchId) return Error(400, "PARAM_ERROR", "mchid");
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        if (!trades.TryGetValue(outTradeNo, out var t)) return await SignedAsync(404, new JsonObject { ["code"] = "ORDER_NOT_EXIST", ["message"] = "订单不存在" }, outTradeNo);
        return await SignedAsync(200, TransactionView(t), outTradeNo);
    }

    async Task<IResult> Close(HttpContext http, string outTradeNo)
    {
        var (req, refusal) = await VerifyAsync(http);
        if (refusal is not null) return refusal;
        if ((string?)req?["mchid"] != options.WeChatMchId) return Error(400, "PARAM_ERROR", "mchid");
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        if (!trades.TryGetValue(outTradeNo, out var t)) return await SignedAsync(404, new JsonObject { ["code"] = "ORDER_NOT_EXIST", ["message"] = "订单不存在" }, outTradeNo);
        lock (t)
        {
            if (t.State is "SUCCESS" or "REFUND") return Error(400, "ORDERPAID", "该订单已支付", sign: true);
            t.State = "CLOSED";
        }
        return await SignedAsync(204, null, outTradeNo);
    }

    async Task<IResult> CreateRefund(HttpContext http)
    {
        var (req, refusal) = await VerifyAsync(http);
        if (refusal is not null) return refusal;
        var outTradeNo = (string?)req?["out_trade_no"] ?? "";
        var outRefundNo = (string?)req?["out_refund_no"];
        var amount = (long?)req?["amount"]?["refund"];
        var total = (long?)req?["amount"]?["total"];
        if (string.IsNullOrEmpty(outRefundNo) || amount is not > 0 || total is null) return Error(400, "PARAM_ERROR", "out_refund_no, amount.refund and amount.total are required");
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        if (!trades.TryGetValue(outTradeNo, out var t)) return await SignedAsync(404, new JsonObject { ["code"] = "RESOURCE_NOT_EXISTS", ["message"] = "订单不存在" }, outTradeNo);
        Refund refund;
        lock (t)
        {
            if (refunds.TryGetValue(outRefundNo, out var existing)) refund = existing;
            else
            {
                if (t.State is not ("SUCCESS" or "REFUND")) return Error(400, "INVALID_REQUEST", "订单未支付", sign: true);
                if (total != t.Total) return Error(400, "INVALID_REQUEST", "订单金额不一致", sign: true);
                if (t.Refunded + amount > t.Total) return Error(400, "NOT_ENOUGH", "申请退款金额超过订单可退金额", sign: true);
                refund = new Refund
                {
                    RefundId = "50000" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), OutRefundNo = outRefundNo, Trade = t,
                    Amount = amount.Value, NotifyUrl = (string?)req!["notify_url"] ?? t.NotifyUrl,
                };
                refunds[outRefundNo] = refund;
                t.Refunded += amount.Value;
                t.State = "REFUND";
                // Refunds settle asynchronously, like the real thing: PROCESSING now, SUCCESS and REFUND.SUCCESS shortly after.
                _ = Task.Delay(200).ContinueWith(_ => Settle(refund), TaskScheduler.Default);
            }
        }
        return await SignedAsync(200, RefundView(refund), outTradeNo);
    }

    void Settle(Refund refund)
    {
        lock (refund.Trade)
        {
            refund.Status = "SUCCESS";
            refund.SucceededAt = DateTimeOffset.UtcNow;
        }
        if (refund.NotifyUrl is null) return;
        Notify(refund.Trade, refund.NotifyUrl, "REFUND.SUCCESS", "refund", new JsonObject
        {
            ["mchid"] = options.WeChatMchId, ["out_trade_no"] = refund.Trade.OutTradeNo, ["transaction_id"] = refund.Trade.TransactionId,
            ["out_refund_no"] = refund.OutRefundNo, ["refund_id"] = refund.RefundId, ["refund_status"] = "SUCCESS",
            ["success_time"] = Rfc3339(refund.SucceededAt!.Value), ["user_received_account"] = "支付用户零钱",
            ["amount"] = new JsonObject { ["total"] = refund.Trade.Total, ["refund"] = refund.Amount, ["payer_total"] = refund.Trade.Total, ["payer_refund"] = refund.Amount },
        }, "退款成功");
        if (refund.Trade.HeldPaymentNotification is { } held)
        {
            refund.Trade.HeldPaymentNotification = null;
            _ = Task.Delay(300).ContinueWith(_ => held(), TaskScheduler.Default);
        }
    }

    async Task<IResult> QueryRefund(HttpContext http, string outRefundNo)
    {
        var (_, refusal) = await VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (!refunds.TryGetValue(outRefundNo, out var refund)) return await SignedAsync(404, new JsonObject { ["code"] = "RESOURCE_NOT_EXISTS", ["message"] = "退款单不存在" }, null);
        if (await FaultAsync(refund.Trade.OutTradeNo) is { } fault) return fault;
        return await SignedAsync(200, RefundView(refund), refund.Trade.OutTradeNo);
    }

    /// <summary>
    /// GET /v3/bill/tradebill?bill_date=…[&amp;bill_type=ALL|SUCCESS|REFUND][&amp;tar_type=GZIP]: a signed answer with the
    /// download_url (valid 30 s) and the SHA1 of the bill as it is at this moment (the file served is that snapshot).
    /// </summary>
    async Task<IResult> BillUrl(HttpContext http)
    {
        var (_, refusal) = await VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (!DateOnly.TryParseExact(http.Request.Query["bill_date"], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return Error(400, "PARAM_ERROR", "bill_date 格式应为 yyyy-MM-dd");
        var billType = http.Request.Query["bill_type"].ToString() is { Length: > 0 } bt ? bt : "ALL";
        if (billType is not ("ALL" or "SUCCESS" or "REFUND")) return Error(400, "PARAM_ERROR", "bill_type 取值应为 ALL、SUCCESS 或 REFUND");
        var tarType = http.Request.Query["tar_type"].ToString();
        if (tarType is not ("" or "GZIP")) return Error(400, "PARAM_ERROR", "tar_type 取值应为 GZIP");
        var file = Encoding.UTF8.GetBytes(BillText(day, billType));
        foreach (var (expired, _) in bills.Where(b => b.Value.ExpiresAt < DateTimeOffset.UtcNow)) bills.TryRemove(expired, out _);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        bills[token] = new BillFile(file, tarType == "GZIP", DateTimeOffset.UtcNow.AddSeconds(30));
        return await SignedAsync(200, new JsonObject
        {
            ["hash_type"] = "SHA1", ["hash_value"] = Convert.ToHexStringLower(SHA1.HashData(file)),
            ["download_url"] = $"{options.PublicBaseUrl()}/wechatpay/v3/billdownload/file?token={token}",
        }, "");
    }

    /// <summary>GET /v3/billdownload/file?token=…: a signed request like any other; the answer is the file stream, not signed.</summary>
    async Task<IResult> Bill(HttpContext http)
    {
        var (_, refusal) = await VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (!bills.TryGetValue(http.Request.Query["token"].ToString(), out var bill) || bill.ExpiresAt < DateTimeOffset.UtcNow)
            return Error(400, "INVALID_REQUEST", "下载链接已过期或不存在");
        if (!bill.Gzip) return Results.Bytes(bill.Content, "application/octet-stream");
        var gz = new MemoryStream();
        using (var zip = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            zip.Write(bill.Content);
        return Results.Bytes(gz.ToArray(), "application/octet-stream");
    }

    /// <summary>
    /// WeChat's trade bill (交易账单文件格式说明): the detail header row, detail rows whose every field starts with a
    /// backtick, then the totals header and the totals row (backticked too). Payments are billed on the day they succeeded,
    /// refunds on the day they were accepted, with their status as of the download (a snapshot). ALL, SUCCESS and REFUND
    /// differ in their columns and in which rows they hold.
    /// </summary>
    string BillText(DateOnly day, string billType)
    {
        string[] columns = billType switch
        {
            "SUCCESS" => ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "费率备注"],
            "REFUND" => ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "退款申请时间", "退款成功时间", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"],
            _ => ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"],
        };
        string[] totalColumns = billType == "SUCCESS"
            ? ["总交易单数", "应结订单总金额", "手续费总金额", "订单总金额"]
            : ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"];
        var rows = new List<Dictionary<string, string>>();
        long paid = 0, refunded = 0;
        bool OnDay(DateTimeOffset at) => DateOnly.FromDateTime(at.ToOffset(CstOffset).DateTime) == day;
        Dictionary<string, string> Row(Trade t, DateTimeOffset at, string state) => new()
        {
            ["交易时间"] = Cst(at), ["公众账号ID"] = options.WeChatAppId, ["商户号"] = options.WeChatMchId, ["特约商户号"] = "0", ["设备号"] = "",
            ["微信订单号"] = t.TransactionId, ["商户订单号"] = t.OutTradeNo, ["用户标识"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", ["交易类型"] = "NATIVE",
            ["交易状态"] = state, ["付款银行"] = "OTHERS", ["货币种类"] = t.Currency, ["代金券金额"] = "0.00",
            ["商品名称"] = t.Description.Replace(',', '，'), ["商户数据包"] = "", ["手续费"] = "0.00", ["费率"] = "0.60%", ["费率备注"] = "",
        };
        if (billType != "REFUND")
            foreach (var t in trades.Values.OrderBy(t => t.CreatedAt))
                lock (t)
                {
                    if (t.PaidAt is not { } at || !OnDay(at)) continue;
                    paid += t.Total;
                    var row = Row(t, at, "SUCCESS");
                    row["应结订单金额"] = row["订单金额"] = Yuan(t.Total);
                    row["微信退款单号"] = row["商户退款单号"] = "0";
                    row["退款金额"] = row["充值券退款金额"] = row["申请退款金额"] = "0.00";
                    row["退款类型"] = row["退款状态"] = "";
                    rows.Add(row);
                }
        if (billType != "SUCCESS")
            foreach (var r in refunds.Values.OrderBy(r => r.CreatedAt))
                lock (r.Trade)
                {
                    if (!OnDay(r.CreatedAt)) continue;
                    refunded += r.Amount;
                    var row = Row(r.Trade, r.CreatedAt, "REFUND");
                    row["应结订单金额"] = row["订单金额"] = "0.00";
                    row["退款申请时间"] = Cst(r.CreatedAt);
                    row["退款成功时间"] = r.SucceededAt is { } s ? Cst(s) : "";
                    row["微信退款单号"] = r.RefundId;
                    row["商户退款单号"] = r.OutRefundNo;
                    row["退款金额"] = row["申请退款金额"] = Yuan(r.Amount);
                    row["充值券退款金额"] = "0.00";
                    row["退款类型"] = "ORIGINAL";
                    row["退款状态"] = r.Status;
                    rows.Add(row);
                }
        var totals = new Dictionary<string, string>
        {
            ["总交易单数"] = rows.Count.ToString(CultureInfo.InvariantCulture), ["应结订单总金额"] = Yuan(paid), ["退款总金额"] = Yuan(refunded),
            ["充值券退款总金额"] = "0.00", ["手续费总金额"] = "0.00", ["订单总金额"] = Yuan(paid), ["申请退款总金额"] = Yuan(refunded),
        };
        var sb = new StringBuilder().Append(string.Join(",", columns)).Append("\r\n");
        foreach (var row in rows) sb.Append(string.Join(",", columns.Select(c => "`" + row[c]))).Append("\r\n");
        sb.Append(string.Join(",", totalColumns)).Append("\r\n");
        sb.Append(string.Join(",", totalColumns.Select(c => "`" + totals[c]))).Append("\r\n");
        return sb.ToString();

        static string Cst(DateTimeOffset t) => t.ToOffset(CstOffset).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
    }

    /// <summary>The simulated buyer scans and pays. Refused once the trade is closed.</summary>
    public IResult Pay(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var t)) return Results.Json(new { code = "ORDER_NOT_EXIST" }, statusCode: 404);
        lock (t)
        {
            if (t.State == "CLOSED") return Results.Json(new { code = "ORDER_CLOSED", message = "trade_closed" }, statusCode: 409);
            if (t.State != "NOTPAY") return Results.Json(new { out_trade_no = t.OutTradeNo, trade_state = t.State });
            t.State = "SUCCESS";
            t.PaidAt = DateTimeOffset.UtcNow;
        }
        var resource = TransactionView(t);
        if (faults.For(t.OutTradeNo).ReorderRefundBeforePayment)
        {
            var once = 0;
            t.HeldPaymentNotification = () => { if (Interlocked.Exchange(ref once, 1) == 0) Notify(t, t.NotifyUrl, "TRANSACTION.SUCCESS", "transaction", resource, "支付成功"); };
            var held = t.HeldPaymentNotification;
            _ = Task.Delay(2000).ContinueWith(_ => held(), TaskScheduler.Default);
        }
        else Notify(t, t.NotifyUrl, "TRANSACTION.SUCCESS", "transaction", resource, "支付成功");
        return Results.Json(new { out_trade_no = t.OutTradeNo, transaction_id = t.TransactionId, trade_state = t.State });
    }

    IResult PayPage(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var t)) return Results.NotFound();
        var html = $$"""
            <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>微信支付 WeChat Pay sandbox – {{Enc(t.Description)}}</title>
            <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}button{font-size:1.1rem;padding:.6rem 1.4rem}code{word-break:break-all}</style></head>
            <body><h1>微信支付 WeChat Pay (sandbox)</h1><p>{{Enc(t.Description)}}</p><p>Amount: <strong>¥{{Yuan(t.Total)}}</strong></p>
            <p>QR target (code_url): <code id="qr">{{Enc(t.CodeUrl)}}</code></p>
            <p>Status: <strong id="status">{{t.State}}</strong></p>
            {{(t.State == "NOTPAY" ? "<form method=\"post\"><button id=\"pay\" type=\"submit\">Pay 支付</button></form>" : "")}}
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }

    JsonObject TransactionView(Trade t)
    {
        var o = new JsonObject
        {
            ["appid"] = options.WeChatAppId, ["mchid"] = options.WeChatMchId, ["out_trade_no"] = t.OutTradeNo, ["trade_type"] = "NATIVE",
            ["trade_state"] = t.State, ["trade_state_desc"] = t.State == "SUCCESS" ? "支付成功" : t.State == "NOTPAY" ? "未支付" : t.State,
            ["amount"] = new JsonObject { ["total"] = t.Total, ["currency"] = t.Currency },
        };
        if (t.PaidAt is { } paid)
        {
            o["transaction_id"] = t.TransactionId;
            o["success_time"] = Rfc3339(paid);
            o["bank_type"] = "OTHERS";
            o["payer"] = new JsonObject { ["openid"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" };
            o["amount"] = new JsonObject { ["total"] = t.Total, ["payer_total"] = t.Total, ["currency"] = t.Currency, ["payer_currency"] = t.Currency };
        }
        return o;
    }

    static JsonObject RefundView(Refund r) => new()
    {
        ["refund_id"] = r.RefundId, ["out_refund_no"] = r.OutRefundNo, ["transaction_id"] = r.Trade.TransactionId, ["out_trade_no"] = r.Trade.OutTradeNo,
        ["channel"] = "ORIGINAL", ["user_received_account"] = "支付用户零钱", ["status"] = r.Status,
        ["create_time"] = Rfc3339(r.CreatedAt), ["success_time"] = r.SucceededAt is { } s ? Rfc3339(s) : null,
        ["amount"] = new JsonObject
        {
            ["total"] = r.Trade.Total, ["refund"] = r.Amount, ["payer_total"] = r.Trade.Total, ["payer_refund"] = r.Amount, ["currency"] = r.Trade.Currency,
        },
    };

    /// <summary>Encrypts the resource once (same id on every attempt) and signs each attempt afresh.</summary>
    void Notify(Trade t, string url, string eventType, string associatedData, JsonObject resource, string summary)
    {
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var plain = Encoding.UTF8.GetBytes(resource.ToJsonString());
        var cipher = new byte[plain.Length + 16];
        using (var aes = new AesGcm(Encoding.UTF8.GetBytes(options.WeChatApiV3Key), 16))
            aes.Encrypt(Encoding.UTF8.GetBytes(nonce), plain, cipher.AsSpan(0, plain.Length), cipher.AsSpan(plain.Length), Encoding.UTF8.GetBytes(associatedData));
        var body = new JsonObject
        {
            ["id"] = Guid.NewGuid().ToString(), ["create_time"] = Rfc3339(DateTimeOffset.UtcNow), ["resource_type"] = "encrypt-resource",
            ["event_type"] = eventType, ["summary"] = summary,
            ["resource"] = new JsonObject
            {
                ["original_type"] = associatedData, ["algorithm"] = "AEAD_AES_256_GCM", ["ciphertext"] = Convert.ToBase64String(cipher),
                ["associated_data"] = associatedData, ["nonce"] = nonce,
            },
        }.ToJsonString();
        notifier.Send(new OutgoingNotification("wechatpay", t.OutTradeNo, url,
            () => SandboxNotifier.Post(url, body, "application/json", SignatureHeaders(body)),
            (response, _) => (int)response.StatusCode is 200 or 204, RetrySchedule));
    }

    /// <summary>Wechatpay-Timestamp/-Nonce/-Signature/-Serial over "TIMESTAMP\nNONCE\nBODY\n" with the platform key.</summary>
    public IEnumerable<KeyValuePair<string, string>> SignatureHeaders(string body, bool broken = false)
    {
        var ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var signature = SandboxRsa.Sign($"{ts}\n{nonce}\n{body}\n", options.WeChatPlatformPrivateKeyPem);
        if (broken) signature = (signature[0] == 'A' ? "B" : "A") + signature[1..];
        return
        [
            new("Wechatpay-Timestamp", ts), new("Wechatpay-Nonce", nonce), new("Wechatpay-Signature", signature),
            new("Wechatpay-Serial", options.WeChatPlatformSerialNo), new("Request-ID", Guid.NewGuid().ToString()),
        ];
    }

    async Task<(JsonObject? Body, IResult? Refusal)> VerifyAsync(HttpContext http)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var auth = http.Request.Headers.Authorization.ToString();
        const string scheme = "WECHATPAY2-SHA256-RSA2048 ";
        if (!auth.StartsWith(scheme, StringComparison.Ordinal)) return (null, Error(401, "SIGN_ERROR", "Authorization 认证类型不正确"));
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in auth[scheme.Length..].Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length == 2) fields[kv[0].Trim()] = kv[1].Trim().Trim('"');
        }
        if (fields.GetValueOrDefault("mchid") != options.WeChatMchId) return (null, Error(401, "SIGN_ERROR", "商户号与签名不匹配"));
        if (fields.GetValueOrDefault("serial_no") != options.WeChatMerchantSerialNo) return (null, Error(401, "SIGN_ERROR", "商户证书序列号有误"));
        if (!long.TryParse(fields.GetValueOrDefault("timestamp"), NumberStyles.None, CultureInfo.InvariantCulture, out var ts)
            || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - ts) > 300)
            return (null, Error(401, "SIGN_ERROR", "timestamp 已过期或不合法"));
        var message = $"{http.Request.Method}\n{http.Request.GetEncodedPathAndQuery()}\n{fields.GetValueOrDefault("timestamp")}\n{fields.GetValueOrDefault("nonce_str")}\n{body}\n";
        if (string.IsNullOrEmpty(fields.GetValueOrDefault("nonce_str")) || !SandboxRsa.Verify(message, fields.GetValueOrDefault("signature"), options.WeChatMerchantPublicKeyPem))
            return (null, Error(401, "SIGN_ERROR", "签名错误"));
        if (body.Length == 0) return (null, null);
        try { return (JsonNode.Parse(body) as JsonObject, null); }
        catch (JsonException) { return (null, Error(400, "PARAM_ERROR", "请求体不是合法的 JSON")); }
    }

    async Task<IResult?> FaultAsync(string outTradeNo)
    {
        var fault = faults.For(outTradeNo);
        if (fault.ApiError5xx) return Error(500, "SYSTEM_ERROR", "系统错误");
        if (fault.ApiStallMs > 0) await Task.Delay(fault.ApiStallMs);
        return null;
    }

    Task<IResult> SignedAsync(int status, JsonObject? value, string? outTradeNo)
    {
        var body = value?.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) ?? "";
        var broken = outTradeNo is not null && brokenSignatures.ContainsKey(outTradeNo);
        return Task.FromResult<IResult>(new SignedResult(status, body, SignatureHeaders(body, broken).ToList()));
    }

    IResult Error(int status, string code, string message, bool sign = false)
    {
        var body = new JsonObject { ["code"] = code, ["message"] = message }.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        return new SignedResult(status, body, sign ? SignatureHeaders(body).ToList() : []);
    }

    static string Yuan(long fen) => SandboxRsa.Yuan(fen);

    static string Rfc3339(DateTimeOffset t) => t.ToOffset(CstOffset).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    static string Enc(string s) => System.Net.WebUtility.HtmlEncode(s);

    sealed class SignedResult(int status, string body, IReadOnlyList<KeyValuePair<string, string>> headers) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = status;
            foreach (var (k, v) in headers) http.Response.Headers[k] = v;
            if (body.Length == 0) return Task.CompletedTask;
            http.Response.ContentType = "application/json; charset=utf-8";
            return http.Response.WriteAsync(body);
        }
    }
}
