using System.Text.Json.Nodes;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.Sandbox;

/// <summary>
/// POST /v1/notify/sandbox: verify the signature on the raw body first, then the amount, currency and trade
/// against our payment, then confirm exactly once. 2xx acknowledges (also for a duplicate); 4xx refuses a forgery,
/// 5xx asks the provider to send again.
/// </summary>
public sealed class SandboxPayNotify() : SignedJsonNotification<SandboxPaySettings>("sandbox", badSignature: (401, "invalid_signature"), invalidBody: "invalid_body")
{
    protected override Verification<ProviderEvent> Read(JsonObject note, SandboxPaySettings settings, ILogger log) => Event((string?)note["type"], note["data"]);

    protected override bool SignatureValid(IHeaderDictionary headers, SignedBody body, SandboxPaySettings settings, DateTimeOffset now) =>
        HmacSignature.Verify(settings.Secret, headers["SandboxPay-Signature"], body.Text, now, ProviderProtocol.SignatureTolerance);

    protected override ProviderNotice Parse(ProviderEvent note, NotificationContext context)
    {
        var (type, data) = note;
        return type switch
        {
            "refund.succeeded" => new ProviderNotice.Refunds(
                [new RefundReport((string?)data["out_refund_no"] ?? "", new ProviderRefundResult(RefundStatus.Succeeded, (string?)data["refund_no"]))]),
            "trade.paid" => new ProviderNotice.Paid(PaidFact.From(Provider, (string?)data["out_trade_no"] ?? "", SandboxPayProvider.State(data), "notification")),
            "trade.failed" => new ProviderNotice.Failed((string?)data["out_trade_no"] ?? "", (string?)data["trade_no"], (string?)data["fail_code"] ?? "payment_declined"),
            "agreement.signed" or "agreement.unsigned" => new ProviderNotice.Mandate((string?)data["out_agreement_no"] ?? "", SandboxPayProvider.AgreementState(data)),
            _ => NotificationOutcome.Ignored(type),
        };
    }

    protected override IResult Answer(NotificationOutcome outcome) => outcome.ToJson(unknownPaymentCode: "unknown_trade");
}
