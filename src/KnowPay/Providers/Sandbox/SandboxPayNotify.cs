using System.Text.Json.Nodes;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.Sandbox;

/// <summary>
/// POST /v1/notify/sandbox: verify the signature on the raw body first, then the amount, currency and trade
/// against our payment, then confirm exactly once. 2xx acknowledges (also for a duplicate); 4xx refuses a forgery,
/// 5xx asks the provider to send again.
/// </summary>
public sealed class SandboxPayNotify : ProviderNotification<ProviderEvent>
{
    public static void Map(IEndpointRouteBuilder notify) => new SandboxPayNotify().MapTo(notify);

    protected override string Provider => "sandbox";

    protected override async Task<Verification<ProviderEvent>> VerifyAsync(HttpRequest request, NotificationContext context, CancellationToken ct)
    {
        if (context.Services.GetService<SandboxPaySettings>() is not { } settings) return NotificationOutcome.NotEnabled;
        var body = await ReadBodyAsync(request, ct);
        if (!HmacSignature.Verify(settings.Secret, request.Headers["SandboxPay-Signature"], body, context.Clock.GetUtcNow(), ProviderProtocol.SignatureTolerance))
        {
            context.Log.LogWarning("Security: sandbox notification with a bad signature refused");
            return NotificationOutcome.Rejected(401, "invalid_signature");
        }
        if (ParseObject(body) is not { } note) return NotificationOutcome.Rejected(400, "invalid_body");
        return note["data"] is JsonObject data ? new ProviderEvent((string?)note["type"], data) : NotificationOutcome.Ignored((string?)note["type"]);
    }

    protected override ProviderNotice Parse(ProviderEvent note, NotificationContext context)
    {
        var (type, data) = note;
        return type switch
        {
            "refund.succeeded" => new ProviderNotice.Refunds(
                [new RefundReport((string?)data["out_refund_no"] ?? "", new ProviderRefundResult(RefundStatus.Succeeded, (string?)data["refund_no"]))]),
            "trade.paid" => new ProviderNotice.Paid(PaidFact.From(Provider, (string?)data["out_trade_no"] ?? "", SandboxPayProvider.State(data), "notification")),
            _ => NotificationOutcome.Ignored(type),
        };
    }

    protected override IResult Answer(NotificationOutcome outcome) => outcome.ToJson(unknownPaymentCode: "unknown_trade");
}
