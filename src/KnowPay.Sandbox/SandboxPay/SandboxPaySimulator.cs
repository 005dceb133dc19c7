using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Sandbox.SandboxPay;

/// <summary>
/// "SandboxPay": KnowPay's own generic test provider, a small signed protocol in the style of the real ones.
/// Requests carry <c>SandboxPay-Signature: t=&lt;unix&gt;,v1=&lt;hex HMAC-SHA256 of "t.METHOD PATH?QUERY.body"&gt;</c>;
/// responses and notifications carry <c>SandboxPay-Signature: t=…,v1=&lt;hex HMAC of "t.body"&gt;</c>; the timestamp must be
/// within 300 s. Trades are keyed by the merchant's out_trade_no; a repeat create returns the same trade.
/// </summary>
public sealed class SandboxPaySimulator(SandboxOptions options, SandboxNotifier notifier, SandboxFaults faults, SandboxPayWire wire)
{
    public const string SignatureHeader = SandboxPayWire.SignatureHeader;

    readonly ConcurrentDictionary<string, Trade> trades = new();
    readonly ConcurrentDictionary<string, Refund> refunds = new();
    /// <summary>Trade keys in the order they were created, to forget the oldest finished ones (SandboxOptions.MaxTrades).</summary>
    readonly ConcurrentQueue<string> created = new();

    sealed class Trade
    {
        public required string TradeNo { get; init; }
        public required string OutTradeNo { get; init; }
        public long Amount { get; init; }
        public required string Currency { get; init; }
        public required string Subject { get; init; }
        public required string NotifyUrl { get; init; }
        public string Status { get; set; } = "WAIT_PAY";
        public DateTimeOffset? PaidAt { get; set; }
        public long Refunded { get; set; }
    }

    sealed record Refund(string RefundNo, string OutRefundNo, string OutTradeNo, long Amount, string Status);

    /// <summary>Trade state as the sandbox holds it (for tests): status, amount, refunded, and the refunds' amounts.</summary>
    public (string Status, long Amount, long Refunded, IReadOnlyList<long> Refunds)? Inspect(string outTradeNo) =>
        trades.TryGetValue(outTradeNo, out var t)
            ? (t.Status, t.Amount, t.Refunded, refunds.Values.Where(r => r.OutTradeNo == outTradeNo).Select(r => r.Amount).Order().ToList())
            : null;

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/sandboxpay");
        g.MapPost("/v1/trades", (Delegate)CreateTrade);
        g.MapGet("/v1/trades/{outTradeNo}", QueryTrade);
        g.MapPost("/v1/trades/{outTradeNo}/close", CloseTrade);
        g.MapPost("/v1/refunds", (Delegate)CreateRefund);
        g.MapGet("/v1/refunds/{outRefundNo}", QueryRefund);
        g.MapPost("/v1/trades/{outTradeNo}/pay", (string outTradeNo) => Pay(outTradeNo));
        g.MapGet("/pay/{outTradeNo}", PayPage);
        g.MapPost("/pay/{outTradeNo}", (string outTradeNo) =>
        {
            var result = Pay(outTradeNo);
            return Results.Redirect($"{options.BasePath}/sandboxpay/pay/{outTradeNo}");
        });
    }

    async Task<IResult> CreateTrade(HttpContext http)
    {
        var (ok, body, refusal) = await VerifyRequestAsync(http);
        if (!ok) return refusal!;
        JsonObject req;
        try { req = JsonNode.Parse(body)!.AsObject(); }
        catch (JsonException) { return Error(400, "invalid_request", "body is not JSON"); }
        var outTradeNo = (string?)req["out_trade_no"];
        var amount = (long?)req["amount"];
        var currency = (string?)req["currency"];
        var notifyUrl = (string?)req["notify_url"];
        if (string.IsNullOrEmpty(outTradeNo) || amount is not > 0 || string.IsNullOrEmpty(currency) || string.IsNullOrEmpty(notifyUrl))
            return Error(400, "invalid_request", "out_trade_no, amount (>0), currency and notify_url are required");
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        var fresh = new Trade
        {
            TradeNo = "sbx_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)),
            OutTradeNo = outTradeNo, Amount = amount.Value, Currency = currency.ToUpperInvariant(),
            Subject = (string?)req["subject"] ?? outTradeNo, NotifyUrl = notifyUrl,
        };
        var trade = trades.GetOrAdd(outTradeNo, fresh);
        if (trade.Amount != amount || trade.Currency != currency.ToUpperInvariant())
            return Error(409, "out_trade_no_reused", "out_trade_no exists with another amount or currency");
        if (ReferenceEquals(trade, fresh))
        {
            created.Enqueue(outTradeNo);
            ForgetOldTrades();
        }
        return Signed(View(trade));
    }

    /// <summary>Forgets the oldest trades beyond MaxTrades that are finished; a trade still waiting for its buyer goes to the back.</summary>
    void ForgetOldTrades()
    {
        // The queue's count, not the dictionary's: ConcurrentDictionary.Count takes every lock of the table.
        for (var budget = created.Count; created.Count > options.MaxTrades && budget > 0 && created.TryDequeue(out var oldest); budget--)
        {
            if (trades.TryGetValue(oldest, out var t) && t.Status == "WAIT_PAY") created.Enqueue(oldest);
            else trades.TryRemove(oldest, out _);
        }
    }

    async Task<IResult> QueryTrade(HttpContext http, string outTradeNo)
    {
        var (ok, _, refusal) = await VerifyRequestAsync(http);
        if (!ok) return refusal!;
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        return trades.TryGetValue(outTradeNo, out var trade) ? Signed(View(trade)) : Error(404, "trade_not_found", "no such trade");
    }

    async Task<IResult> CloseTrade(HttpContext http, string outTradeNo)
    {
        var (ok, _, refusal) = await VerifyRequestAsync(http);
        if (!ok) return refusal!;
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        if (!trades.TryGetValue(outTradeNo, out var trade)) return Error(404, "trade_not_found", "no such trade");
        lock (trade)
        {
            if (trade.Status == "WAIT_PAY") trade.Status = "CLOSED";
        }
        return Signed(View(trade));
    }

    async Task<IResult> CreateRefund(HttpContext http)
    {
        var (ok, body, refusal) = await VerifyRequestAsync(http);
        if (!ok) return refusal!;
        var req = JsonNode.Parse(body)!.AsObject();
        var outTradeNo = (string?)req["out_trade_no"] ?? "";
        var outRefundNo = (string?)req["out_refund_no"];
        var amount = (long?)req["amount"];
        if (string.IsNullOrEmpty(outRefundNo) || amount is not > 0) return Error(400, "invalid_request", "out_refund_no and amount are required");
        if (await FaultAsync(outTradeNo) is { } fault) return fault;
        if (!trades.TryGetValue(outTradeNo, out var trade)) return Error(404, "trade_not_found", "no such trade");
        Refund refund;
        lock (trade)
        {
            if (refunds.TryGetValue(outRefundNo, out var existing)) return Signed(RefundView(existing));
            if (trade.Status is not ("PAID" or "REFUNDED")) return Error(409, "trade_not_paid", "the trade is not paid");
            if (trade.Refunded + amount > trade.Amount) return Error(409, "refund_exceeds", "refund exceeds the paid amount");
            trade.Refunded += amount.Value;
            if (trade.Refunded == trade.Amount) trade.Status = "REFUNDED";
            refund = new Refund("sbr_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)), outRefundNo, outTradeNo, amount.Value, "SUCCESS");
            refunds[outRefundNo] = refund;
        }
        Notify(trade, "refund.succeeded", RefundView(refund));
        return Signed(RefundView(faults.For(outTradeNo).RefundAnswerPending ? refund with { Status = "PROCESSING" } : refund));
    }

    async Task<IResult> QueryRefund(HttpContext http, string outRefundNo)
    {
        var (ok, _, refusal) = await VerifyRequestAsync(http);
        if (!ok) return refusal!;
        return refunds.TryGetValue(outRefundNo, out var refund) ? Signed(RefundView(refund)) : Error(404, "refund_not_found", "no such refund");
    }

    /// <summary>The simulated buyer pays. Refused once the trade is closed.</summary>
    public IResult Pay(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var trade)) return Error(404, "trade_not_found", "no such trade");
        lock (trade)
        {
            if (trade.Status == "CLOSED") return Error(409, "trade_closed", "the trade is closed and cannot be paid");
            if (trade.Status != "WAIT_PAY") return Results.Json(View(trade));
            trade.Status = "PAID";
            trade.PaidAt = DateTimeOffset.UtcNow;
        }
        Notify(trade, "trade.paid", View(trade));
        return Results.Json(View(trade));
    }

    IResult PayPage(string outTradeNo)
    {
        if (!trades.TryGetValue(outTradeNo, out var trade)) return Results.NotFound();
        var amount = trade.Amount.ToString(CultureInfo.InvariantCulture);
        var html = $$"""
            <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>SandboxPay – pay {{Enc(trade.Subject)}}</title>
            <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}button{font-size:1.1rem;padding:.6rem 1.4rem}</style></head>
            <body><h1>SandboxPay</h1><p>{{Enc(trade.Subject)}}</p><p>Amount: <strong>{{amount}} {{trade.Currency}}</strong> (minor units)</p>
            <p>Status: <strong id="status">{{trade.Status}}</strong></p>
            {{(trade.Status == "WAIT_PAY" ? $"<form method=\"post\"><button id=\"pay\" type=\"submit\">Pay</button></form>" : "")}}
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }

    void Notify(Trade trade, string type, object data)
    {
        var body = JsonSerializer.Serialize(new { id = "ntf_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), type, data });
        notifier.Send(new OutgoingNotification("sandboxpay", trade.OutTradeNo, trade.NotifyUrl,
            () => SandboxNotifier.Post(trade.NotifyUrl, body, "application/json", [new(SignatureHeader, Sign(body))]),
            (response, _) => response.IsSuccessStatusCode, RetrySchedule));
    }

    object View(Trade t) => new
    {
        trade_no = t.TradeNo, out_trade_no = t.OutTradeNo, status = t.Status, amount = t.Amount, currency = t.Currency,
        refunded = t.Refunded, paid_at = t.PaidAt?.ToUnixTimeSeconds(),
        qr_code = $"{options.PublicBaseUrl()}/sandboxpay/pay/{t.OutTradeNo}",
        pay_url = $"{options.PublicBaseUrl()}/sandboxpay/pay/{t.OutTradeNo}",
    };

    static object RefundView(Refund r) => new
    {
        refund_no = r.RefundNo, out_refund_no = r.OutRefundNo, out_trade_no = r.OutTradeNo, amount = r.Amount, status = r.Status,
    };

    Task<(bool Ok, string Body, IResult? Refusal)> VerifyRequestAsync(HttpContext http) => wire.VerifyRequestAsync(http);
    Task<IResult?> FaultAsync(string key) => wire.FaultAsync(key);
    IResult Signed(object value) => wire.Signed(value);
    string Sign(string payload) => wire.Sign(payload);
    static IResult Error(int status, string code, string message) => SandboxPayWire.Error(status, code, message);
    static readonly TimeSpan[] RetrySchedule = SandboxPayWire.RetrySchedule;

    static string Enc(string s) => System.Net.WebUtility.HtmlEncode(s);
}
