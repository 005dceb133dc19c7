namespace KnowPay.Sandbox.SandboxPay;

/// <summary>
/// SandboxPay's agreements (in the style of Alipay's 周期扣款): created by the merchant (TEMP), signed by the buyer on
/// SandboxPay's page (NORMAL), ended by either side (STOP), each change notified (agreement.signed / agreement.unsigned,
/// signed like every notification). A deduction is a trade under a NORMAL agreement, keyed by out_trade_no (a repeat
/// returns the same trade), refused above amount_cap; declines are injected on demand per agreement.
/// </summary>
public sealed partial class SandboxPaySimulator
{
    readonly ConcurrentDictionary<string, Agreement> agreements = new(StringComparer.Ordinal);

    sealed record Agreement(string AgreementNo, string OutAgreementNo, long AmountCap, string Currency, string Subject, string NotifyUrl, string? ReturnUrl)
    {
        public string Status { get; set; } = "TEMP";
        public string? StopReason { get; set; }
        public DateTimeOffset ChangedAt { get; set; } = DateTimeOffset.UtcNow;
        /// <summary>Failure codes the next deductions answer with, in order (declines on demand).</summary>
        public Queue<string> Declines { get; } = new();
        public List<string> Deductions { get; } = [];
    }

    void MapAgreements(IEndpointRouteBuilder sandbox)
    {
        var api = sandbox.MapGroup("/sandboxpay/v1/agreements");
        api.MapPost("", (Delegate)CreateAgreement);
        api.MapGet("/{no}", QueryAgreement);
        api.MapPost("/{no}/unsign", (HttpContext http, string no) => UnsignAsync(http, no));
        api.MapPost("/{no}/deductions", (HttpContext http, string no) => DeductAsync(http, no));
        // The simulated buyer (unsigned, like /trades/{no}/pay): sign, or cancel the agreement from SandboxPay's side.
        api.MapPost("/{no}/sign", (string no) => Change(no, "NORMAL", null));
        api.MapPost("/{no}/buyer-cancel", (string no) => Change(no, "STOP", "user"));
        // Test harness, unsigned like /faults: the next deductions under the agreement fail with these codes.
        sandbox.MapPost("/sandboxpay/agreements/{no}/declines", (string no, int? count, string? code) =>
        {
            if (!agreements.TryGetValue(no, out var a)) return Error(404, "agreement_not_found", "no such agreement");
            lock (a) for (var i = 0; i < (count ?? 1); i++) a.Declines.Enqueue(code ?? "INSUFFICIENT_FUNDS");
            return Results.NoContent();
        });
        sandbox.MapGet("/sandboxpay/inspect/agreements", () => Results.Json(agreements.Values.Select(a =>
        {
            lock (a) return new { out_agreement_no = a.OutAgreementNo, status = a.Status, amount_cap = a.AmountCap, deductions = a.Deductions.ToList() };
        }).ToList()));
        sandbox.MapGet("/sandboxpay/sign/{no}", SignPage);
        sandbox.MapPost("/sandboxpay/sign/{no}", (string no) =>
        {
            Change(no, "NORMAL", null);
            return Results.Redirect($"{options.BasePath}/sandboxpay/sign/{Uri.EscapeDataString(no)}");
        });
    }

    async Task<IResult> CreateAgreement(HttpContext http)
    {
        var (ok, body, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        JsonObject req;
        try { req = JsonNode.Parse(body)!.AsObject(); }
        catch (JsonException) { return Error(400, "invalid_request", "body is not JSON"); }
        var no = (string?)req["out_agreement_no"];
        var cap = (long?)req["amount_cap"];
        var currency = ((string?)req["currency"])?.ToUpperInvariant();
        var notifyUrl = (string?)req["notify_url"];
        if (string.IsNullOrEmpty(no) || cap is not > 0 || string.IsNullOrEmpty(currency) || string.IsNullOrEmpty(notifyUrl))
            return Error(400, "invalid_request", "out_agreement_no, amount_cap (>0), currency and notify_url are required");
        return await gate.PassAsync(no, SandboxPayWire.Unavailable, () =>
        {
            var a = agreements.GetOrAdd(no, _ => new Agreement("sba_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)), no, cap.Value,
                currency, (string?)req["subject"] ?? no, notifyUrl, (string?)req["return_url"]));
            return a.AmountCap != cap || a.Currency != currency
                ? Error(409, "out_agreement_no_reused", "out_agreement_no exists with another cap or currency")
                : wire.Signed(View(a));
        });
    }

    async Task<IResult> QueryAgreement(HttpContext http, string no)
    {
        var (ok, _, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        return agreements.TryGetValue(no, out var a) ? wire.Signed(View(a)) : Error(404, "agreement_not_found", "no such agreement");
    }

    async Task<IResult> UnsignAsync(HttpContext http, string no)
    {
        var (ok, _, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        if (!agreements.ContainsKey(no)) return Error(404, "agreement_not_found", "no such agreement");
        Change(no, "STOP", "merchant");
        return wire.Signed(View(agreements[no]));
    }

    async Task<IResult> DeductAsync(HttpContext http, string no)
    {
        var (ok, body, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        var req = JsonNode.Parse(body)!.AsObject();
        var outTradeNo = (string?)req["out_trade_no"];
        var amount = (long?)req["amount"];
        var currency = ((string?)req["currency"])?.ToUpperInvariant();
        var notifyUrl = (string?)req["notify_url"];
        if (string.IsNullOrEmpty(outTradeNo) || amount is not > 0 || string.IsNullOrEmpty(currency) || string.IsNullOrEmpty(notifyUrl))
            return Error(400, "invalid_request", "out_trade_no, amount (>0), currency and notify_url are required");
        if (!agreements.TryGetValue(no, out var a)) return Error(404, "agreement_not_found", "no such agreement");
        return await gate.PassAsync(outTradeNo, SandboxPayWire.Unavailable, () =>
        {
            if (trades.TryGet(outTradeNo, out var existing)) return wire.Signed(View(existing));   // idempotent by out_trade_no
            string? failure;
            lock (a)
            {
                if (amount > a.AmountCap || currency != a.Currency) return Error(400, "amount_exceeds_cap", "the deduction exceeds the agreement's amount_cap");
                failure = a.Status != "NORMAL" ? "AGREEMENT_STOPPED" : a.Declines.TryDequeue(out var code) ? code : null;
                a.Deductions.Add(outTradeNo);
            }
            var trade = trades.GetOrAdd(outTradeNo, () => new Trade("sbx_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)), outTradeNo,
                amount.Value, currency, (string?)req["subject"] ?? outTradeNo, notifyUrl));
            lock (trade)
            {
                trade.Status = failure is null ? "PAID" : "FAILED";
                trade.FailCode = failure;
                if (failure is null) trade.PaidAt = DateTimeOffset.UtcNow;
            }
            if (failure is null) notifier.SendPayment(Notification(trade, "trade.paid", View(trade)));
            return wire.Signed(View(trade));
        });
    }

    /// <summary>The buyer signs (NORMAL) or an end (STOP, by the buyer or the merchant); each change is notified once. STOP is final.</summary>
    IResult Change(string no, string status, string? reason)
    {
        if (!agreements.TryGetValue(no, out var a)) return Error(404, "agreement_not_found", "no such agreement");
        lock (a)
        {
            if (a.Status == status || a.Status == "STOP") return Results.Json(View(a));
            a.Status = status;
            a.StopReason = reason;
            a.ChangedAt = DateTimeOffset.UtcNow;
        }
        notifier.Send(Notification(a.OutAgreementNo, a.NotifyUrl, status == "NORMAL" ? "agreement.signed" : "agreement.unsigned", View(a)));
        return Results.Json(View(a));
    }

    IResult SignPage(string no)
    {
        if (!agreements.TryGetValue(no, out var a)) return Results.NotFound();
        return new BuyerPage($"SandboxPay – sign {a.Subject}", "SandboxPay", a.Subject,
            $"≤ {a.AmountCap.ToString(CultureInfo.InvariantCulture)} {a.Currency} per deduction", a.Status)
        {
            AmountNote = " (minor units)",
            ReturnUrl = a.Status == "NORMAL" ? a.ReturnUrl : null,
            Form = a.Status == "TEMP" ? new BuyerForm($"{options.BasePath}/sandboxpay/sign/{Uri.EscapeDataString(no)}", "sign", "Sign the agreement") : null,
        }.Render();
    }

    object View(Agreement a) => new
    {
        agreement_no = a.AgreementNo, out_agreement_no = a.OutAgreementNo, status = a.Status, amount_cap = a.AmountCap, currency = a.Currency,
        stop_reason = a.StopReason, changed_at = a.ChangedAt.ToUnixTimeSeconds(), buyer_id = "sbu_" + a.AgreementNo[4..12],
        sign_url = $"{options.PublicBaseUrl()}/sandboxpay/sign/{a.OutAgreementNo}",
    };
}
