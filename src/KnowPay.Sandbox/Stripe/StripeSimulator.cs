using static KnowPay.Sandbox.Stripe.StripeWire;

namespace KnowPay.Sandbox.Stripe;

/// <summary>
/// Stripe's API as the merchant sees it, at /sandbox/stripe/v1/…: form-encoded bodies with bracket keys,
/// <c>Authorization: Bearer sk_…</c>, <c>Idempotency-Key</c> on POST (a replay returns the first answer with
/// <c>Idempotent-Replayed: true</c>; the same key with other parameters is a 400 <c>idempotency_error</c>),
/// PaymentIntents (create, retrieve, cancel, confirm), refunds, and webhooks signed with the whsec secret
/// (<c>Stripe-Signature: t=…,v1=…</c>, re-signed on every retry, retried for up to 3 days).
/// The simulated buyer confirms with the client secret and a test card: 4242424242424242 succeeds,
/// 5555555555554444 and 4000056655665556 succeed too, 4000000000000002 declines (and the saved-card decline cards with their
/// decline codes), 4000000000003220 requires action and succeeds on the next confirm. Every charge and decline names the card
/// (payment_method_details.card, last_payment_error.payment_method.card) with its fingerprint.
/// </summary>
public sealed partial class StripeSimulator(SandboxOptions options, SandboxNotifier notifier, FaultGate gate, SandboxBills billing)
{
    public const string CardSucceeds = "4242424242424242";
    public const string CardDeclines = "4000000000000002";
    public const string CardRequiresAction = "4000000000003220";
    public const string CardMastercard = "5555555555554444";
    public const string CardVisaDebit = "4000056655665556";

    /// <summary>Cards other than <see cref="CardSucceeds"/> that succeed, as Stripe's test cards of other brands do.</summary>
    static readonly HashSet<string> OtherSucceedingCards = [CardMastercard, CardVisaDebit];

    readonly StripeWire wire = new(options, gate);
    readonly TradeStore<StripeIntent> intents = new(options, i => i.Open, i => { lock (i) return i.Refunds.Select(r => (string)r["id"]!).ToList(); });

    /// <summary>For tests and operators: the PaymentIntents whose metadata[key] equals value, as Stripe JSON.</summary>
    public IReadOnlyList<JsonObject> FindIntents(string metadataKey, string value) =>
        intents.Values.Where(i => i.Metadata.GetValueOrDefault(metadataKey) == value).Select(View).ToList();

    public IReadOnlyList<JsonObject> RefundsOf(string paymentIntentId) =>
        intents.TryGet(paymentIntentId, out var i) ? i.Refunds.ToList() : [];

    JsonObject? FindRefund(string id) => intents.TryGetByAlias(id, out var i) ? i.Refunds.FirstOrDefault(r => (string?)r["id"] == id) : null;

    /// <summary>Stripe-Signature for the payload, signed now.</summary>
    public string Sign(string payload) => wire.Sign(payload);

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/stripe");
        g.MapPost("/v1/payment_intents", (Delegate)((HttpContext http) => wire.MerchantPost(http, TradeKeyOf, CreateIntent)));
        g.MapGet("/v1/payment_intents/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            intents.TryGet(id, out var i) ? Ok(Expanded(View(i), i, http.Request.Query["expand[]"])) : Missing("payment_intent", id)));
        g.MapGet("/v1/charges/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            intents.Values.FirstOrDefault(i => i.LatestCharge == id && i.Status == "succeeded") is { } i
                ? Ok(Expanded(Charge(i), i, http.Request.Query["expand[]"], "")) : Missing("charge", id)));
        g.MapPost("/v1/payment_intents/{id}/cancel", (HttpContext http, string id) => wire.MerchantPost(http, TradeKeyOf, form => Cancel(id, form)));
        g.MapPost("/v1/refunds", (Delegate)((HttpContext http) => wire.MerchantPost(http, TradeKeyOf, CreateRefund)));
        g.MapGet("/v1/refunds/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            FindRefund(id) is { } r ? Ok(RefundView(r, http.Request.Query["expand[]"].Contains("balance_transaction"))) : Missing("refund", id)));
        g.MapGet("/v1/refunds", (Delegate)((HttpContext http) => wire.MerchantGet(http, () =>
        {
            var pi = http.Request.Query["payment_intent"].ToString();
            var charge = http.Request.Query["charge"].ToString();
            var refunds = pi.Length > 0 ? RefundsOf(pi) : intents.Values.SelectMany(i => { lock (i) return i.Refunds.ToList(); }).ToList();
            var data = new JsonArray();
            var expand = http.Request.Query["expand[]"].Contains("data.balance_transaction");
            foreach (var r in refunds.Where(r => charge.Length == 0 || (string?)r["charge"] == charge)) data.Add(RefundView(r, expand));
            return Ok(new JsonObject { ["object"] = "list", ["data"] = data, ["has_more"] = false, ["url"] = "/v1/refunds" });
        })));

        // The buyer's side (Stripe.js would do this with the publishable key): the client secret is the credential.
        g.MapPost("/v1/payment_intents/{id}/confirm", async (HttpContext http, string id) =>
        {
            var form = await ReadFormAsync(http);
            var (status, body) = Confirm(id, form.GetValueOrDefault("client_secret"),
                form.GetValueOrDefault("payment_method_data[card][number]") ?? form.GetValueOrDefault("card_number"));
            return Json(status, body);
        });
        MapSavedCards(g);
        MapBalanceTransactions(g);
        g.MapGet("/card", CardPage);
        g.MapPost("/card", (Delegate)(async (HttpContext http) =>
        {
            var form = await ReadFormAsync(http);
            var secret = form.GetValueOrDefault("client_secret") ?? "";
            Confirm(IntentIdOf(secret), secret, form.GetValueOrDefault("card_number"));
            var back = $"{options.BasePath}/stripe/card?client_secret={Uri.EscapeDataString(secret)}";
            if (form.GetValueOrDefault("return_url") is { Length: > 0 } ret) back += "&return_url=" + Uri.EscapeDataString(ret);
            return Results.Redirect(back);
        }));
    }

    (int, JsonObject) CreateIntent(Dictionary<string, string> form)
    {
        if (!long.TryParse(form.GetValueOrDefault("amount"), NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
            return InvalidRequest("parameter_invalid_integer", "amount", "Invalid integer: amount must be a positive integer in the smallest currency unit.");
        var currency = form.GetValueOrDefault("currency") ?? "";
        if (!CurrencyPattern().IsMatch(currency))
            return InvalidRequest("parameter_invalid_string", "currency", "Invalid currency: use a lowercase three-letter ISO code.");
        var id = "pi_" + Random(24);
        var intent = new StripeIntent
        {
            Id = id, ClientSecret = id + "_secret_" + Random(25), Amount = amount, Currency = currency,
            Description = form.GetValueOrDefault("description"), Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Metadata = form.Where(kv => kv.Key.StartsWith("metadata[", StringComparison.Ordinal) && kv.Key.EndsWith(']'))
                .ToDictionary(kv => kv.Key[9..^1], kv => kv.Value),
            Customer = form.GetValueOrDefault("customer"), PaymentMethod = form.GetValueOrDefault("payment_method"),
            SetupFutureUsage = form.GetValueOrDefault("setup_future_usage"),
        };
        if (SavedCardRefusal(intent, form) is { } refused) return refused;
        intents.Add(id, intent);
        if (form.GetValueOrDefault("confirm") == "true" && intent.PaymentMethod is not null) return ChargeSavedCard(intent, form.GetValueOrDefault("off_session") == "true");
        return (200, View(intent));
    }

    (int, JsonObject) Cancel(string id, Dictionary<string, string> form)
    {
        if (!intents.TryGet(id, out var intent)) return Missing("payment_intent", id);
        lock (intent)
        {
            if (intent.Status is "succeeded" or "canceled" or "processing")
                return UnexpectedState(intent, $"You cannot cancel this PaymentIntent because it has a status of {intent.Status}.");
            intent.Status = "canceled";
            intent.CanceledAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        }
        notifier.Send(wire.Event(intent, "payment_intent.canceled", View(intent)));
        return (200, View(intent));
    }

    /// <summary>The simulated buyer confirms with a test card.</summary>
    public (int Status, JsonObject Body) Confirm(string id, string? clientSecret, string? cardNumber)
    {
        if (!intents.TryGet(id, out var intent)) return Missing("payment_intent", id);
        if (clientSecret is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(clientSecret), Encoding.UTF8.GetBytes(intent.ClientSecret)))
            return InvalidRequest("resource_missing", "client_secret", "The client_secret provided does not match the client_secret associated with the PaymentIntent.");
        string? eventType;
        lock (intent)
        {
            if (intent.Status is "succeeded" or "canceled" or "processing")
                return UnexpectedState(intent, $"This PaymentIntent's status is {intent.Status}; it cannot be confirmed.");
            if (intent.Status == "requires_action")
            {
                // The buyer completed authentication (3D Secure): the charge goes through.
                Succeed(intent);
                eventType = "payment_intent.succeeded";
            }
            else
            {
                var card = (cardNumber ?? "").Replace(" ", "", StringComparison.Ordinal);
                intent.Card = card;
                // Under the SuccessRate fault a good card is declined like the declining test card.
                switch (card == CardSucceeds && gate.Declines(intent.TradeKey) ? CardDeclines : card)
                {
                    case CardSucceeds:
                    case var other when OtherSucceedingCards.Contains(other):
                        Succeed(intent);
                        eventType = "payment_intent.succeeded";
                        break;
                    case CardRequiresAction:
                        intent.Status = "requires_action";
                        intent.LastPaymentError = null;
                        eventType = "payment_intent.requires_action";
                        break;
                    case var declining when DeclineCodes.TryGetValue(declining, out var declineCode):
                        intent.Status = "requires_payment_method";
                        intent.LatestCharge = "ch_" + Random(24);
                        intent.LastPaymentError = new JsonObject
                        {
                            ["type"] = "card_error", ["code"] = "card_declined", ["decline_code"] = declineCode,
                            ["message"] = "Your card was declined.",
                            ["payment_method"] = new JsonObject
                            {
                                ["id"] = "pm_" + Random(24), ["object"] = "payment_method", ["type"] = "card", ["card"] = CardDetails(card),
                            },
                        };
                        eventType = "payment_intent.payment_failed";
                        break;
                    default:
                        return (402, ErrorBody("card_error", "incorrect_number", "number", "Your card number is incorrect."));
                }
            }
        }
        if (intent.Status == "succeeded") SaveCardOf(intent);
        notifier.Send(wire.Event(intent, eventType, View(intent)));
        if (intent.Status == "requires_payment_method")
        {
            var error = ErrorBody("card_error", "card_declined", null, "Your card was declined.");
            ((JsonObject)error["error"]!)["payment_intent"] = View(intent);
            return (402, error);
        }
        return (200, View(intent));
    }

    /// <summary>
    /// Stripe's expand[]: latest_charge (on a PaymentIntent, <paramref name="prefix"/> "latest_charge.") and its balance_transaction
    /// become objects; otherwise they stay ids.
    /// </summary>
    JsonObject Expanded(JsonObject view, StripeIntent intent, Microsoft.Extensions.Primitives.StringValues expand, string prefix = "latest_charge.")
    {
        if (intent.Status != "succeeded") return view;
        var charge = prefix.Length == 0 ? view : expand.Contains("latest_charge") || expand.Contains("latest_charge.balance_transaction") ? Charge(intent) : null;
        if (charge is null) return view;
        charge["balance_transaction"] = expand.Contains(prefix + "balance_transaction") ? wire.BalanceTransaction(intent) : StripeWire.BalanceTransactionId(intent);
        if (prefix.Length > 0) view["latest_charge"] = charge;
        return view;
    }

    static void Succeed(StripeIntent intent)
    {
        intent.Status = "succeeded";
        intent.AmountReceived = intent.Amount;
        intent.SucceededAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        intent.LatestCharge = "ch_" + Random(24);
        intent.LastPaymentError = null;
    }

    (int, JsonObject) CreateRefund(Dictionary<string, string> form)
    {
        // The fault "answer pending" makes the refund pending for a moment, then it succeeds.
        var pending = gate.AnswersRefundPending(TradeKeyOfIntent(form.GetValueOrDefault("payment_intent")));
        var piId = form.GetValueOrDefault("payment_intent");
        if (string.IsNullOrEmpty(piId)) return InvalidRequest("parameter_missing", "payment_intent", "Must provide payment_intent or charge.");
        if (!intents.TryGet(piId, out var intent)) return Missing("payment_intent", piId);
        JsonObject refund;
        lock (intent)
        {
            if (intent.Status != "succeeded")
                return InvalidRequest("payment_intent_unexpected_state", "payment_intent", "This PaymentIntent does not have a successful charge to refund.");
            var remaining = intent.AmountReceived - intent.AmountRefunded;
            if (remaining == 0) return InvalidRequest("charge_already_refunded", null, $"Charge {intent.LatestCharge} has already been refunded.");
            var amount = remaining;
            if (form.TryGetValue("amount", out var text))
            {
                if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out amount) || amount <= 0)
                    return InvalidRequest("parameter_invalid_integer", "amount", "Invalid integer: amount.");
                if (amount > remaining)
                    return InvalidRequest("amount_too_large", "amount",
                        $"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining}).");
            }
            intent.AmountRefunded += amount;
            var metadata = new JsonObject();
            foreach (var kv in form.Where(kv => kv.Key.StartsWith("metadata[", StringComparison.Ordinal) && kv.Key.EndsWith(']')))
                metadata[kv.Key[9..^1]] = kv.Value;
            refund = new JsonObject
            {
                ["id"] = "re_" + Random(24), ["object"] = "refund", ["amount"] = amount, ["currency"] = intent.Currency,
                ["charge"] = intent.LatestCharge, ["payment_intent"] = intent.Id, ["status"] = pending ? "pending" : "succeeded",
                ["reason"] = form.GetValueOrDefault("reason"), ["metadata"] = metadata,
                ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["balance_transaction"] = "txn_" + Random(24),
            };
            intent.Refunds.Add(refund);
            intents.Alias((string)refund["id"]!, intent);
        }
        // The events of the pinned API version: the refund itself, and the charge without its refunds (listed on request).
        notifier.Send(wire.Event(intent, "refund.created", Snapshot(refund)));
        notifier.Send(wire.Event(intent, "charge.refunded", Charge(intent)));
        if (pending) _ = Task.Delay(200).ContinueWith(_ => Settle(intent, refund), TaskScheduler.Default);
        return (200, RefundView(refund, form.GetValueOrDefault("expand[]") == "balance_transaction"));
    }

    /// <summary>The refund as Stripe shows it; with expand[] its balance_transaction is the object, in the account's currency.</summary>
    JsonObject RefundView(JsonObject refund, bool expandBalanceTransaction)
    {
        var view = Snapshot(refund);
        if (expandBalanceTransaction && intents.TryGet((string)view["payment_intent"]!, out var intent))
            view["balance_transaction"] = wire.RefundBalanceTransaction(intent, refund);
        return view;
    }

    /// <summary>A pending refund succeeds: refund.updated and charge.refund.updated, as Stripe sends them.</summary>
    void Settle(StripeIntent intent, JsonObject refund)
    {
        lock (refund) refund["status"] = "succeeded";
        notifier.Send(wire.Event(intent, "refund.updated", Snapshot(refund)));
        notifier.Send(wire.Event(intent, "charge.refund.updated", Snapshot(refund)));
    }

    static JsonObject Snapshot(JsonObject refund)
    {
        lock (refund) return (JsonObject)refund.DeepClone();
    }

    string? TradeKeyOfIntent(string? id) => id is not null && intents.TryGet(id, out var i) ? i.TradeKey : null;

    string? TradeKeyOf(HttpContext http, Dictionary<string, string> form)
    {
        if (form.GetValueOrDefault("metadata[payment_id]") is { } paymentId) return paymentId;
        var pi = http.Request.RouteValues.TryGetValue("id", out var v) ? v as string : form.GetValueOrDefault("payment_intent");
        return pi is not null && intents.TryGet(pi, out var i) ? i.TradeKey : null;
    }

    IResult CardPage(HttpContext http)
    {
        var secret = http.Request.Query["client_secret"].ToString();
        var returnUrl = http.Request.Query["return_url"].ToString();
        if (!intents.TryGet(IntentIdOf(secret), out var intent) || intent.ClientSecret != secret) return Results.NotFound();
        var view = View(intent);
        var status = (string)view["status"]!;
        var form = new BuyerForm($"{options.BasePath}/stripe/card", "pay", "Pay")
        {
            Hidden = [new("client_secret", secret), new("return_url", returnUrl)], CardNumber = CardSucceeds,
            Note = $"Test cards: {CardSucceeds} succeeds, {CardDeclines} declines, {CardRequiresAction} requires authentication.",
        };
        return new BuyerPage("Stripe sandbox – card payment", "Card payment (Stripe sandbox)", intent.Description ?? intent.Id,
            $"{intent.Amount.ToString(CultureInfo.InvariantCulture)} {intent.Currency.ToUpperInvariant()}", status)
        {
            AmountNote = " (smallest currency unit)",
            Error = (string?)view["last_payment_error"]?["message"],
            Form = status switch
            {
                "requires_payment_method" => form,
                "requires_action" => form with
                {
                    ButtonId = "authenticate", Button = "Complete authentication", CardNumber = null,
                    Prompt = "Your bank asks you to authenticate this payment.",
                },
                _ => null,
            },
            ReturnUrl = status == "succeeded" && returnUrl.Length > 0 ? returnUrl : null,
        }.Render();
    }

    static string IntentIdOf(string clientSecret)
    {
        var i = clientSecret.IndexOf("_secret_", StringComparison.Ordinal);
        return i > 0 ? clientSecret[..i] : "";
    }

    static (int, JsonObject) Ok(JsonObject body) => (200, body);
}
