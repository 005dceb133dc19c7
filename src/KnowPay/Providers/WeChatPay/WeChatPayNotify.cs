using System.Text.Json.Nodes;
using KnowPay.Features.Payments;

namespace KnowPay.Providers.WeChatPay;

/// <summary>
/// POST /v1/notify/wechatpay. Verify first (with the platform key Wechatpay-Serial names, unknown refused; timestamp within the signature
/// tolerance, signature over "TIMESTAMP\nNONCE\nBODY\n"), then decrypt the resource (a wrong GCM tag is a forgery), then
/// check mchid/appid, and amount and currency against our payment. 204 acknowledges (also a duplicate);
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

    protected override ProviderNotice Parse(ProviderEvent message, NotificationContext context)
    {
        var (eventType, data) = (message.Type ?? "", message.Data);
        if (eventType.StartsWith("REFUND.", StringComparison.Ordinal))
            return (string?)data["out_refund_no"] is { Length: > 0 } refundId
                ? new ProviderNotice.Refunds([new RefundReport(refundId, WeChatPayProvider.RefundState(data))])
                : NotificationOutcome.Rejected(400, "no out_refund_no");
        if (eventType != "TRANSACTION.SUCCESS") return NotificationOutcome.Ignored(eventType);
        var state = WeChatPayProvider.State(data);
        if (state.Status != TradeStatus.Paid) return NotificationOutcome.Ignored(eventType);
        return new ProviderNotice.Paid(PaidFact.From(Provider, (string?)data["out_trade_no"] ?? "", state, "notification"));
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
