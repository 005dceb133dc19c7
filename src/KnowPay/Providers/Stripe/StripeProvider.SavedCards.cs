using System.Globalization;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers.Stripe;

/// <summary>
/// Saved cards: a mandate is a Stripe Customer (<see cref="Mandate.ProviderCustomerRef"/>) with a card PaymentMethod
/// (<see cref="Mandate.ProviderMandateId"/>) saved for off-session use by a SetupIntent (or by a first PaymentIntent with
/// <c>setup_future_usage=off_session</c>); each renewal is a PaymentIntent with <c>off_session=true, confirm=true</c>. Every
/// POST carries an Idempotency-Key derived from the mandate or payment id, so a retry never saves or charges twice.
/// </summary>
public sealed partial class StripeProvider : IRecurringProvider
{
    /// <summary>The decline codes Stripe says not to retry (the card is gone, or the issuer forbids it).</summary>
    static readonly HashSet<string> HardDeclineCodes =
    [
        "stolen_card", "lost_card", "pickup_card", "fraudulent", "restricted_card", "security_violation", "merchant_blacklist",
        "do_not_try_again", "revocation_of_authorization", "revocation_of_all_authorizations", "stop_payment_order",
        "invalid_account", "new_account_information_available", "transaction_not_allowed", "service_not_allowed",
        "expired_card", "incorrect_number", "invalid_number",
    ];


    /// <summary>Ends the Idempotency-Key of a detach KnowPay asks for; Stripe's payment_method.detached names it in request.idempotency_key.</summary>
    public const string DetachKeySuffix = ":detach";

    public IReadOnlyCollection<string> SignMethods { get; } = ["card"];

    /// <summary>The mandate's Customer (reused when already known), then a SetupIntent for off-session use; the learner confirms it with Stripe.js.</summary>
    public async Task<MandateSignStarted> StartSigningAsync(MandateSigning request, CancellationToken ct)
    {
        var mandate = request.Mandate;
        var customerId = mandate.ProviderCustomerRef ?? await CreateCustomerAsync(mandate, request.Customer, ct);
        var setup = await SendAsync(HttpMethod.Post, "/v1/setup_intents", $"{mandate.Id}:setup",
        [
            new("customer", customerId),
            new("usage", "off_session"),
            new("payment_method_types[0]", "card"),
            new("description", request.Description),
            new("metadata[mandate_id]", mandate.Id),
            new("metadata[customer_id]", mandate.CustomerId),
            new("metadata[merchant_id]", mandate.MerchantId),
        ], ct) ?? throw new ProviderException(Name, "empty_response", "no SetupIntent in the answer");
        return new MandateSignStarted(ClientSecret: (string?)setup["client_secret"], ProviderCustomerRef: customerId);
    }

    /// <summary>
    /// The first payment that also saves the card (instead of a SetupIntent): the PaymentIntent of <see cref="StartAsync(PaymentStart, CancellationToken)"/>
    /// on the mandate's Customer with <c>setup_future_usage=off_session</c> and metadata[mandate_id]. Its payment_intent.succeeded
    /// confirms the payment and activates the mandate with the saved card. Returns the Customer to store on the mandate.
    /// </summary>
    public async Task<(PaymentStarted Started, string ProviderCustomerRef)> StartSavingAsync(PaymentStart request, Mandate mandate, Customer customer,
        CancellationToken ct)
    {
        var customerId = mandate.ProviderCustomerRef ?? await CreateCustomerAsync(mandate, customer, ct);
        var started = await StartAsync(request, [new("customer", customerId), new("setup_future_usage", "off_session"), new("metadata[mandate_id]", mandate.Id)], ct);
        return (started, customerId);
    }

    async Task<string> CreateCustomerAsync(Mandate mandate, Customer customer, CancellationToken ct)
    {
        List<KeyValuePair<string, string>> form =
        [
            new("metadata[customer_id]", customer.Id),
            new("metadata[external_id]", customer.ExternalId),
            new("metadata[merchant_id]", mandate.MerchantId),
            new("metadata[mandate_id]", mandate.Id),
        ];
        if (customer.Email is { Length: > 0 } email) form.Add(new("email", email));
        if (customer.Name is { Length: > 0 } name) form.Add(new("name", name));
        var created = await SendAsync(HttpMethod.Post, "/v1/customers", $"{mandate.Id}:customer", form, ct);
        return (string?)created?["id"] ?? throw new ProviderException(Name, "empty_response", "no Customer in the answer");
    }

    /// <summary>Active while the saved card is attached to the Customer; Pending while the SetupIntent waits for the learner.</summary>
    public async Task<MandateState> QueryMandateAsync(Mandate mandate, CancellationToken ct)
    {
        if (mandate.ProviderMandateId is { } paymentMethodId) return await PaymentMethodStateAsync(paymentMethodId, ct);
        if (mandate.ProviderCustomerRef is not { } customerId) return new MandateState(MandateStatus.Pending);
        var list = await SendAsync(HttpMethod.Get, $"/v1/setup_intents?customer={Uri.EscapeDataString(customerId)}&limit=100", null, null, ct);
        var setup = (list?["data"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(s => (string?)s["metadata"]?["mandate_id"] == mandate.Id);
        return (string?)setup?["status"] switch
        {
            "succeeded" when IdOf(setup!["payment_method"]) is { } saved => await PaymentMethodStateAsync(saved, ct),
            "canceled" => new MandateState(MandateStatus.Revoked, ProviderCustomerRef: customerId, Reason: "not_signed"),
            _ => new MandateState(MandateStatus.Pending, ProviderCustomerRef: customerId),
        };
    }

    async Task<MandateState> PaymentMethodStateAsync(string paymentMethodId, CancellationToken ct)
    {
        var method = await SendAsync(HttpMethod.Get, $"/v1/payment_methods/{Uri.EscapeDataString(paymentMethodId)}", null, null, ct, notFoundIsNull: true);
        return IdOf(method?["customer"]) is { } customerId
            ? new MandateState(MandateStatus.Active, paymentMethodId, customerId)
            : new MandateState(MandateStatus.Revoked, paymentMethodId, Reason: "user");
    }

    /// <summary>Detaches the saved card (a card already detached is already revoked); Stripe then sends payment_method.detached.</summary>
    public async Task<MandateState> TerminateMandateAsync(Mandate mandate, string reason, CancellationToken ct)
    {
        if (mandate.ProviderMandateId is not { } paymentMethodId)
            return new MandateState(MandateStatus.Revoked, ProviderCustomerRef: mandate.ProviderCustomerRef, Reason: "merchant");
        if ((await PaymentMethodStateAsync(paymentMethodId, ct)).Status == MandateStatus.Active)
            await SendAsync(HttpMethod.Post, $"/v1/payment_methods/{Uri.EscapeDataString(paymentMethodId)}/detach", mandate.Id + DetachKeySuffix, [], ct);
        return new MandateState(MandateStatus.Revoked, paymentMethodId, mandate.ProviderCustomerRef, Reason: "merchant");
    }

    /// <summary>Stripe has no pre-debit notice: the card network rules leave reminders to the merchant.</summary>
    public Task NotifyUpcomingChargeAsync(RecurringCharge charge, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// An off-session PaymentIntent on the saved card, keyed by the payment id. The answer settles it (succeeded → Paid,
    /// processing → Pending, the result then comes by payment_intent.succeeded as for any payment) or fails it: a 402
    /// card_error names the decline, mapped to <see cref="RecurringFailures"/>.
    /// </summary>
    public async Task<ProviderTradeState> ChargeAsync(RecurringCharge charge, CancellationToken ct)
    {
        var (payment, order, mandate) = (charge.Payment, charge.Order, charge.Mandate);
        if (mandate.Status != MandateStatus.Active || mandate.ProviderMandateId is null || mandate.ProviderCustomerRef is null)
            return new ProviderTradeState(TradeStatus.Failed, FailureCode: RecurringFailures.MandateRevoked);
        if (mandate.MaxAmount > 0 && payment.Amount > mandate.MaxAmount)
            throw new ProviderException(Name, RecurringFailures.AmountExceedsMandate, $"{payment.Amount} is above the saved card's cap {mandate.MaxAmount}");
        var answer = await SendAsync(HttpMethod.Post, "/v1/payment_intents", payment.Id,
        [
            new("amount", Units(payment, payment.Amount)),
            new("currency", Currency.Of(payment.Currency).Code.ToLowerInvariant()),
            new("customer", mandate.ProviderCustomerRef),
            new("payment_method", mandate.ProviderMandateId),
            new("payment_method_types[0]", "card"),
            new("off_session", "true"),
            new("confirm", "true"),
            new("description", charge.Subject),
            new("metadata[payment_id]", payment.Id),
            new("metadata[order_id]", order.Id),
            new("metadata[merchant_id]", payment.MerchantId),
            new("metadata[mandate_id]", mandate.Id),
        ], ct, refusalIsAnswer: true) ?? throw new ProviderException(Name, "empty_response", "no PaymentIntent in the answer");
        if (answer["error"] is not JsonObject error) return Charged(answer, answer["last_payment_error"]);
        if (error["payment_intent"] is JsonObject intent) return Charged(intent, error);
        if ((string?)error["type"] == "card_error") return new ProviderTradeState(TradeStatus.Failed, FailureCode: RecurringFailure(error));
        // The saved card or the Customer is gone (detached, deleted): no charge under this mandate can succeed.
        if ((string?)error["param"] is "payment_method" or "customer")
            return new ProviderTradeState(TradeStatus.Failed, FailureCode: RecurringFailures.MandateRevoked);
        throw new ProviderException(Name, (string?)error["code"] ?? (string?)error["type"] ?? "refused", (string?)error["message"] ?? "refused");
    }

    /// <summary>The off-session PaymentIntent as a trade state: a failure (or a 3-D Secure challenge nobody is present for) carries its recurring code.</summary>
    static ProviderTradeState Charged(JsonObject intent, JsonNode? failure)
    {
        var state = State(intent);
        if ((string?)intent["status"] == "requires_action")
            return state with { Status = TradeStatus.Failed, FailureCode = RecurringFailures.AuthenticationRequired };
        return state.Status == TradeStatus.Failed ? state with { FailureCode = RecurringFailure(failure ?? intent["last_payment_error"]) } : state;
    }

    /// <summary>Stripe's error (or last_payment_error) as the code the billing engine acts on.</summary>
    public static string RecurringFailure(JsonNode? error)
    {
        string? code = (string?)error?["code"], decline = (string?)error?["decline_code"];
        if (code == "authentication_required" || decline == "authentication_required") return RecurringFailures.AuthenticationRequired;
        if (HardDeclineCodes.Contains(decline ?? "") || HardDeclineCodes.Contains(code ?? "")) return RecurringFailures.HardDecline;
        return RecurringFailures.Declined;
    }

    /// <summary>An expandable field: the id, or the expanded object's id.</summary>
    internal static string? IdOf(JsonNode? field) => field switch
    {
        JsonValue value when value.TryGetValue<string>(out var id) => id,
        JsonObject obj => (string?)obj["id"],
        _ => null,
    };
}
