using static KnowPay.Sandbox.Stripe.StripeWire;

namespace KnowPay.Sandbox.Stripe;

/// <summary>
/// Saved cards as Stripe keeps them: Customers, SetupIntents (the buyer confirms with the client secret and a test card),
/// PaymentMethods attached to a Customer (detach sends payment_method.detached), and PaymentIntents that charge a saved
/// card with <c>off_session=true&amp;confirm=true</c>, failing with a 402 card_error as Stripe does. Test cards as Stripe's:
/// 4000002500003155 asks for authentication unless it was set up for off-session use, 4000002760003184 always does,
/// 4000000000009995 declines for insufficient funds, 4000000000009979 as stolen, 4000000000009987 as lost, 4000000000000002 generically (also at
/// setup). <see cref="DeclineNextCharge"/> makes a Customer's next off-session charge decline on demand.
/// </summary>
public sealed partial class StripeSimulator
{
    public const string CardAuthenticateUnlessSetUp = "4000002500003155";
    public const string CardAlwaysAuthenticate = "4000002760003184";
    public const string CardInsufficientFunds = "4000000000009995";
    public const string CardStolen = "4000000000009979";
    public const string CardLost = "4000000000009987";

    static readonly Dictionary<string, string> DeclineCodes = new(StringComparer.Ordinal)
    {
        [CardDeclines] = "generic_decline", [CardInsufficientFunds] = "insufficient_funds", [CardStolen] = "stolen_card", [CardLost] = "lost_card",
    };

    readonly ConcurrentDictionary<string, StripeCustomer> customers = new();
    readonly ConcurrentDictionary<string, StripeSetupIntent> setups = new();
    readonly ConcurrentDictionary<string, StripePaymentMethod> paymentMethods = new();

    /// <summary>For tests and operators: the SetupIntents whose metadata[key] equals value, as Stripe JSON.</summary>
    public IReadOnlyList<JsonObject> FindSetupIntents(string metadataKey, string value) =>
        setups.Values.Where(s => s.Metadata.GetValueOrDefault(metadataKey) == value).Select(s => s.View()).ToList();

    /// <summary>The PaymentIntents that charged <paramref name="customerId"/>'s saved cards, as Stripe JSON.</summary>
    public IReadOnlyList<JsonObject> IntentsOfCustomer(string customerId) =>
        intents.Values.Where(i => i.Customer == customerId).Select(View).ToList();

    /// <summary>The Customer's PaymentIntents confirmed off-session (the learner not present), by id.</summary>
    public IReadOnlyList<string> OffSessionIntentsOfCustomer(string customerId) =>
        intents.Values.Where(i => i.Customer == customerId && i.ChargedOffSession).Select(i => i.Id).ToList();

    /// <summary>The next off-session charge on the Customer declines with <paramref name="declineCode"/> (once).</summary>
    public void DeclineNextCharge(string customerId, string declineCode = "insufficient_funds") =>
        customers[customerId].NextDecline = declineCode;

    void MapSavedCards(RouteGroupBuilder g)
    {
        g.MapPost("/v1/customers", (Delegate)((HttpContext http) => wire.MerchantPost(http, (_, _) => null, CreateCustomer)));
        g.MapGet("/v1/customers/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            customers.TryGetValue(id, out var c) ? (200, c.View()) : Missing("customer", id)));
        g.MapPost("/v1/setup_intents", (Delegate)((HttpContext http) => wire.MerchantPost(http, (_, form) => form.GetValueOrDefault("metadata[mandate_id]"), CreateSetup)));
        g.MapGet("/v1/setup_intents/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            setups.TryGetValue(id, out var s) ? (200, s.View()) : Missing("setup_intent", id)));
        g.MapGet("/v1/setup_intents", (Delegate)((HttpContext http) => wire.MerchantGet(http, () =>
        {
            var customer = http.Request.Query["customer"].ToString();
            var data = new JsonArray([.. setups.Values.Where(s => customer.Length == 0 || s.Customer == customer).OrderBy(s => s.Created).Select(s => s.View())]);
            return (200, new JsonObject { ["object"] = "list", ["data"] = data, ["has_more"] = false, ["url"] = "/v1/setup_intents" });
        })));
        g.MapGet("/v1/payment_methods/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            paymentMethods.TryGetValue(id, out var pm) ? (200, pm.View()) : Missing("payment_method", id)));
        g.MapPost("/v1/payment_methods/{id}/detach", (HttpContext http, string id) => wire.MerchantPost(http, (_, _) => MandateOf(id),
            _ => Detach(id, http.Request.Headers["Idempotency-Key"].ToString())));

        // The buyer's side (Stripe.js confirmCardSetup): the client secret is the credential.
        g.MapPost("/v1/setup_intents/{id}/confirm", async (HttpContext http, string id) =>
        {
            var form = await ReadFormAsync(http);
            var (status, body) = ConfirmSetup(id, form.GetValueOrDefault("client_secret"), form.GetValueOrDefault("payment_method_data[card][number]"));
            return Json(status, body);
        });
        // The buyer removes the card in the merchant's customer portal or their wallet: the same detach, the same event.
        g.MapPost("/payment_methods/{id}/remove", (string id) =>
        {
            var (status, body) = Detach(id, null);
            return Json(status, body);
        });
        g.MapPost("/customers/{id}/decline_next", async (HttpContext http, string id) =>
        {
            if (!customers.ContainsKey(id)) return Json(404, Missing("customer", id).Item2);
            DeclineNextCharge(id, (await ReadFormAsync(http)).GetValueOrDefault("decline_code") ?? "insufficient_funds");
            return Results.NoContent();
        });
    }

    (int, JsonObject) CreateCustomer(Dictionary<string, string> form)
    {
        var customer = new StripeCustomer
        {
            Id = "cus_" + Random(14), Email = form.GetValueOrDefault("email"), Name = form.GetValueOrDefault("name"),
            Metadata = MetadataOf(form), Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        };
        customers[customer.Id] = customer;
        return (200, customer.View());
    }

    (int, JsonObject) CreateSetup(Dictionary<string, string> form)
    {
        var customer = form.GetValueOrDefault("customer");
        if (customer is not null && !customers.ContainsKey(customer)) return Missing("customer", customer);
        var usage = form.GetValueOrDefault("usage") ?? "off_session";
        if (usage is not ("off_session" or "on_session")) return InvalidRequest("parameter_invalid_string", "usage", "Invalid usage: must be one of off_session, on_session.");
        var id = "seti_" + Random(24);
        var setup = new StripeSetupIntent
        {
            Id = id, ClientSecret = id + "_secret_" + Random(25), Customer = customer, Usage = usage, Description = form.GetValueOrDefault("description"),
            Metadata = MetadataOf(form), Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        };
        setups[id] = setup;
        return (200, setup.View());
    }

    /// <summary>The simulated buyer confirms a SetupIntent with a test card; an authenticating card asks once, then succeeds.</summary>
    public (int Status, JsonObject Body) ConfirmSetup(string id, string? clientSecret, string? cardNumber)
    {
        if (!setups.TryGetValue(id, out var setup)) return Missing("setup_intent", id);
        if (clientSecret is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(clientSecret), Encoding.UTF8.GetBytes(setup.ClientSecret)))
            return InvalidRequest("resource_missing", "client_secret", "The client_secret provided does not match the client_secret associated with the SetupIntent.");
        string eventType;
        StripePaymentMethod? saved = null;
        lock (setup)
        {
            if (setup.Status is "succeeded" or "canceled")
                return InvalidRequest("setup_intent_unexpected_state", null, $"This SetupIntent's status is {setup.Status}; it cannot be confirmed.");
            var card = setup.Status == "requires_action" ? setup.Card! : (cardNumber ?? "").Replace(" ", "", StringComparison.Ordinal);
            setup.Card = card;
            if (setup.Status != "requires_action" && card is CardAuthenticateUnlessSetUp or CardAlwaysAuthenticate or CardRequiresAction)
            {
                setup.Status = "requires_action";
                setup.LastSetupError = null;
                eventType = "setup_intent.requires_action";
            }
            else if (card == CardDeclines)
            {
                setup.Status = "requires_payment_method";
                setup.LastSetupError = CardError("card_declined", "generic_decline", "Your card was declined.");
                eventType = "setup_intent.setup_failed";
            }
            else if (card.Length == 16 && card.All(char.IsAsciiDigit) && (card.StartsWith('4') || card.StartsWith('5')))
            {
                saved = NewPaymentMethod(card, setup.Customer, offSession: setup.Usage == "off_session");
                setup.PaymentMethod = saved.Id;
                setup.Status = "succeeded";
                setup.LastSetupError = null;
                eventType = "setup_intent.succeeded";
            }
            else return (402, ErrorBody("card_error", "incorrect_number", "number", "Your card number is incorrect."));
        }
        var tradeKey = setup.Metadata.GetValueOrDefault("mandate_id") ?? setup.Id;
        if (saved?.Customer is not null) notifier.Send(wire.Event(tradeKey, "payment_method.attached", saved.View()));
        notifier.Send(wire.Event(tradeKey, eventType, setup.View()));
        if (setup.Status != "requires_payment_method") return (200, setup.View());
        var error = ErrorBody("card_error", "card_declined", null, "Your card was declined.");
        ((JsonObject)error["error"]!)["setup_intent"] = setup.View();
        return (402, error);
    }

    StripePaymentMethod NewPaymentMethod(string card, string? customer, bool offSession)
    {
        var method = new StripePaymentMethod { Id = "pm_" + Random(24), Card = card, Customer = customer, SetUpForOffSession = offSession, Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds() };
        paymentMethods[method.Id] = method;
        return method;
    }

    /// <summary>A buyer-confirmed PaymentIntent with setup_future_usage and a Customer saves its card, as Stripe does on success.</summary>
    void SaveCardOf(StripeIntent intent)
    {
        if (intent.SetupFutureUsage is null || intent.Customer is null || intent.PaymentMethod is not null || intent.Card is null) return;
        intent.PaymentMethod = NewPaymentMethod(intent.Card, intent.Customer, intent.SetupFutureUsage == "off_session").Id;
    }

    /// <summary>A saved card that is unknown, detached or another Customer's cannot be charged (400, param payment_method).</summary>
    (int, JsonObject)? SavedCardRefusal(StripeIntent intent, Dictionary<string, string> form)
    {
        if (intent.PaymentMethod is not { } id) return null;
        if (!paymentMethods.TryGetValue(id, out var method)) return InvalidRequest("resource_missing", "payment_method", $"No such PaymentMethod: '{id}'");
        if (intent.Customer is not null && !customers.ContainsKey(intent.Customer)) return InvalidRequest("resource_missing", "customer", $"No such customer: '{intent.Customer}'");
        lock (method)
        {
            if (method.Customer is null)
                return InvalidRequest("payment_method_unexpected_state", "payment_method",
                    "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again.");
            if (method.Customer != intent.Customer)
                return InvalidRequest("payment_method_unexpected_state", "payment_method", $"The customer does not have a payment method with the ID {id}.");
        }
        return form.GetValueOrDefault("off_session") is "true" && form.GetValueOrDefault("confirm") != "true"
            ? InvalidRequest("parameter_invalid_empty", "off_session", "off_session can only be set when confirm is true.")
            : null;
    }

    /// <summary>Confirms a PaymentIntent on its saved card: off-session, a card that must authenticate fails with authentication_required.</summary>
    (int, JsonObject) ChargeSavedCard(StripeIntent intent, bool offSession)
    {
        var method = paymentMethods[intent.PaymentMethod!];
        var customer = customers[intent.Customer!];
        string eventType;
        lock (intent)
        {
            intent.Card = method.Card;
            intent.ChargedOffSession = offSession;
            var onDemand = offSession ? Interlocked.Exchange(ref customer.NextDecline, null) : null;
            var mustAuthenticate = method.Card is CardAlwaysAuthenticate or CardRequiresAction
                || (method.Card == CardAuthenticateUnlessSetUp && !method.SetUpForOffSession);
            if (onDemand is not null || DeclineCodes.ContainsKey(method.Card) || (offSession && mustAuthenticate))
            {
                var (code, decline) = onDemand is not null ? ("card_declined", onDemand)
                    : DeclineCodes.TryGetValue(method.Card, out var d) ? ("card_declined", d) : ("authentication_required", "authentication_required");
                intent.Status = "requires_payment_method";
                intent.LatestCharge = "ch_" + Random(24);
                intent.LastPaymentError = CardError(code, decline, code == "authentication_required"
                    ? "Your card was declined. This transaction requires authentication." : "Your card was declined.");
                ((JsonObject)intent.LastPaymentError)["payment_method"] = method.View();
                eventType = "payment_intent.payment_failed";
            }
            else if (mustAuthenticate)
            {
                intent.Status = "requires_action";
                eventType = "payment_intent.requires_action";
            }
            else
            {
                Succeed(intent);
                eventType = "payment_intent.succeeded";
            }
        }
        notifier.Send(wire.Event(intent, eventType, View(intent)));
        if (intent.Status != "requires_payment_method") return (200, View(intent));
        var error = (JsonObject)intent.LastPaymentError!.DeepClone();
        error["payment_intent"] = View(intent);
        return (402, new JsonObject { ["error"] = error });
    }

    /// <param name="idempotencyKey">The merchant's request, named in the event; null when the customer removed the card.</param>
    (int Status, JsonObject Body) Detach(string id, string? idempotencyKey)
    {
        if (!paymentMethods.TryGetValue(id, out var method)) return Missing("payment_method", id);
        lock (method)
        {
            if (method.Customer is null)
                return InvalidRequest("payment_method_unexpected_state", null, "The payment method you provided is not attached to a customer so detachment is impossible.");
            method.Customer = null;
        }
        notifier.Send(wire.Event(MandateOf(id) ?? id, "payment_method.detached", method.View(), idempotencyKey));
        return (200, method.View());
    }

    string? MandateOf(string paymentMethodId) =>
        setups.Values.FirstOrDefault(s => s.PaymentMethod == paymentMethodId)?.Metadata.GetValueOrDefault("mandate_id");

    static JsonObject CardError(string code, string declineCode, string message) => new()
    {
        ["type"] = "card_error", ["code"] = code, ["decline_code"] = declineCode, ["message"] = message,
    };

    static Dictionary<string, string> MetadataOf(Dictionary<string, string> form) =>
        form.Where(kv => kv.Key.StartsWith("metadata[", StringComparison.Ordinal) && kv.Key.EndsWith(']')).ToDictionary(kv => kv.Key[9..^1], kv => kv.Value);
}

sealed class StripeCustomer
{
    public required string Id { get; init; }
    public string? Email { get; init; }
    public string? Name { get; init; }
    public required Dictionary<string, string> Metadata { get; init; }
    public long Created { get; init; }
    /// <summary>The decline the next off-session charge meets (taken once).</summary>
    public string? NextDecline;

    public JsonObject View() => new()
    {
        ["id"] = Id, ["object"] = "customer", ["email"] = Email, ["name"] = Name, ["metadata"] = Meta(Metadata), ["created"] = Created, ["livemode"] = false,
    };

    public static JsonObject Meta(Dictionary<string, string> metadata) => new([.. metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]);
}

/// <summary>One SetupIntent; lock it to change its state.</summary>
sealed class StripeSetupIntent
{
    public required string Id { get; init; }
    public required string ClientSecret { get; init; }
    public string? Customer { get; init; }
    public required string Usage { get; init; }
    public string? Description { get; init; }
    public required Dictionary<string, string> Metadata { get; init; }
    public long Created { get; init; }
    public string Status { get; set; } = "requires_payment_method";
    public string? Card { get; set; }
    public string? PaymentMethod { get; set; }
    public JsonObject? LastSetupError { get; set; }

    public JsonObject View()
    {
        lock (this)
        {
            return new JsonObject
            {
                ["id"] = Id, ["object"] = "setup_intent", ["client_secret"] = ClientSecret, ["customer"] = Customer, ["usage"] = Usage,
                ["description"] = Description, ["status"] = Status, ["payment_method"] = PaymentMethod, ["payment_method_types"] = new JsonArray("card"),
                ["last_setup_error"] = LastSetupError?.DeepClone(), ["metadata"] = StripeCustomer.Meta(Metadata), ["created"] = Created, ["livemode"] = false,
                ["next_action"] = Status == "requires_action"
                    ? new JsonObject { ["type"] = "use_stripe_sdk", ["use_stripe_sdk"] = new JsonObject { ["type"] = "three_d_secure_redirect" } }
                    : null,
            };
        }
    }
}

/// <summary>A card PaymentMethod; attached while it has a Customer. Lock it to change that.</summary>
sealed class StripePaymentMethod
{
    public required string Id { get; init; }
    public required string Card { get; init; }
    public string? Customer { get; set; }
    /// <summary>Saved by a SetupIntent (or setup_future_usage) for off-session use: what 4000002500003155 checks.</summary>
    public bool SetUpForOffSession { get; init; }
    public long Created { get; init; }

    public JsonObject View()
    {
        lock (this)
        {
            return new JsonObject
            {
                ["id"] = Id, ["object"] = "payment_method", ["type"] = "card", ["customer"] = Customer, ["created"] = Created, ["livemode"] = false,
                ["card"] = StripeWire.CardDetails(Card),
                ["billing_details"] = new JsonObject(), ["metadata"] = new JsonObject(),
            };
        }
    }
}
