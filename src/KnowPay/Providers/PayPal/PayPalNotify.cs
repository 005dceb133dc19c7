using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Payments;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Providers.PayPal;

/// <summary>
/// POST /v1/notify/paypal: the transmission signature is verified offline first, then the resource is matched with our
/// payment (custom_id = payment id, order id, amount, currency). An approved order is captured (idempotently); a
/// completed capture confirms the payment exactly once; a denied capture fails it; a refund goes to the refunds feature.
/// 2xx acknowledges; 4xx refuses a forgery; 5xx asks PayPal to send again.
/// </summary>
public sealed class PayPalNotify() : SignedJsonNotification<PayPalWebhookVerifier>("paypal", badSignature: (400, "invalid_signature"), invalidBody: "invalid_body")
{
    protected override Verification<ProviderEvent> Read(JsonObject evt, PayPalWebhookVerifier verifier, ILogger log) => Event((string?)evt["event_type"], evt["resource"]);

    protected override Task<bool> SignatureValidAsync(IHeaderDictionary headers, SignedBody body, PayPalWebhookVerifier verifier, DateTimeOffset now,
        CancellationToken ct) => verifier.VerifyAsync(headers, body.Bytes, ct);

    protected override async Task<ProviderNotice> ParseAsync(ProviderEvent message, NotificationContext context, CancellationToken ct)
    {
        var (type, resource) = message;
        switch (type)
        {
            case "CHECKOUT.ORDER.APPROVED":
            {
                var unit = resource["purchase_units"]?[0];
                var (payment, refusal) = await MatchAsync(context, (string?)unit?["custom_id"], (string?)resource["id"], PayPalProvider.ParseAmount(unit?["amount"]), ct);
                if (refusal is not null) return refusal;
                if (payment!.Status != PaymentStatus.Pending) return NotificationOutcome.Acknowledged;
                ProviderTradeState state;
                try { state = await ((PayPalProvider)context.Provider).CaptureAsync(payment, ct); }
                catch (ProviderException e)
                {
                    context.Log.LogWarning(e, "Capture of PayPal order {Order} for {PaymentId} failed; PayPal will send again and the poller will retry", payment.ProviderTradeNo, payment.Id);
                    return NotificationOutcome.Rejected(503, "capture_failed");
                }
                return state.Status switch
                {
                    TradeStatus.Paid => new ProviderNotice.Paid(PaidFact.From(Provider, payment.Id, state, "notification") with { PaidAt = null }),
                    TradeStatus.Failed => new ProviderNotice.Failed(payment.Id, payment.ProviderTradeNo, state.FailureCode ?? "capture_declined"),
                    _ => NotificationOutcome.Acknowledged,
                };
            }
            case "PAYMENT.CAPTURE.COMPLETED":
            {
                var money = PayPalProvider.ParseAmount(resource["amount"]);
                if ((string?)resource["status"] is not ("COMPLETED" or "PARTIALLY_REFUNDED" or "REFUNDED") || money is not { } amount)
                    return NotificationOutcome.Rejected(400, "capture_invalid");
                return new ProviderNotice.Paid(new PaidFact(Provider, (string?)resource["custom_id"] ?? "", OrderId(resource) ?? "",
                    new ReportedAmount(amount.MinorUnits, amount.Currency.Code), null, "notification"));
            }
            case "PAYMENT.CAPTURE.DENIED" or "PAYMENT.CAPTURE.DECLINED":
            {
                var (payment, refusal) = await MatchAsync(context, (string?)resource["custom_id"], OrderId(resource), PayPalProvider.ParseAmount(resource["amount"]), ct);
                if (refusal is not null) return refusal;
                return new ProviderNotice.Failed(payment!.Id, payment.ProviderTradeNo, "capture_denied");
            }
            case "PAYMENT.CAPTURE.REFUNDED" or "PAYMENT.REFUND.PENDING" or "PAYMENT.REFUND.FAILED":
                return new ProviderNotice.Refunds((string?)resource["custom_id"] is { } refundId ? [new RefundReport(refundId, PayPalProvider.RefundState(resource))] : []);
            default:
                return NotificationOutcome.Ignored(type);
        }
    }

    static string? OrderId(JsonObject capture) => (string?)capture["supplementary_data"]?["related_ids"]?["order_id"];

    /// <summary>Our payment for the resource, or the refusal when it is unknown or names another order, amount or currency.</summary>
    async Task<(Payment? Payment, NotificationOutcome? Refusal)> MatchAsync(NotificationContext context, string? paymentId, string? orderId, Money? amount, CancellationToken ct)
    {
        var payment = paymentId is null ? null
            : await context.Db.PaymentOfAsync(paymentId, Provider, ct);
        if (payment is null)
        {
            context.Log.LogWarning("Security: PayPal reported payment {PaymentId} which does not exist", paymentId);
            return (null, NotificationOutcome.UnknownPayment);
        }
        if (payment.ProviderTradeNo != orderId || amount is not { } m || m.MinorUnits != payment.Amount || m.Currency.Code != payment.Currency)
        {
            context.Log.LogWarning("Security: PayPal reported order {Order} / {Amount} for payment {PaymentId} (order {Expected}, {ExpectedAmount} {Currency}); refused",
                orderId, amount, payment.Id, payment.ProviderTradeNo, payment.Amount, payment.Currency);
            return (null, NotificationOutcome.Mismatch);
        }
        return (payment, null);
    }

    protected override IResult Answer(NotificationOutcome outcome) => outcome.ToJson(unknownPaymentCode: "unknown_payment");
}
