using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers.Sandbox;

/// <summary>
/// SandboxPay's agreements, in the style of Alipay's 周期扣款: the merchant creates an agreement keyed by its
/// out_agreement_no (the mandate id), the buyer signs it on SandboxPay's page, SandboxPay notifies agreement.signed /
/// agreement.unsigned (signed like every notification), and each deduction is a trade keyed by out_trade_no under the
/// agreement, refused above its amount_cap. Statuses TEMP (unsigned), NORMAL (signed), STOP (ended).
/// </summary>
public sealed partial class SandboxPayProvider
{
    public IReadOnlyCollection<string> SignMethods { get; } = ["page", "qr"];

    public async Task<MandateSignStarted> StartSigningAsync(MandateSigning request, CancellationToken ct)
    {
        var agreement = await SendAsync(HttpMethod.Post, "/v1/agreements", new JsonObject
        {
            ["out_agreement_no"] = request.Mandate.Id,
            ["amount_cap"] = request.Mandate.MaxAmount,
            ["currency"] = request.Mandate.Currency,
            ["period_type"] = request.Interval.ToUpperInvariant(),
            ["period"] = request.IntervalCount,
            ["first_deduct_at"] = new DateTimeOffset(request.FirstChargeAt).ToUnixTimeSeconds(),
            ["subject"] = request.Description,
            ["notify_url"] = request.NotifyUrl,
            ["return_url"] = request.ReturnUrl,
        }, ct) ?? throw new ProviderException(Name, "empty_response", "no agreement in the answer");
        var url = (string?)agreement["sign_url"];
        return request.Mandate.Method == "qr"
            ? new MandateSignStarted(RedirectUrl: url, QrCode: url, ProviderMandateId: (string?)agreement["agreement_no"])
            : new MandateSignStarted(RedirectUrl: url, ProviderMandateId: (string?)agreement["agreement_no"]);
    }

    public async Task<MandateState> QueryMandateAsync(Mandate mandate, CancellationToken ct) =>
        AgreementState(await SendAsync(HttpMethod.Get, $"/v1/agreements/{mandate.Id}", null, ct, notFoundIsNull: true));

    public async Task<MandateState> TerminateMandateAsync(Mandate mandate, string reason, CancellationToken ct) =>
        AgreementState(await SendAsync(HttpMethod.Post, $"/v1/agreements/{mandate.Id}/unsign", new JsonObject { ["reason"] = reason }, ct, notFoundIsNull: true));

    /// <summary>SandboxPay needs no notice before a deduction.</summary>
    public Task NotifyUpcomingChargeAsync(RecurringCharge charge, CancellationToken ct) => Task.CompletedTask;

    public async Task<ProviderTradeState> ChargeAsync(RecurringCharge charge, CancellationToken ct)
    {
        var trade = await SendAsync(HttpMethod.Post, $"/v1/agreements/{charge.Mandate.Id}/deductions", new JsonObject
        {
            ["out_trade_no"] = charge.Payment.Id,
            ["amount"] = charge.Payment.Amount,
            ["currency"] = charge.Payment.Currency,
            ["subject"] = charge.Subject,
            ["notify_url"] = charge.NotifyUrl,
        }, ct);
        var state = State(trade);
        return state.Status == TradeStatus.Failed ? state with { FailureCode = FailureCode((string?)trade?["fail_code"]) } : state;
    }

    /// <summary>SandboxPay's deduction failure codes as the billing engine's <see cref="RecurringFailures"/>.</summary>
    static string FailureCode(string? code) => code switch
    {
        "AUTH_REQUIRED" => RecurringFailures.AuthenticationRequired,
        "AGREEMENT_STOPPED" => RecurringFailures.MandateRevoked,
        "HARD_DECLINE" => RecurringFailures.HardDecline,
        _ => RecurringFailures.Declined,
    };

    /// <summary>Maps a SandboxPay agreement object (also the agreement notifications' data) to the common agreement state.</summary>
    public static MandateState AgreementState(JsonObject? agreement)
    {
        if (agreement is null) return new MandateState(MandateStatus.Revoked, Reason: "not_signed");
        var at = (long?)agreement["changed_at"] is { } unix ? DateTimeOffset.FromUnixTimeSeconds(unix).UtcDateTime : (DateTime?)null;
        return (string?)agreement["status"] switch
        {
            "NORMAL" => new MandateState(MandateStatus.Active, (string?)agreement["agreement_no"], (string?)agreement["buyer_id"], at),
            "STOP" => new MandateState(MandateStatus.Revoked, (string?)agreement["agreement_no"], (string?)agreement["buyer_id"], at,
                (string?)agreement["stop_reason"] ?? "user"),
            _ => new MandateState(MandateStatus.Pending, (string?)agreement["agreement_no"]),
        };
    }
}
