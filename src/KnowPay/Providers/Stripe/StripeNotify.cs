using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Providers.Stripe;

/// <summary>
/// POST /v1/notify/stripe: the Stripe-Signature is verified on the raw body first (any v1, within the signature
/// tolerance either way), then the PaymentIntent is matched with our payment (metadata[payment_id], PaymentIntent id,
/// amount, currency) and confirmed exactly once. Duplicates and reordering are expected: every transition is conditional.
/// Refunds complete from refund.created / refund.updated / charge.refund.updated (the refund object, metadata[refund_id])
/// and from charge.refunded by listing the charge's refunds. Saved cards (<see cref="StripeSavedCardNotices"/>): a mandate becomes
/// Active by setup_intent.succeeded (or a first PaymentIntent saved for off-session use) and Revoked by
/// payment_method.detached. Unknown event types are acknowledged. 2xx acknowledges; 4xx
/// refuses a forgery; 5xx asks Stripe to send again.
/// </summary>
public sealed class StripeNotify() : SignedJsonNotification<StripeSettings>("stripe", badSignature: (400, "invalid_signature"), invalidBody: "invalid_body")
{
    /// <summary>The event's object; payment_method.detached keeps the whole event, whose request names who detached the card.</summary>
    protected override Verification<ProviderEvent> Read(JsonObject evt, StripeSettings settings, ILogger log) =>
        (string?)evt["type"] == "payment_method.detached" && evt["data"]?["object"] is JsonObject ? new ProviderEvent("payment_method.detached", evt)
            : Event((string?)evt["type"], evt["data"]?["object"]);

    protected override bool SignatureValid(IHeaderDictionary headers, SignedBody body, StripeSettings settings, DateTimeOffset now) =>
        HmacSignature.Verify(settings.WebhookSecret, headers["Stripe-Signature"], body.Text, now, ProviderProtocol.SignatureTolerance);

    /// <summary>A PaymentIntent event names our payment in metadata[payment_id]; a refund event names our refund in metadata[refund_id].</summary>
    protected override ProviderNotice Parse(ProviderEvent message, NotificationContext context)
    {
        var (type, obj) = message;
        switch (type)
        {
            case "payment_intent.succeeded":
            {
                if ((string?)obj["metadata"]?["payment_id"] is not { } paymentId) return NotificationOutcome.Ignored("not_a_knowpay_payment");
                var state = StripeProvider.State(obj);
                if (state.Status != TradeStatus.Paid) return NotificationOutcome.Rejected(400, "status_mismatch");
                return new ProviderNotice.Paid(PaidFact.From(Provider, paymentId, state, "notification") with { PaidAt = null });
            }
            case "payment_intent.payment_failed" or "payment_intent.canceled":
            {
                if ((string?)obj["metadata"]?["payment_id"] is not { } paymentId) return NotificationOutcome.Ignored("not_a_knowpay_payment");
                var code = type == "payment_intent.canceled" ? "canceled"
                    : obj["metadata"]?["mandate_id"] is not null ? StripeProvider.RecurringFailure(obj["last_payment_error"])
                    : (string?)obj["last_payment_error"]?["code"] ?? "payment_failed";
                return new ProviderNotice.Failed(paymentId, (string?)obj["id"], code);
            }
            case "refund.created" or "refund.updated" or "refund.failed" or "charge.refund.updated":
                return new ProviderNotice.Refunds([.. Refund(obj)]);
            case "setup_intent.succeeded" or "setup_intent.canceled":
                return StripeSavedCardNotices.SetupIntent(type, obj);
            default:
                return NotificationOutcome.Ignored(type);
        }
    }

    /// <summary>
    /// charge.refunded carries the charge without its refunds (API version 2022-11-15 and later): they are listed from
    /// Stripe. A listing that fails is answered 503, so Stripe sends the event again.
    /// </summary>
    protected override async Task<ProviderNotice> ParseAsync(ProviderEvent message, NotificationContext context, CancellationToken ct)
    {
        switch (message.Type)
        {
            case "payment_method.detached":
                return await StripeSavedCardNotices.DetachedAsync(message.Data, context, ct);
            case "payment_intent.succeeded":
                var paid = Parse(message, context);
                if (paid is ProviderNotice.Paid) await StripeSavedCardNotices.SavedByPaymentAsync(message.Data, context, ct);
                return paid is ProviderNotice.Paid(var fact) ? new ProviderNotice.Paid(await WithChargeAsync(fact, message.Data, context, ct)) : paid;
            case "payment_intent.payment_failed":
                var failed = Parse(message, context);
                if (failed is ProviderNotice.Failed(var failedPaymentId, _, _))
                    await RecordCardAsync(context, failedPaymentId, StripeProvider.CardFingerprint(message.Data["last_payment_error"]?["payment_method"]?["card"]), ct);
                return failed;
        }
        if (message.Type != "charge.refunded") return Parse(message, context);
        if ((string?)message.Data["id"] is not { Length: > 0 } chargeId || context.Provider is not StripeProvider stripe)
            return NotificationOutcome.Ignored(message.Type);
        try
        {
            return new ProviderNotice.Refunds([.. (await stripe.RefundsOfChargeAsync(chargeId, ct)).SelectMany(Refund)]);
        }
        catch (ProviderException e)
        {
            context.Log.LogWarning("Stripe charge.refunded for {ChargeId}: its refunds could not be listed ({Code}); Stripe will send it again", chargeId, e.Code);
            return NotificationOutcome.Rejected(503, "refunds_unavailable");
        }
    }

    /// <summary>
    /// The charge is read for the card's fingerprint (the event names the charge only), and, in another currency than the
    /// account's, for the settlement. Unreadable, the payment is confirmed without them (the money is Stripe's fact either way).
    /// </summary>
    static async Task<PaidFact> WithChargeAsync(PaidFact fact, JsonObject intent, NotificationContext context, CancellationToken ct)
    {
        if (context.Provider is not StripeProvider stripe || StripeProvider.IdOf(intent["latest_charge"]) is not { } chargeId) return fact;
        var converted = stripe.Converted(fact.Amount?.Currency);
        try
        {
            var (settlement, fingerprint) = await stripe.ChargeAsync(chargeId, converted, ct);
            await RecordCardAsync(context, fact.PaymentId, fingerprint, ct);
            return converted ? fact with { Settlement = settlement } : fact;
        }
        catch (ProviderException e)
        {
            context.Log.LogWarning("Stripe charge {ChargeId} could not be read ({Code}); confirmed without its card and settlement", chargeId, e.Code);
            return fact;
        }
    }

    /// <summary>
    /// The card a payment was tried with, for the card risk signals; the latest attempt's card is the payment's. By the primary
    /// key alone, the provider checked on the row (as <see cref="KnowPayDb.PaymentOfAsync"/>): a provider in the WHERE lets a
    /// generic plan take the (provider, provider_trade_no) index.
    /// </summary>
    static async Task RecordCardAsync(NotificationContext context, string paymentId, string? fingerprint, CancellationToken ct)
    {
        if (fingerprint is null) return;
        var provider = context.Provider.Name;
        await context.Db.Payments.Where(p => p.Id == paymentId)
            .ExecuteUpdateAsync(u => u.SetProperty(p => p.CardFingerprint, p => p.Provider == provider ? fingerprint : p.CardFingerprint), ct);
    }

    /// <summary>A refund KnowPay started carries its refund id in metadata; any other is not ours to apply.</summary>
    static IEnumerable<RefundReport> Refund(JsonObject refund) => (string?)refund["metadata"]?["refund_id"] is { } refundId
        ? [new RefundReport(refundId, StripeProvider.RefundState(refund))]
        : [];

    protected override IResult Answer(NotificationOutcome outcome) => outcome.ToJson(unknownPaymentCode: "unknown_payment");
}

/// <summary>
/// What Stripe's events say about saved cards, as mandate states: the SetupIntent names the mandate in metadata[mandate_id]
/// and its payment_method becomes the mandate's <see cref="Data.Mandate.ProviderMandateId"/>; a detached PaymentMethod
/// carries no metadata of ours, so its mandates are found by that id.
/// </summary>
static class StripeSavedCardNotices
{
    public static ProviderNotice SetupIntent(string type, JsonObject setup)
    {
        if ((string?)setup["metadata"]?["mandate_id"] is not { } mandateId) return NotificationOutcome.Ignored("not_a_knowpay_mandate");
        string? paymentMethod = StripeProvider.IdOf(setup["payment_method"]), customer = StripeProvider.IdOf(setup["customer"]);
        return type switch
        {
            "setup_intent.succeeded" when (string?)setup["status"] == "succeeded" && paymentMethod is not null =>
                new ProviderNotice.Mandate(mandateId, new MandateState(MandateStatus.Active, paymentMethod, customer)),
            "setup_intent.canceled" => new ProviderNotice.Mandate(mandateId, new MandateState(MandateStatus.Revoked, ProviderCustomerRef: customer, Reason: "not_signed")),
            _ => NotificationOutcome.Rejected(400, "status_mismatch"),
        };
    }

    /// <summary>
    /// The learner (at Stripe) or the merchant removed the card: every mandate on it is revoked, with its event. A detach
    /// KnowPay asked for names its idempotency key ("mdt_…:detach") in the event's request: reason merchant, else user.
    /// </summary>
    public static async Task<ProviderNotice> DetachedAsync(JsonObject evt, NotificationContext context, CancellationToken ct)
    {
        if ((string?)evt["data"]?["object"]?["id"] is not { Length: > 0 } paymentMethodId) return NotificationOutcome.Rejected(400, "invalid_body");
        var reason = ((string?)evt["request"]?["idempotency_key"])?.EndsWith(StripeProvider.DetachKeySuffix, StringComparison.Ordinal) == true ? "merchant" : "user";
        var mandateIds = await context.Db.Mandates.AsNoTracking()
            .Where(m => m.Provider == context.Provider.Name && m.ProviderMandateId == paymentMethodId).Select(m => m.Id).ToListAsync(ct);
        if (mandateIds.Count == 0) return NotificationOutcome.Ignored("not_a_knowpay_mandate");
        var updates = context.Services.GetRequiredService<IMandateUpdates>();
        foreach (var mandateId in mandateIds)
            await updates.ApplyAsync(context.Provider.Name, mandateId, new MandateState(MandateStatus.Revoked, paymentMethodId, Reason: reason), ct);
        return NotificationOutcome.Acknowledged;
    }

    /// <summary>
    /// A first PaymentIntent created with <c>setup_future_usage=off_session</c> and metadata[mandate_id] saved its card when it
    /// succeeded: the mandate becomes Active before the payment is confirmed through the usual path.
    /// </summary>
    public static async Task SavedByPaymentAsync(JsonObject intent, NotificationContext context, CancellationToken ct)
    {
        if ((string?)intent["setup_future_usage"] != "off_session" || (string?)intent["metadata"]?["mandate_id"] is not { } mandateId) return;
        if (StripeProvider.IdOf(intent["payment_method"]) is not { } paymentMethod || StripeProvider.IdOf(intent["customer"]) is not { } customer) return;
        await context.Services.GetRequiredService<IMandateUpdates>()
            .ApplyAsync(context.Provider.Name, mandateId, new MandateState(MandateStatus.Active, paymentMethod, customer), ct);
    }
}
