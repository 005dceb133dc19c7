using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Features.Payments;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Providers.WeChatPay;

/// <summary>
/// POST /v1/notify/wechatpay. Verify first (with the platform key Wechatpay-Serial names, unknown refused; timestamp within the signature
/// tolerance, signature over "TIMESTAMP\nNONCE\nBODY\n"), then decrypt the resource (a wrong GCM tag is a forgery), then
/// check mchid/appid, and amount and currency against our payment (a papay deduction's PAY_FAIL fails it). ENTRUST.SIGN /
/// ENTRUST.TERMINATE are papay contracts, handed on as mandate changes. 204 acknowledges (also a duplicate);
/// 4xx/5xx with {"code":"FAIL","message":…} makes WeChat Pay send again. REFUND.* events go to the refunds feature.
/// </summary>
public sealed class WeChatPayNotify() : SignedJsonNotification<WeChatPaySettings>("wechatpay", badSignature: (401, "invalid signature"), invalidBody: "invalid body")
{
    protected override Verification<ProviderEvent> Read(JsonObject note, WeChatPaySettings settings, ILogger log)
    {
        var resource = note["resource"] as JsonObject;
        var plain = WeChatPaySignature.Decrypt(settings.ApiV3Key, (string?)resource?["nonce"], (string?)resource?["associated_data"],
            (string?)resource?["ciphertext"]);
        if (plain is null)
        {
            log.LogWarning("Security: WeChat Pay notification {Id} whose resource does not decrypt; refused", (string?)note["id"]);
            return NotificationOutcome.Rejected(400, "resource does not decrypt");
        }
        var data = JsonNode.Parse(plain)!.AsObject();
        if ((string?)data["mchid"] != settings.MchId || (data["appid"] is not null && (string?)data["appid"] != settings.AppId))
        {
            log.LogWarning("Security: WeChat Pay notification for mchid {MchId}/appid {AppId}, not ours; refused", (string?)data["mchid"], (string?)data["appid"]);
            return NotificationOutcome.Rejected(400, "mchid mismatch");
        }
        return new ProviderEvent((string?)note["event_type"] ?? "", data);
    }

    protected override bool SignatureValid(IHeaderDictionary h, SignedBody body, WeChatPaySettings settings, DateTimeOffset now) =>
        WeChatPaySignature.VerifyHeaders(h["Wechatpay-Serial"], h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], h["Wechatpay-Signature"], body.Text,
            settings.PlatformKey, now);

    protected override async Task<ProviderNotice> ParseAsync(ProviderEvent message, NotificationContext context, CancellationToken ct)
    {
        var (eventType, data) = (message.Type ?? "", message.Data);
        if (eventType.StartsWith("REFUND.", StringComparison.Ordinal))
            return (string?)data["out_refund_no"] is { Length: > 0 } refundId
                ? new ProviderNotice.Refunds([new RefundReport(refundId, WeChatPayProvider.RefundState(data))])
                : NotificationOutcome.Rejected(400, "no out_refund_no");
        if (eventType.StartsWith("ENTRUST.", StringComparison.Ordinal)) return Contract(eventType, data, context);
        if (!eventType.StartsWith("TRANSACTION.", StringComparison.Ordinal)) return NotificationOutcome.Ignored(eventType);
        var state = WeChatPayProvider.State(data);
        var outTradeNo = (string?)data["out_trade_no"] ?? "";
        if (state.Status == TradeStatus.Paid) return new ProviderNotice.Paid(PaidFact.From(Provider, outTradeNo, state, "notification"));
        if ((string?)data["trade_state"] != "PAY_FAIL") return NotificationOutcome.Ignored(eventType);
        // A papay deduction that failed (PAY_FAIL): our payment, same amount and currency, or a forgery.
        var payment = await context.Db.PaymentOfAsync(outTradeNo, Provider, ct);
        if (payment is null) return NotificationOutcome.UnknownPayment;
        if (payment.Amount != state.Amount || !string.Equals(payment.Currency, state.Currency, StringComparison.OrdinalIgnoreCase))
        {
            context.Log.LogWarning("Security: WeChat Pay failure of {PaymentId} for {Amount} {Currency}, not ours; refused", payment.Id, state.Amount, state.Currency);
            return NotificationOutcome.Mismatch;
        }
        return new ProviderNotice.Failed(payment.Id, payment.ProviderTradeNo, state.FailureCode ?? RecurringFailures.Declined);
    }

    /// <summary>ENTRUST.SIGN / ENTRUST.TERMINATE: the contract, by out_contract_code (our mandate id without its underscore) under our plan.</summary>
    ProviderNotice Contract(string eventType, JsonObject data, NotificationContext context)
    {
        if (WeChatPayProvider.MandateId((string?)data["out_contract_code"]) is not { } mandateId) return NotificationOutcome.Rejected(400, "unknown out_contract_code");
        var settings = context.Services.GetRequiredService<WeChatPaySettings>();
        if (data["plan_id"] is { } plan && plan.ToString() != settings.PapayPlanId)
        {
            context.Log.LogWarning("Security: WeChat Pay contract notification for plan {Plan}, not ours; refused", plan.ToString());
            return NotificationOutcome.Rejected(400, "plan_id mismatch");
        }
        var state = WeChatPayProvider.ContractState(data);
        var expected = eventType == "ENTRUST.SIGN" ? MandateStatus.Active : eventType == "ENTRUST.TERMINATE" ? MandateStatus.Revoked : (MandateStatus?)null;
        return state.Status == expected ? new ProviderNotice.Mandate(mandateId, state) : NotificationOutcome.Ignored(eventType);
    }

    protected override IResult Answer(NotificationOutcome outcome) => outcome.Answer switch
    {
        NotificationAnswer.Acknowledged or NotificationAnswer.Ignored => Results.NoContent(),
        NotificationAnswer.NotEnabled => Fail(outcome.StatusCode, "wechatpay is not enabled"),
        NotificationAnswer.UnknownPayment => Fail(outcome.StatusCode, "unknown trade"),
        NotificationAnswer.Mismatch => Fail(outcome.StatusCode, "amount mismatch"),
        _ => Fail(outcome.StatusCode, outcome.Detail ?? "refused"),
    };

    static IResult Fail(int status, string message) => Results.Json(new { code = "FAIL", message }, statusCode: status);
}
