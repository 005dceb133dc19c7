using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Providers.Stripe;

/// <summary>
/// POST /v1/notify/stripe: the Stripe-Signature is verified on the raw body first (any v1, 300 s either way), then the
/// PaymentIntent is matched with our payment (metadata[payment_id], PaymentIntent id, amount, currency) and confirmed
/// exactly once. Duplicates and reordering are expected: every transition is conditional. Unknown event types are
/// acknowledged. 2xx acknowledges; 4xx refuses a forgery; 5xx asks Stripe to send again.
/// </summary>
public static class StripeNotify
{
    public static void Map(IEndpointRouteBuilder notify) => notify.MapPost("/stripe", Handle).ExcludeFromDescription();

    static async Task<IResult> Handle(HttpContext http, KnowPayDb db, Features.Payments.AwaitedPayments awaited, PaymentProviders providers, TimeProvider clock, ILoggerFactory logs, CancellationToken ct)
    {
        if (http.RequestServices.GetService<StripeSettings>() is not { } settings || !providers.TryGet("stripe", out var stripe))
            return Results.NotFound();
        var log = logs.CreateLogger(nameof(StripeNotify));
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync(ct);
        if (!HmacSignature.Verify(settings.WebhookSecret, http.Request.Headers["Stripe-Signature"], body, clock.GetUtcNow(), TimeSpan.FromSeconds(300)))
        {
            log.LogWarning("Security: Stripe webhook with a bad, missing or out-of-tolerance signature refused");
            return Results.Json(new { error = "invalid_signature" }, statusCode: 400);
        }
        JsonObject evt;
        try { evt = JsonNode.Parse(body)!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return Results.Json(new { error = "invalid_body" }, statusCode: 400); }
        var type = (string?)evt["type"];
        if (evt["data"]?["object"] is not JsonObject obj) return Results.Ok(new { received = true, ignored = type });

        switch (type)
        {
            case "payment_intent.succeeded":
            {
                if ((string?)obj["metadata"]?["payment_id"] is not { } paymentId) return Results.Ok(new { received = true, ignored = "not_a_knowpay_payment" });
                var state = StripeProvider.State(obj);
                if (state.Status != TradeStatus.Paid) return Results.Json(new { error = "status_mismatch" }, statusCode: 400);
                var outcome = await ConfirmPayment.ApplyAsync(db, new PaidFact("stripe", paymentId, state.ProviderTradeNo, state.Amount ?? -1,
                    state.Currency ?? "", null, "notification"), stripe, clock, log, ct, awaited);
                return Answer(outcome);
            }
            case "payment_intent.payment_failed" or "payment_intent.canceled":
            {
                if ((string?)obj["metadata"]?["payment_id"] is not { } paymentId) return Results.Ok(new { received = true, ignored = "not_a_knowpay_payment" });
                var payment = await db.Payments.AsNoTracking().SingleOrDefaultAsync(p => p.Id == paymentId && p.Provider == "stripe", ct);
                if (payment is null) return Answer(ConfirmOutcome.UnknownPayment);
                if (payment.ProviderTradeNo != (string?)obj["id"])
                {
                    log.LogWarning("Security: Stripe {Type} for {PaymentId} names PaymentIntent {Intent}, not ours; refused", type, paymentId, (string?)obj["id"]);
                    return Answer(ConfirmOutcome.Mismatch);
                }
                var code = type == "payment_intent.canceled" ? "canceled" : (string?)obj["last_payment_error"]?["code"] ?? "payment_failed";
                // Conditional on pending: a late or reordered failure never undoes a success.
                await PaymentPoller.MarkFailedAsync(db, payment, code, clock.GetUtcNow().UtcDateTime, ct);
                return Results.Ok(new { received = true });
            }
            case "charge.refunded":
            {
                var refundUpdates = http.RequestServices.GetRequiredService<IRefundUpdates>();
                foreach (var refund in (obj["refunds"]?["data"] as JsonArray)?.OfType<JsonObject>() ?? [])
                    await ApplyRefundAsync(refundUpdates, refund, ct);
                return Results.Ok(new { received = true });
            }
            case "refund.created" or "refund.updated" or "refund.failed":
                await ApplyRefundAsync(http.RequestServices.GetRequiredService<IRefundUpdates>(), obj, ct);
                return Results.Ok(new { received = true });
            default:
                return Results.Ok(new { received = true, ignored = type });
        }
    }

    static async Task ApplyRefundAsync(IRefundUpdates updates, JsonObject refund, CancellationToken ct)
    {
        if ((string?)refund["metadata"]?["refund_id"] is { } refundId)
            await updates.ApplyAsync("stripe", refundId, StripeProvider.RefundState(refund), ct);
    }

    static IResult Answer(ConfirmOutcome outcome) => outcome switch
    {
        ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed => Results.Ok(new { received = true }),
        ConfirmOutcome.UnknownPayment => Results.Json(new { error = "unknown_payment" }, statusCode: 404),
        ConfirmOutcome.Mismatch => Results.Json(new { error = "amount_mismatch" }, statusCode: 400),
        _ => throw new InvalidOperationException(),
    };
}
