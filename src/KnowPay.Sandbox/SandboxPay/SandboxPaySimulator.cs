
namespace KnowPay.Sandbox.SandboxPay;

/// <summary>
/// "SandboxPay": KnowPay's own generic test provider, a small signed protocol in the style of the real ones.
/// Requests carry <c>SandboxPay-Signature: t=&lt;unix&gt;,v1=&lt;hex HMAC-SHA256 of "t.METHOD PATH?QUERY.body"&gt;</c>;
/// responses and notifications carry <c>SandboxPay-Signature: t=…,v1=&lt;hex HMAC of "t.body"&gt;</c>; the timestamp must be
/// within 300 s. Trades are keyed by the merchant's out_trade_no; a repeat create returns the same trade.
/// </summary>
public sealed partial class SandboxPaySimulator(SandboxOptions options, SandboxNotifier notifier, FaultGate gate, SandboxPayWire wire, SandboxBills billing)
{
    public const string SignatureHeader = SandboxPayWire.SignatureHeader;

    readonly TradeStore<Trade> trades = new(options, t => t.Status == "WAIT_PAY", t => { lock (t) return t.Refunds.Keys.ToList(); });

    /// <summary>A trade by the merchant's out_trade_no; lock it to read or change its state. Its refunds are found by their out_refund_no.</summary>
    sealed record Trade(string TradeNo, string OutTradeNo, long Amount, string Currency, string Subject, string NotifyUrl)
    {
        public string Status { get; set; } = "WAIT_PAY";
        public DateTimeOffset? PaidAt { get; set; }
        public long Refunded { get; set; }
        /// <summary>Why a deduction under an agreement failed (status FAILED).</summary>
        public string? FailCode { get; set; }
        public Dictionary<string, Refund> Refunds { get; } = new(StringComparer.Ordinal);
    }

    sealed record Refund(string RefundNo, string OutRefundNo, string OutTradeNo, long Amount, string Status)
    {
        public DateTimeOffset At { get; } = DateTimeOffset.UtcNow;
    }

    /// <summary>Trade state as the sandbox holds it (for tests): status, amount, refunded, and the refunds' amounts.</summary>
    public (string Status, long Amount, long Refunded, IReadOnlyList<long> Refunds)? Inspect(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var t)) return null;
        lock (t) return (t.Status, t.Amount, t.Refunded, t.Refunds.Values.Select(r => r.Amount).Order().ToList());
    }

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var api = sandbox.MapGroup("/sandboxpay/v1");
        api.MapPost("/trades", (Delegate)CreateTrade);
        api.MapGet("/trades/{outTradeNo}", QueryTrade);
        api.MapPost("/trades/{outTradeNo}/close", CloseTrade);
        api.MapPost("/trades/{outTradeNo}/pay", (string outTradeNo) => Pay(outTradeNo));
        api.MapPost("/refunds", (Delegate)CreateRefund);
        api.MapGet("/refunds/{outRefundNo}", QueryRefund);
        api.MapGet("/bills/{day}", Bill);
        // Inspection for test harnesses, unsigned like /faults: every trade still remembered, with its refunds.
        sandbox.MapGet("/sandboxpay/inspect/trades", () => Results.Json(trades.Values.Select(t =>
        {
            lock (t)
                return new
                {
                    out_trade_no = t.OutTradeNo, status = t.Status, amount = t.Amount, refunded = t.Refunded,
                    refunds = t.Refunds.Values.Select(r => new { out_refund_no = r.OutRefundNo, amount = r.Amount, status = r.Status }).ToList(),
                };
        }).ToList()));
        MapAgreements(sandbox);
        var buyer = sandbox.MapGroup("/sandboxpay/pay");
        buyer.MapGet("/{outTradeNo}", PayPage);
        buyer.MapPost("/{outTradeNo}", (string outTradeNo) =>
        {
            Pay(outTradeNo);
            return Results.Redirect($"{options.BasePath}/sandboxpay/pay/{outTradeNo}");
        });
    }

    async Task<IResult> CreateTrade(HttpContext http)
    {
        var (ok, body, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        JsonObject req;
        try { req = JsonNode.Parse(body)!.AsObject(); }
        catch (JsonException) { return Error(400, "invalid_request", "body is not JSON"); }
        var outTradeNo = (string?)req["out_trade_no"];
        var amount = (long?)req["amount"];
        var currency = ((string?)req["currency"])?.ToUpperInvariant();
        var notifyUrl = (string?)req["notify_url"];
        if (string.IsNullOrEmpty(outTradeNo) || amount is not > 0 || string.IsNullOrEmpty(currency) || string.IsNullOrEmpty(notifyUrl))
            return Error(400, "invalid_request", "out_trade_no, amount (>0), currency and notify_url are required");
        return await gate.PassAsync(outTradeNo, SandboxPayWire.Unavailable, () =>
        {
            var trade = trades.GetOrAdd(outTradeNo, () => new Trade(
                "sbx_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)), outTradeNo, amount.Value, currency,
                (string?)req["subject"] ?? outTradeNo, notifyUrl));
            if (trade.Amount != amount || trade.Currency != currency)
                return Error(409, "out_trade_no_reused", "out_trade_no exists with another amount or currency");
            return wire.Signed(View(trade));
        });
    }

    async Task<IResult> QueryTrade(HttpContext http, string outTradeNo)
    {
        var (ok, _, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        return await gate.PassAsync(outTradeNo, SandboxPayWire.Unavailable, () =>
            trades.TryGet(outTradeNo, out var trade) ? wire.Signed(View(trade)) : TradeNotFound());
    }

    async Task<IResult> CloseTrade(HttpContext http, string outTradeNo)
    {
        var (ok, _, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        return await gate.PassAsync(outTradeNo, SandboxPayWire.Unavailable, () =>
        {
            if (!trades.TryGet(outTradeNo, out var trade)) return TradeNotFound();
            lock (trade)
            {
                if (trade.Status == "WAIT_PAY") trade.Status = "CLOSED";
            }
            return wire.Signed(View(trade));
        });
    }

    async Task<IResult> CreateRefund(HttpContext http)
    {
        var (ok, body, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        var req = JsonNode.Parse(body)!.AsObject();
        var outTradeNo = (string?)req["out_trade_no"] ?? "";
        var outRefundNo = (string?)req["out_refund_no"];
        var amount = (long?)req["amount"];
        if (string.IsNullOrEmpty(outRefundNo) || amount is not > 0) return Error(400, "invalid_request", "out_refund_no and amount are required");
        return await gate.PassAsync(outTradeNo, SandboxPayWire.Unavailable, () =>
        {
            if (!trades.TryGet(outTradeNo, out var trade)) return TradeNotFound();
            Refund refund;
            lock (trade)
            {
                if (trades.TryGetByAlias(outRefundNo, out var owner) && owner.Refunds.TryGetValue(outRefundNo, out var existing))
                    return wire.Signed(RefundView(existing));
                if (trade.Status is not ("PAID" or "REFUNDED")) return Error(409, "trade_not_paid", "the trade is not paid");
                if (trade.Refunded + amount > trade.Amount) return Error(409, "refund_exceeds", "refund exceeds the paid amount");
                trade.Refunded += amount.Value;
                if (trade.Refunded == trade.Amount) trade.Status = "REFUNDED";
                refund = new Refund("sbr_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)), outRefundNo, outTradeNo, amount.Value, "SUCCESS");
                trade.Refunds[outRefundNo] = refund;
                trades.Alias(outRefundNo, trade);
            }
            notifier.SendRefund(Notification(trade, "refund.succeeded", RefundView(refund)));
            return wire.Signed(RefundView(gate.AnswersRefundPending(outTradeNo) ? refund with { Status = "PROCESSING" } : refund));
        });
    }

    async Task<IResult> QueryRefund(HttpContext http, string outRefundNo)
    {
        var (ok, _, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        return trades.TryGetByAlias(outRefundNo, out var trade) && trade.Refunds.TryGetValue(outRefundNo, out var refund)
            ? wire.Signed(RefundView(refund))
            : Error(404, "refund_not_found", "no such refund");
    }

    /// <summary>The simulated buyer pays (declined under the SuccessRate fault: FAILED, notified as trade.failed). Refused once the trade is closed.</summary>
    public IResult Pay(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var trade)) return TradeNotFound();
        lock (trade)
        {
            if (trade.Status == "CLOSED") return Error(409, "trade_closed", "the trade is closed and cannot be paid");
            if (trade.Status != "WAIT_PAY") return Results.Json(View(trade));
            if (gate.Declines(outTradeNo))
            {
                trade.Status = "FAILED";
                trade.FailCode = "payment_declined";
            }
            else
            {
                trade.Status = "PAID";
                trade.PaidAt = DateTimeOffset.UtcNow;
            }
        }
        notifier.SendPayment(Notification(trade, trade.Status == "PAID" ? "trade.paid" : "trade.failed", View(trade)));
        return Results.Json(View(trade));
    }

    IResult PayPage(string outTradeNo)
    {
        if (!trades.TryGet(outTradeNo, out var trade)) return Results.NotFound();
        return new BuyerPage($"SandboxPay – pay {trade.Subject}", "SandboxPay", trade.Subject,
            $"{trade.Amount.ToString(CultureInfo.InvariantCulture)} {trade.Currency}", trade.Status)
        {
            AmountNote = " (minor units)",
            Form = trade.Status == "WAIT_PAY" ? new BuyerForm($"{options.BasePath}/sandboxpay/pay/{Uri.EscapeDataString(outTradeNo)}", "pay", "Pay") : null,
        }.Render();
    }

    OutgoingNotification Notification(Trade trade, string type, object data) => Notification(trade.OutTradeNo, trade.NotifyUrl, type, data);

    /// <summary>A signed notification about the merchant's <paramref name="key"/> (a trade or an agreement), retried on the protocol's schedule.</summary>
    OutgoingNotification Notification(string key, string notifyUrl, string type, object data)
    {
        var body = JsonSerializer.Serialize(new { id = "ntf_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), type, data });
        return new OutgoingNotification("sandboxpay", key, notifyUrl,
            () => SandboxNotifier.Post(notifyUrl, body, "application/json", [new(SignatureHeader, wire.Sign(body))]),
            (response, _) => response.IsSuccessStatusCode, SandboxPayWire.RetrySchedule);
    }

    object View(Trade t) => new
    {
        trade_no = t.TradeNo, out_trade_no = t.OutTradeNo, status = t.Status, amount = t.Amount, currency = t.Currency,
        refunded = t.Refunded, paid_at = t.PaidAt?.ToUnixTimeSeconds(), fail_code = t.FailCode,
        qr_code = $"{options.PublicBaseUrl()}/sandboxpay/pay/{t.OutTradeNo}",
        pay_url = $"{options.PublicBaseUrl()}/sandboxpay/pay/{t.OutTradeNo}",
    };

    static object RefundView(Refund r) => new
    {
        refund_no = r.RefundNo, out_refund_no = r.OutRefundNo, out_trade_no = r.OutTradeNo, amount = r.Amount, status = r.Status,
    };

    static IResult TradeNotFound() => Error(404, "trade_not_found", "no such trade");

    static IResult Error(int status, string code, string message) => SandboxPayWire.Error(status, code, message);
}
