
namespace KnowPay.Sandbox.WeChatPay;

/// <summary>
/// WeChat Pay API v3 from the provider's side, at {base}/wechatpay/v3/…. Verifies the merchant's
/// WECHATPAY2-SHA256-RSA2048 Authorization (401 SIGN_ERROR when wrong, stale or for another mchid/serial), keeps
/// trades and refunds, signs every answer with the platform key (Wechatpay-* headers), sends AES-256-GCM encrypted,
/// signed notifications until answered 2xx on WeChat's schedule, and serves trade and fund-flow bills.
/// </summary>
public sealed partial class WeChatPaySimulator(SandboxOptions options, SandboxNotifier notifier, FaultGate gate, SandboxRequestLog requests, SandboxBills billing)
{
    readonly WeChatPayWire wire = new(options);
    readonly TradeStore<WeChatTrade> trades = new(options, t => t.State is "NOTPAY" or "ACCEPT",
        t => { lock (t) return t.Refunds.Keys.Concat(t.PrepayId is null ? [] : [t.PrepayId]).ToList(); });
    readonly ConcurrentDictionary<string, BillFile> bills = new();
    readonly ConcurrentDictionary<string, bool> brokenSignatures = new();

    /// <summary>A bill as it was when its download_url was handed out.</summary>
    sealed record BillFile(byte[] Content, bool Gzip, DateTimeOffset ExpiresAt);

    /// <summary>Test hook: answers about this trade carry a corrupted Wechatpay-Signature. "" stands for the calls about no trade (bills); <paramref name="broken"/> false mends them.</summary>
    public void BreakResponseSignatures(string outTradeNo, bool broken = true)
    {
        if (broken) brokenSignatures[outTradeNo] = true;
        else brokenSignatures.TryRemove(outTradeNo, out _);
    }

    /// <summary>
    /// Test hook: answers and notifications about this trade ("" = the calls about no trade) are signed with the platform
    /// key of <paramref name="serial"/>, or with <paramref name="privateKeyPem"/> under that serial (a key the merchant does
    /// not know); a null serial restores the default.
    /// </summary>
    public void SignWith(string outTradeNo, string? serial, string? privateKeyPem = null) => wire.SignWith(outTradeNo, serial, privateKeyPem);

    public (string State, long Total, long Refunded)? Inspect(string outTradeNo) =>
        trades.TryGet(outTradeNo, out var t) ? (t.State, t.Total, t.Refunded) : null;

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/wechatpay");
        g.MapPost("/v3/pay/transactions/native", (Delegate)Native);
        g.MapGet("/v3/pay/transactions/out-trade-no/{outTradeNo}", Query);
        g.MapPost("/v3/pay/transactions/out-trade-no/{outTradeNo}/close", Close);
        // The cross-border (global) API: its own host at WeChat; here the same simulator, the same keys.
        g.MapPost("/v3/global/transactions/native", (Delegate)((HttpContext http) => Native(http, global: true)));
        g.MapGet("/v3/global/transactions/out-trade-no/{outTradeNo}", Query);
        g.MapPost("/v3/global/transactions/out-trade-no/{outTradeNo}/close", Close);
        g.MapPost("/v3/refund/domestic/refunds", (Delegate)((HttpContext http) => CreateRefund(http)));
        g.MapGet("/v3/refund/domestic/refunds/{outRefundNo}", (HttpContext http, string outRefundNo) => QueryRefund(http, outRefundNo));
        g.MapPost("/v3/global/refunds", (Delegate)((HttpContext http) => CreateRefund(http, global: true)));
        g.MapGet("/v3/global/refunds/out-refund-no/{outRefundNo}", (HttpContext http, string outRefundNo) => QueryRefund(http, outRefundNo, global: true));
        g.MapGet("/v3/bill/tradebill", (Delegate)BillUrl);
        g.MapGet("/v3/bill/fundflowbill", (Delegate)FundFlowBillUrl);
        g.MapGet("/v3/billdownload/file", (Delegate)Bill);
        g.MapGet("/pay/{outTradeNo}", (string outTradeNo) => PayPage(outTradeNo));
        g.MapPost("/pay/{outTradeNo}", (string outTradeNo) =>
        {
            Pay(outTradeNo);
            return Results.Redirect($"{options.BasePath}/wechatpay/pay/{Uri.EscapeDataString(outTradeNo)}");
        }).DisableAntiforgery();
        g.MapPost("/buyer/{outTradeNo}/pay", (string outTradeNo) => Pay(outTradeNo));
        MapPhone(g);
        MapOAuth(g);
        MapContracts(g);
    }

    /// <param name="global">The cross-border API: trade_type NATIVE in the body, the price in a foreign currency the learner pays in CNY
    /// at <see cref="SandboxFx"/>'s rate. The domestic API takes CNY only.</param>
    async Task<IResult> Native(HttpContext http, bool global = false)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        var outTradeNo = (string?)req?["out_trade_no"];
        var total = (long?)req?["amount"]?["total"];
        var currency = (string?)req?["amount"]?["currency"] ?? "CNY";
        var notifyUrl = (string?)req?["notify_url"];
        if (global) requests.Record($"wechatpay POST /v3/global/transactions/native signature verified body={req?.ToJsonString()}");
        if ((string?)req?["appid"] != options.WeChatAppId || (string?)req?["mchid"] != options.WeChatMchId)
            return wire.Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        if (CurrencyRefusal(req, "NATIVE", global) is { } wrongCurrency) return wrongCurrency;
        if (string.IsNullOrEmpty(outTradeNo) || outTradeNo.Length is < 6 or > 32 || total is not > 0 || string.IsNullOrEmpty(notifyUrl)
            || string.IsNullOrEmpty((string?)req?["description"]))
            return wire.Error(400, "PARAM_ERROR", "out_trade_no (6-32), description, notify_url and amount.total are required");
        return await gate.PassAsync(outTradeNo, wire.Unavailable, () =>
        {
            var trade = trades.GetOrAdd(outTradeNo, () => new WeChatTrade(
                "42000" + DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(1000, 9999).ToString(CultureInfo.InvariantCulture),
                outTradeNo, "weixin://wxpay/bizpayurl?pr=" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5)),
                total.Value, currency, (string)req!["description"]!, notifyUrl) { Global = global });
            // The same out_trade_no with the same parameters returns the same code_url; anything else is a duplicate order.
            if (trade.Total != total || trade.Currency != currency || trade.Global != global) return wire.Error(400, "INVALID_REQUEST", "商户订单号重复");
            if (trade.State == "SUCCESS") return wire.Error(400, "ORDERPAID", "该订单已支付");
            if (trade.State == "CLOSED") return wire.Error(400, "ORDER_CLOSED", "订单已关闭");
            return Signed(200, new JsonObject { ["code_url"] = trade.CodeUrl }, outTradeNo);
        });
    }

    /// <summary>The domestic API takes CNY only; the cross-border one its trade_type in the body and a supported foreign currency.</summary>
    IResult? CurrencyRefusal(JsonObject? req, string tradeType, bool global)
    {
        var currency = (string?)req?["amount"]?["currency"] ?? "CNY";
        if (!global) return currency == "CNY" ? null : wire.Error(400, "PARAM_ERROR", "境内商户号仅支持人民币 (CNY)");
        return (string?)req?["trade_type"] == tradeType && currency != "CNY" && SandboxFx.Supports(currency) ? null
            : wire.Error(400, "PARAM_ERROR", $"trade_type 应为 {tradeType}，amount.currency 应为支持的外币");
    }

    async Task<IResult> Query(HttpContext http, string outTradeNo)
    {
        var (_, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (http.Request.Query["mchid"] != options.WeChatMchId) return wire.Error(400, "PARAM_ERROR", "mchid");
        return await gate.PassAsync(outTradeNo, wire.Unavailable, () => trades.TryGet(outTradeNo, out var t)
            ? Signed(200, wire.TransactionView(t), outTradeNo)
            : Signed(404, new JsonObject { ["code"] = "ORDER_NOT_EXIST", ["message"] = "订单不存在" }, outTradeNo));
    }

    async Task<IResult> Close(HttpContext http, string outTradeNo)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if ((string?)req?["mchid"] != options.WeChatMchId) return wire.Error(400, "PARAM_ERROR", "mchid");
        return await gate.PassAsync(outTradeNo, wire.Unavailable, () =>
        {
            if (!trades.TryGet(outTradeNo, out var t)) return Signed(404, new JsonObject { ["code"] = "ORDER_NOT_EXIST", ["message"] = "订单不存在" }, outTradeNo);
            lock (t)
            {
                if (t.State is "SUCCESS" or "REFUND") return wire.Error(400, "ORDERPAID", "该订单已支付", sign: true);
                t.State = "CLOSED";
            }
            return Signed(204, null, outTradeNo);
        });
    }

    /// <param name="global">POST /v3/global/refunds: names mchid and appid, and the amount's currency must be the trade's (the price's);
    /// the answer states what the learner gets back in CNY and what the merchant's account gives. Each API knows only its own trades.</param>
    async Task<IResult> CreateRefund(HttpContext http, bool global = false)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        var outTradeNo = (string?)req?["out_trade_no"] ?? "";
        var outRefundNo = (string?)req?["out_refund_no"];
        var amount = (long?)req?["amount"]?["refund"];
        var total = (long?)req?["amount"]?["total"];
        var currency = (string?)req?["amount"]?["currency"];
        if (global) requests.Record($"wechatpay POST /v3/global/refunds signature verified body={req?.ToJsonString()}");
        if (global && ((string?)req?["appid"] != options.WeChatAppId || (string?)req?["mchid"] != options.WeChatMchId))
            return wire.Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        if (string.IsNullOrEmpty(outRefundNo) || amount is not > 0 || total is null || global && currency is null)
            return wire.Error(400, "PARAM_ERROR", "out_refund_no, amount.refund, amount.total and (global) amount.currency are required");
        return await gate.PassAsync(outTradeNo, wire.Unavailable, () =>
        {
            if (!trades.TryGet(outTradeNo, out var t) || t.Global != global) return Signed(404, new JsonObject { ["code"] = "RESOURCE_NOT_EXISTS", ["message"] = "订单不存在" }, outTradeNo);
            WeChatRefund refund;
            lock (t)
            {
                if (trades.TryGetByAlias(outRefundNo, out var owner) && owner.Refunds.TryGetValue(outRefundNo, out var existing)) refund = existing;
                else
                {
                    if (currency is not null && currency != t.Currency)
                        return wire.Error(400, "PARAM_ERROR", global ? "退款币种必须和标价币种一致" : "退款币种目前只支持人民币 (CNY)", sign: true);
                    if (t.State is not ("SUCCESS" or "REFUND")) return wire.Error(400, "INVALID_REQUEST", "订单未支付", sign: true);
                    if (total != t.Total) return wire.Error(400, "INVALID_REQUEST", "订单金额不一致", sign: true);
                    if (t.Refunded + amount > t.Total) return wire.Error(400, "NOT_ENOUGH", "申请退款金额超过订单可退金额", sign: true);
                    refund = new WeChatRefund("50000" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), outRefundNo, t, amount.Value,
                        (string?)req!["notify_url"] ?? t.NotifyUrl) { PayerRefund = WeChatPayWire.PayerRefund(t, amount.Value) };
                    t.Refunds[outRefundNo] = refund;
                    trades.Alias(outRefundNo, t);
                    t.Refunded += amount.Value;
                    t.State = "REFUND";
                    // Refunds settle asynchronously, like the real thing: PROCESSING now, SUCCESS and REFUND.SUCCESS shortly after.
                    _ = Task.Delay(200).ContinueWith(_ => Settle(refund), TaskScheduler.Default);
                }
            }
            return Signed(200, global ? WeChatPayWire.GlobalRefundView(refund, created: true) : WeChatPayWire.RefundView(refund), outTradeNo);
        });
    }

    void Settle(WeChatRefund refund)
    {
        lock (refund.Trade)
        {
            refund.Status = "SUCCESS";
            refund.SucceededAt = DateTimeOffset.UtcNow;
        }
        if (refund.NotifyUrl is null) return;
        var amount = new JsonObject { ["total"] = refund.Trade.Total, ["refund"] = refund.Amount, ["payer_total"] = refund.Trade.Total, ["payer_refund"] = refund.Amount };
        if (refund.Trade.Global) amount = WeChatPayWire.GlobalRefundAmount(refund, notification: true);
        notifier.SendRefund(wire.Notification(refund.Trade, refund.NotifyUrl, "REFUND.SUCCESS", "refund", new JsonObject
        {
            ["mchid"] = options.WeChatMchId, ["out_trade_no"] = refund.Trade.OutTradeNo, ["transaction_id"] = refund.Trade.TransactionId,
            ["out_refund_no"] = refund.OutRefundNo, ["refund_id"] = refund.RefundId, ["refund_status"] = "SUCCESS",
            ["success_time"] = WeChatPayWire.Rfc3339(refund.SucceededAt!.Value), ["user_received_account"] = "支付用户零钱",
            ["amount"] = amount,
        }, "退款成功"));
    }

    async Task<IResult> QueryRefund(HttpContext http, string outRefundNo, bool global = false)
    {
        var (_, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (global && http.Request.Query["mchid"] != options.WeChatMchId) return wire.Error(400, "PARAM_ERROR", "mchid");
        if (!trades.TryGetByAlias(outRefundNo, out var owner) || !owner.Refunds.TryGetValue(outRefundNo, out var refund) || owner.Global != global)
            return Signed(404, new JsonObject { ["code"] = "RESOURCE_NOT_EXISTS", ["message"] = "退款单不存在" }, null);
        return await gate.PassAsync(refund.Trade.OutTradeNo, wire.Unavailable, () =>
            Signed(200, global ? WeChatPayWire.GlobalRefundView(refund, created: false) : WeChatPayWire.RefundView(refund), refund.Trade.OutTradeNo));
    }

    /// <summary>
    /// GET /v3/bill/tradebill?bill_date=…[&amp;bill_type=ALL|SUCCESS|REFUND][&amp;tar_type=GZIP]: a signed answer with the
    /// download_url (valid 30 s) and the SHA1 of the bill as it is at this moment (the file served is that snapshot).
    /// </summary>
    async Task<IResult> BillUrl(HttpContext http)
    {
        var (_, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (!DateOnly.TryParseExact(http.Request.Query["bill_date"], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return wire.Error(400, "PARAM_ERROR", "bill_date 格式应为 yyyy-MM-dd");
        var billType = http.Request.Query["bill_type"].ToString() is { Length: > 0 } bt ? bt : "ALL";
        if (billType is not ("ALL" or "SUCCESS" or "REFUND")) return wire.Error(400, "PARAM_ERROR", "bill_type 取值应为 ALL、SUCCESS 或 REFUND");
        var tarType = http.Request.Query["tar_type"].ToString();
        if (tarType is not ("" or "GZIP")) return wire.Error(400, "PARAM_ERROR", "tar_type 取值应为 GZIP");
        var file = Encoding.UTF8.GetBytes(WeChatPayBills.Text(day, billType, options,
            billing.Day(day, WeChatPayWire.CstOffset, WeChatPayBills.Entries(trades.Values, billing))));
        return DownloadUrl(file, tarType == "GZIP", false);
    }

    /// <summary>
    /// GET /v3/bill/fundflowbill?bill_date=…[&amp;account_type=BASIC][&amp;tar_type=GZIP]: the BASIC account's fund-flow bill
    /// (<see cref="WeChatPayFundFlow"/>) as <see cref="BillUrl"/> hands out the trade bill; a day with no movement answers
    /// 400 NO_STATEMENT_EXIST. Under its bill key, BillNotReady answers 400 STATEMENT_CREATING and BillCorrupt serves a file
    /// other than the one hash_value vouches for.
    /// </summary>
    async Task<IResult> FundFlowBillUrl(HttpContext http)
    {
        var (_, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (!DateOnly.TryParseExact(http.Request.Query["bill_date"], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return wire.Error(400, "PARAM_ERROR", "bill_date 格式应为 yyyy-MM-dd");
        if (http.Request.Query["account_type"].ToString() is not ("" or "BASIC")) return wire.Error(400, "PARAM_ERROR", "只提供基本账户（BASIC）的资金账单");
        var tarType = http.Request.Query["tar_type"].ToString();
        if (tarType is not ("" or "GZIP")) return wire.Error(400, "PARAM_ERROR", "tar_type 取值应为 GZIP");
        var faults = billing.BillFaults("wechatpay", "fundflowbill", day);
        if (faults.BillNotReady) return wire.Error(400, "STATEMENT_CREATING", "账单生成中，请稍后再试");
        var text = WeChatPayFundFlow.Text(billing.Day(day, WeChatPayWire.CstOffset, WeChatPayBills.Entries(trades.Values, billing)));
        if (text.Length == 0) return wire.Error(400, "NO_STATEMENT_EXIST", "当日无资金流水，账单不存在");
        return DownloadUrl([.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(text)], tarType == "GZIP", faults.BillCorrupt);
    }

    /// <summary>A signed answer naming the file's SHA1 and a download_url valid 30 s; a corrupt file is served with one byte changed.</summary>
    IResult DownloadUrl(byte[] file, bool gzip, bool corrupt)
    {
        foreach (var (expired, _) in bills.Where(b => b.Value.ExpiresAt < DateTimeOffset.UtcNow)) bills.TryRemove(expired, out _);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var hash = Convert.ToHexStringLower(SHA1.HashData(file));
        if (corrupt) file = [.. file[..^3], (byte)'9', .. file[^2..]];
        bills[token] = new BillFile(file, gzip, DateTimeOffset.UtcNow.AddSeconds(30));
        return Signed(200, new JsonObject
        {
            ["hash_type"] = "SHA1", ["hash_value"] = hash,
            ["download_url"] = $"{options.PublicBaseUrl()}/wechatpay/v3/billdownload/file?token={token}",
        }, "");
    }

    /// <summary>GET /v3/billdownload/file?token=…: a signed request like any other; the answer is the file stream, not signed.</summary>
    async Task<IResult> Bill(HttpContext http)
    {
        var (_, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (!bills.TryGetValue(http.Request.Query["token"].ToString(), out var bill) || bill.ExpiresAt < DateTimeOffset.UtcNow)
            return wire.Error(400, "INVALID_REQUEST", "下载链接已过期或不存在");
        if (!bill.Gzip) return Results.Bytes(bill.Content, "application/octet-stream");
        var gz = new MemoryStream();
        using (var zip = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            zip.Write(bill.Content);
        return Results.Bytes(gz.ToArray(), "application/octet-stream");
    }

    /// <summary>
    /// The simulated buyer scans and pays. Declined under the SuccessRate fault: the trade ends PAYERROR and, as at WeChat
    /// (which notifies successes only), nothing is notified; a query reads it. Refused once the trade is closed.
    /// </summary>
    public IResult Pay(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return Results.Json(new { code = "ORDER_NOT_EXIST" }, statusCode: 404);
        lock (t)
        {
            if (t.State == "CLOSED") return Results.Json(new { code = "ORDER_CLOSED", message = "trade_closed" }, statusCode: 409);
            if (t.State != "NOTPAY") return Results.Json(new { out_trade_no = t.OutTradeNo, trade_state = t.State });
            if (gate.Declines(outTradeNo))
            {
                t.State = "PAYERROR";
                return Results.Json(new { out_trade_no = t.OutTradeNo, trade_state = t.State });
            }
            t.State = "SUCCESS";
            t.PaidAt = DateTimeOffset.UtcNow;
        }
        notifier.SendPayment(wire.Notification(t, t.NotifyUrl, "TRANSACTION.SUCCESS", "transaction", wire.TransactionView(t), "支付成功"));
        return Results.Json(new { out_trade_no = t.OutTradeNo, transaction_id = t.TransactionId, trade_state = t.State });
    }

    IResult PayPage(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return Results.NotFound();
        return new BuyerPage($"微信支付 WeChat Pay sandbox – {t.Description}", "微信支付 WeChat Pay (sandbox)", t.Description, "¥" + SandboxRsa.Yuan(t.Total), t.State)
        {
            QrLabel = "QR target (code_url)", Qr = t.CodeUrl,
            Form = t.State == "NOTPAY" ? new BuyerForm($"{options.BasePath}/wechatpay/pay/{Uri.EscapeDataString(outTradeNo)}", "pay", "Pay 支付") : null,
        }.Render();
    }

    IResult Signed(int status, JsonObject? value, string? outTradeNo) =>
        wire.Signed(status, value, outTradeNo is not null && brokenSignatures.ContainsKey(outTradeNo), outTradeNo);
}
