using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers.Stripe;

/// <summary><c>Providers:Stripe:*</c>: ApiBaseUrl, SecretKey (sk_…), WebhookSecret (whsec_…), FeeBps, FeeFixed.</summary>
public sealed record StripeSettings(string ApiBaseUrl, string SecretKey, string WebhookSecret, ProviderFee Fee)
{
    /// <summary>The Stripe account's currency (upper case): a charge in another is converted by Stripe; null = not read.</summary>
    public string? AccountCurrency { get; init; }
}

/// <summary>
/// Adapter for Stripe PaymentIntents (<c>provider: "stripe"</c>, method <c>card</c>). Form-encoded bodies with bracket
/// keys, <c>Authorization: Bearer sk_…</c>, a pinned <c>Stripe-Version</c>, and an <c>Idempotency-Key</c> on every POST
/// derived from KnowPay's own ids ("pay_…:create", "pay_…:cancel", the refund id), so a retried call never charges twice.
/// </summary>
public sealed partial class StripeProvider(HttpClient http, StripeSettings settings) : IPaymentProvider
{
    public const string HttpClientName = "provider-stripe";
    public const string ApiVersion = "2024-06-20";
    public const string DefaultApiBaseUrl = "https://api.stripe.com";
    static readonly HashSet<string> RefundReasons = ["duplicate", "fraudulent", "requested_by_customer"];

    public string Name => "stripe";
    public IReadOnlyCollection<string> Methods { get; } = ["card"];
    public ProviderFee Fee => settings.Fee;

    public Task<PaymentStarted> StartAsync(PaymentStart request, CancellationToken ct) => StartAsync(request, [], ct);

    /// <param name="saving">The fields that also save the card for renewals (see <see cref="StartSavingAsync"/>); none for a one-off payment.</param>
    async Task<PaymentStarted> StartAsync(PaymentStart request, List<KeyValuePair<string, string>> saving, CancellationToken ct)
    {
        var payment = request.Payment;
        var intent = await SendAsync(HttpMethod.Post, "/v1/payment_intents", $"{payment.Id}:create",
        [
            new("amount", Units(payment, payment.Amount)),
            new("currency", Currency.Of(payment.Currency).Code.ToLowerInvariant()),
            new("payment_method_types[0]", "card"),
            new("description", request.Subject),
            new("metadata[payment_id]", payment.Id),
            new("metadata[order_id]", request.Order.Id),
            new("metadata[merchant_id]", payment.MerchantId),
            .. saving,
        ], ct) ?? throw new ProviderException(Name, "empty_response", "no PaymentIntent in the answer");
        return new PaymentStarted((string?)intent["id"], ClientSecret: (string?)intent["client_secret"]);
    }

    public async Task<ProviderTradeState> QueryAsync(Payment payment, CancellationToken ct) =>
        payment.ProviderTradeNo is null ? new ProviderTradeState(TradeStatus.NotFound)
            : State(await SendAsync(HttpMethod.Get, $"/v1/payment_intents/{payment.ProviderTradeNo}"
                + (Converted(payment.Currency) ? "?expand[]=latest_charge.balance_transaction" : ""), null, null, ct, notFoundIsNull: true));

    /// <summary>A charge in this currency is converted into the account's: its balance transaction states the settlement.</summary>
    public bool Converted(string? currency) =>
        settings.AccountCurrency is { } account && currency is not null && !string.Equals(account, currency, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A charge: GET /v1/charges/{id}, its balance_transaction expanded when the settlement is wanted (amount, currency,
    /// exchange_rate), and the card's fingerprint (payment_method_details.card.fingerprint).
    /// </summary>
    public async Task<(ProviderSettlement? Settlement, string? CardFingerprint)> ChargeAsync(string chargeId, bool withSettlement, CancellationToken ct)
    {
        var charge = await SendAsync(HttpMethod.Get, $"/v1/charges/{Uri.EscapeDataString(chargeId)}" + (withSettlement ? "?expand[]=balance_transaction" : ""), null, null, ct);
        return (withSettlement ? Settlement(charge?["balance_transaction"]) : null, CardFingerprint(charge?["payment_method_details"]?["card"]));
    }

    /// <summary>A card object's fingerprint (PaymentMethod.card, Charge.payment_method_details.card), if it has a usable one.</summary>
    public static string? CardFingerprint(JsonNode? card) =>
        card?["fingerprint"] is JsonValue v && v.TryGetValue<string>(out var fingerprint) && fingerprint.Length is > 0 and <= 64 ? fingerprint : null;

    /// <summary>A balance transaction (in the account's currency): amount, currency and, when Stripe converted the charge, exchange_rate.</summary>
    static ProviderSettlement? Settlement(JsonNode? balance) =>
        balance is JsonObject b && (long?)b["amount"] is { } amount && ((string?)b["currency"])?.ToUpperInvariant() is { } currency
            ? new ProviderSettlement(amount, currency, b["exchange_rate"] is JsonValue rate ? rate.GetValue<decimal>() : 1m)
            : null;

    public async Task<ProviderTradeState> CloseAsync(Payment payment, CancellationToken ct)
    {
        if (payment.ProviderTradeNo is null) return new ProviderTradeState(TradeStatus.Closed);
        try
        {
            return State(await SendAsync(HttpMethod.Post, $"/v1/payment_intents/{payment.ProviderTradeNo}/cancel", $"{payment.Id}:cancel",
                [new("cancellation_reason", "abandoned")], ct, notFoundIsNull: true));
        }
        catch (ProviderException e) when (e.Code == "payment_intent_unexpected_state")
        {
            // Already succeeded (the buyer won the race) or already canceled: report what it is.
            return await QueryAsync(payment, ct);
        }
    }

    public async Task<ProviderRefundResult> RefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var payment = request.Payment;
        if (payment.ProviderTradeNo is null) return new ProviderRefundResult(RefundStatus.Failed, FailureReason: "payment_not_at_provider");
        List<KeyValuePair<string, string>> form =
        [
            new("payment_intent", payment.ProviderTradeNo),
            new("amount", Units(payment, request.Amount)),
            new("metadata[refund_id]", request.RefundId),
            new("metadata[payment_id]", payment.Id),
            new("expand[]", "balance_transaction"),
        ];
        if (request.Reason is { } reason)
            form.Add(RefundReasons.Contains(reason) ? new("reason", reason) : new("metadata[reason]", reason.Length > 500 ? reason[..500] : reason));
        return RefundState(await SendAsync(HttpMethod.Post, "/v1/refunds", request.RefundId, form, ct));
    }

    public async Task<ProviderRefundResult> QueryRefundAsync(ProviderRefund request, CancellationToken ct)
    {
        if (request.Payment.ProviderTradeNo is null) return new ProviderRefundResult(RefundStatus.Failed, FailureReason: "refund_not_found");
        var list = await SendAsync(HttpMethod.Get, $"/v1/refunds?payment_intent={Uri.EscapeDataString(request.Payment.ProviderTradeNo)}&limit=100&expand[]=data.balance_transaction", null, null, ct);
        var refund = (list?["data"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(r => (string?)r["metadata"]?["refund_id"] == request.RefundId);
        return refund is null ? new ProviderRefundResult(RefundStatus.Failed, FailureReason: "refund_not_found") : RefundState(refund);
    }

    /// <summary>
    /// Every refund of a charge (GET /v1/refunds?charge=…, page by page): from API version 2022-11-15 a charge.refunded
    /// event no longer embeds them.
    /// </summary>
    public async Task<IReadOnlyList<JsonObject>> RefundsOfChargeAsync(string chargeId, CancellationToken ct)
    {
        var refunds = new List<JsonObject>();
        for (string? after = null; ;)
        {
            var page = await SendAsync(HttpMethod.Get, $"/v1/refunds?charge={Uri.EscapeDataString(chargeId)}&limit=100&expand[]=data.balance_transaction"
                + (after is null ? "" : "&starting_after=" + Uri.EscapeDataString(after)), null, null, ct);
            var data = (page?["data"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
            refunds.AddRange(data);
            if (page?["has_more"]?.GetValue<bool>() != true || data.Count == 0 || (after = (string?)data[^1]["id"]) is null) return refunds;
        }
    }

    /// <summary>
    /// Maps a Stripe refund object (from an answer or a webhook) to the common refund result; with its balance_transaction expanded
    /// (answers and listings, not events) also what the refund took from the balance in the account's currency.
    /// </summary>
    public static ProviderRefundResult RefundState(JsonObject? refund) => (string?)refund?["status"] switch
    {
        "succeeded" => new ProviderRefundResult(RefundStatus.Succeeded, (string?)refund!["id"])
            { Settlement = Settlement(refund["balance_transaction"]) is { Amount: { } taken } s ? s with { Amount = -taken } : null },
        "pending" or "requires_action" => new ProviderRefundResult(RefundStatus.Pending, (string?)refund!["id"]),
        var other => new ProviderRefundResult(RefundStatus.Failed, (string?)refund?["id"], (string?)refund?["failure_reason"] ?? other ?? "unknown"),
    };

    /// <summary>An amount of the payment's currency in Stripe's units (UGX × 100, MGA without decimals).</summary>
    static string Units(Payment payment, long amount) =>
        ProviderAmounts.ToProviderUnits("stripe", new Money(amount, Currency.Of(payment.Currency))).ToString(CultureInfo.InvariantCulture);

    /// <summary>Maps a PaymentIntent (from an answer or a webhook) to the common trade state.</summary>
    public static ProviderTradeState State(JsonObject? intent)
    {
        if (intent is null) return new ProviderTradeState(TradeStatus.NotFound);
        var status = (string?)intent["status"] switch
        {
            "succeeded" => TradeStatus.Paid,
            "canceled" => TradeStatus.Closed,
            "requires_payment_method" when intent["last_payment_error"] is JsonObject => TradeStatus.Failed,
            _ => TradeStatus.Pending,
        };
        var amount = status == TradeStatus.Paid ? (long?)intent["amount_received"] : (long?)intent["amount"];
        var currency = ((string?)intent["currency"])?.ToUpperInvariant();
        // Stripe's units back to ISO minor units; an amount ISO cannot carry stays as sent and fails the amount check.
        if (amount is { } units && Currency.TryFind(currency, out var c) && ProviderAmounts.TryFromProviderUnits("stripe", units, c, out var iso))
            amount = iso.MinorUnits;
        return new ProviderTradeState(status, (string?)intent["id"], amount, currency, null,
            status == TradeStatus.Failed ? (string?)intent["last_payment_error"]?["code"] ?? "payment_failed" : null)
        { Settlement = status == TradeStatus.Paid && intent["latest_charge"] is JsonObject charge ? Settlement(charge["balance_transaction"]) : null };
    }

    /// <param name="refusalIsAnswer">A 4xx with Stripe's error object is returned (<c>{"error": …}</c>) instead of thrown: an
    /// off-session charge's 402 card_error carries the PaymentIntent and the decline.</param>
    async Task<JsonObject?> SendAsync(HttpMethod method, string path, string? idempotencyKey, List<KeyValuePair<string, string>>? form,
        CancellationToken ct, bool notFoundIsNull = false, bool refusalIsAnswer = false)
    {
        using var request = new HttpRequestMessage(method, settings.ApiBaseUrl.TrimEnd('/') + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", settings.SecretKey);
        request.Headers.TryAddWithoutValidation("Stripe-Version", ApiVersion);
        if (method == HttpMethod.Post)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey ?? throw new ArgumentNullException(nameof(idempotencyKey)));
            request.Content = new FormUrlEncodedContent(form ?? []);
        }
        var response = await ProviderHttp.SendAsync(http, request, Name, method == HttpMethod.Post, ct);
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (refusalIsAnswer && (int)response.StatusCode is >= 400 and < 500 && RefusalBody(text) is { } refusal) return refusal;
            return ProviderHttp.JsonAnswer(Name, response, text, notFoundIsNull, Error);
        }
    }

    static JsonObject? RefusalBody(string text)
    {
        try { return JsonNode.Parse(text) is JsonObject body && body["error"] is JsonObject ? body : null; }
        catch (JsonException) { return null; }
    }

    static (string? Code, string? Message) Error(string text)
    {
        try
        {
            var error = JsonNode.Parse(text)?["error"];
            return ((string?)error?["code"] ?? (string?)error?["type"], (string?)error?["message"]);
        }
        catch (JsonException) { return (null, null); }
    }

    /// <summary>
    /// Stripe with <c>Providers:Stripe:SecretKey</c> and <c>WebhookSecret</c>, or — with the sandbox on and neither
    /// configured — with keys generated at start and shared with the embedded Stripe simulator.
    /// </summary>
    public static void Register(ProviderWiring wiring)
    {
        var options = wiring.Options<StripeOptions>();
        string? key = ProviderWiring.Given(options.SecretKey), webhookSecret = ProviderWiring.Given(options.WebhookSecret);
        if ((key is null) != (webhookSecret is null) || (key is null && wiring.Sandbox is null))
        {
            wiring.Disable("stripe", "Providers:Stripe:SecretKey and WebhookSecret must both be set");
            return;
        }
        var sandbox = wiring.Sandbox;
        if (sandbox is not null) (key, webhookSecret) = sandbox.Stripe(key, webhookSecret);
        var apiBaseUrl = ProviderWiring.Given(options.ApiBaseUrl);
        var accountCurrency = ProviderWiring.Given(options.AccountCurrency)?.ToUpperInvariant();
        sandbox?.StripeAccountCurrency(accountCurrency);
        wiring.Add(HttpClientName, options,
            url => new StripeSettings(apiBaseUrl ?? sandbox?.Url(url, "/stripe") ?? DefaultApiBaseUrl, key!, webhookSecret!, options.Fee) { AccountCurrency = accountCurrency },
            (_, http, settings) => new StripeProvider(http, settings));
    }
}
