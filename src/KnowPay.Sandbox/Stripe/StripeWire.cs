using System.Text.RegularExpressions;

namespace KnowPay.Sandbox.Stripe;

/// <summary>One PaymentIntent as the simulator holds it; lock it to read or change its state.</summary>
sealed class StripeIntent
{
    public required string Id { get; init; }
    public required string ClientSecret { get; init; }
    public long Amount { get; init; }
    public required string Currency { get; init; }
    public string? Description { get; init; }
    public required Dictionary<string, string> Metadata { get; init; }
    public long Created { get; init; }
    public string Status { get; set; } = "requires_payment_method";
    public string? Card { get; set; }
    public long AmountReceived { get; set; }
    public long AmountRefunded { get; set; }
    /// <summary>When the charge succeeded (unix seconds): its balance transaction's created.</summary>
    public long? SucceededAt { get; set; }
    public string? LatestCharge { get; set; }
    public JsonObject? LastPaymentError { get; set; }
    public long? CanceledAt { get; set; }
    public string? Customer { get; init; }
    /// <summary>The saved card it charges (pm_…), or the card the buyer's confirmation saved (setup_future_usage).</summary>
    public string? PaymentMethod { get; set; }
    public string? SetupFutureUsage { get; init; }
    /// <summary>Confirmed with <c>off_session=true</c>: the simulator's record, since Stripe's object does not show it.</summary>
    public bool ChargedOffSession { get; set; }
    public List<JsonObject> Refunds { get; } = [];
    public string TradeKey => Metadata.GetValueOrDefault("payment_id") ?? Id;
    /// <summary>Still waiting for its buyer: not succeeded nor canceled.</summary>
    public bool Open => Status is "requires_payment_method" or "requires_action" or "processing";
}

/// <summary>
/// Stripe's wire: the secret-key check, the PaymentIntent and charge objects, the error shape, and events signed with
/// the whsec secret (<c>Stripe-Signature: t=…,v1=…</c>, re-signed on every retry, retried for up to 3 days).
/// </summary>
sealed partial class StripeWire(SandboxOptions options, FaultGate gate)
{
    const string DefaultApiVersion = "2024-06-20";

    readonly IdempotentReplays replays = new();

    /// <summary>Stripe's retry schedule: exponential backoff for up to 3 days.</summary>
    static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(5),
        TimeSpan.FromHours(10), TimeSpan.FromHours(10), TimeSpan.FromHours(12), TimeSpan.FromHours(12), TimeSpan.FromHours(14),
    ];

    public static JsonObject View(StripeIntent i)
    {
        lock (i)
        {
            return new JsonObject
            {
                ["id"] = i.Id, ["object"] = "payment_intent", ["amount"] = i.Amount, ["amount_received"] = i.AmountReceived,
                ["currency"] = i.Currency, ["status"] = i.Status, ["client_secret"] = i.ClientSecret, ["description"] = i.Description,
                ["metadata"] = Metadata(i), ["created"] = i.Created, ["livemode"] = false, ["latest_charge"] = i.LatestCharge,
                ["payment_method_types"] = new JsonArray("card"), ["capture_method"] = "automatic",
                ["last_payment_error"] = i.LastPaymentError?.DeepClone(), ["canceled_at"] = i.CanceledAt,
                ["customer"] = i.Customer, ["payment_method"] = i.PaymentMethod, ["setup_future_usage"] = i.SetupFutureUsage,
                ["next_action"] = i.Status == "requires_action"
                    ? new JsonObject { ["type"] = "use_stripe_sdk", ["use_stripe_sdk"] = new JsonObject { ["type"] = "three_d_secure_redirect" } }
                    : null,
            };
        }
    }

    /// <summary>The charge as API version 2022-11-15 and later shows it: no embedded refunds (GET /v1/refunds?charge=… lists them).</summary>
    public static JsonObject Charge(StripeIntent i)
    {
        lock (i)
        {
            return new JsonObject
            {
                ["id"] = i.LatestCharge, ["object"] = "charge", ["amount"] = i.Amount, ["amount_captured"] = i.AmountReceived,
                ["amount_refunded"] = i.AmountRefunded, ["currency"] = i.Currency, ["payment_intent"] = i.Id,
                ["refunded"] = i.AmountRefunded == i.AmountReceived, ["status"] = "succeeded", ["metadata"] = Metadata(i),
                ["payment_method_details"] = i.Card is { Length: >= 4 } card ? new JsonObject { ["type"] = "card", ["card"] = CardDetails(card) } : null,
            };
        }
    }

    /// <summary>
    /// A card as Stripe describes it (PaymentMethod.card, Charge.payment_method_details.card). The fingerprint is the same for
    /// the same card number and differs between numbers, as Stripe's does within one account.
    /// </summary>
    public static JsonObject CardDetails(string card) => new()
    {
        ["brand"] = card.StartsWith('4') ? "visa" : card.StartsWith('5') || card.StartsWith('2') ? "mastercard" : "unknown",
        ["last4"] = card[^4..], ["exp_month"] = 12, ["exp_year"] = 2034, ["country"] = "US", ["fingerprint"] = Fingerprint(card),
    };

    static string Fingerprint(string card)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("card-fingerprint:" + card));
        return string.Create(16, hash, (span, h) =>
        {
            for (var k = 0; k < span.Length; k++) span[k] = alphabet[h[k] % alphabet.Length];
        });
    }

    public static string BalanceTransactionId(StripeIntent i) => "txn_" + i.LatestCharge?[3..];

    /// <summary>
    /// The charge's balance transaction, in the account's currency (<see cref="SandboxOptions.StripeAccountCurrency"/>): a charge in
    /// another currency is converted at <see cref="SandboxFx"/>'s settlement rate and states exchange_rate, as Stripe does.
    /// </summary>
    public JsonObject BalanceTransaction(StripeIntent i)
    {
        lock (i) return InAccountCurrency(BalanceTransactionId(i), i.Currency, i.AmountReceived, i.LatestCharge, "charge");
    }

    /// <summary>A refund's balance transaction: the refund taken from the balance, converted like its charge (a negative amount).</summary>
    public JsonObject RefundBalanceTransaction(StripeIntent i, JsonObject refund)
    {
        lock (refund) return InAccountCurrency((string)refund["balance_transaction"]!, i.Currency, -(long)refund["amount"]!, (string?)refund["id"], "refund");
    }

    JsonObject InAccountCurrency(string id, string currency, long units, string? source, string type)
    {
        var charged = currency.ToUpperInvariant();
        var account = options.StripeAccountCurrency?.ToUpperInvariant() ?? charged;
        var converted = account != charged && SandboxFx.Supports(charged) && SandboxFx.Supports(account);
        var rate = converted ? SandboxFx.SettlementRate(charged, account) : (decimal?)null;
        var amount = rate is { } r ? SandboxFx.Convert(units, charged, account, r) : units;
        return new JsonObject
        {
            ["id"] = id, ["object"] = "balance_transaction", ["amount"] = amount,
            ["currency"] = (converted ? account : charged).ToLowerInvariant(), ["exchange_rate"] = rate, ["fee"] = 0, ["net"] = amount,
            ["reporting_category"] = type, ["source"] = source, ["status"] = "available", ["type"] = type,
        };
    }

    static JsonObject Metadata(StripeIntent i)
    {
        var m = new JsonObject();
        foreach (var (k, v) in i.Metadata) m[k] = v;
        return m;
    }

    /// <summary>The event, to this host's /v1/notify/stripe unless Sandbox:StripeWebhookUrl says otherwise.</summary>
    public OutgoingNotification Event(StripeIntent intent, string type, JsonObject dataObject) => Event(intent.TradeKey, type, dataObject);

    /// <param name="tradeKey">Whose faults apply: the payment id, or the mandate id of a saved card's events.</param>
    /// <param name="idempotencyKey">The merchant API request that caused the event (Stripe's <c>request.idempotency_key</c>); null when the customer or Stripe did.</param>
    public OutgoingNotification Event(string tradeKey, string type, JsonObject dataObject, string? idempotencyKey = null)
    {
        var evt = new JsonObject
        {
            ["id"] = "evt_" + Random(24), ["object"] = "event", ["api_version"] = DefaultApiVersion,
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["livemode"] = false, ["pending_webhooks"] = 1,
            ["type"] = type, ["data"] = new JsonObject { ["object"] = dataObject },
            ["request"] = new JsonObject { ["id"] = idempotencyKey is null ? null : "req_" + Random(14), ["idempotency_key"] = idempotencyKey },
        };
        var body = evt.ToJsonString();
        var url = options.StripeWebhookUrl ?? HostUrl("/v1/notify/stripe");
        return new OutgoingNotification("stripe", tradeKey, url,
            () => SandboxNotifier.Post(url, body, "application/json; charset=utf-8", [new("Stripe-Signature", Sign(body))]),
            (response, _) => response.IsSuccessStatusCode, RetrySchedule);
    }

    /// <summary>Stripe-Signature for the payload, signed now (each retry carries a fresh timestamp).</summary>
    public string Sign(string payload)
    {
        var t = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(options.StripeWebhookSecret), Encoding.UTF8.GetBytes(t + "." + payload));
        return $"t={t},v1={Convert.ToHexStringLower(mac)}";
    }

    string HostUrl(string path)
    {
        var sandboxBase = options.PublicBaseUrl();
        var host = sandboxBase.EndsWith(options.BasePath, StringComparison.Ordinal) ? sandboxBase[..^options.BasePath.Length] : sandboxBase;
        return host + path;
    }

    /// <summary>
    /// A merchant POST: the key, then the faults, then the <c>Idempotency-Key</c> (a replay returns the first answer with
    /// <c>Idempotent-Replayed: true</c>; the same key with other parameters is a 400 <c>idempotency_error</c>), then the act.
    /// </summary>
    public async Task<IResult> MerchantPost(HttpContext http, Func<HttpContext, Dictionary<string, string>, string?> tradeKeyOf,
        Func<Dictionary<string, string>, (int Status, JsonObject Body)> act)
    {
        if (Refusal(http) is { } refused) return refused;
        var form = await ReadFormAsync(http);
        return await gate.PassOrReplayAsync(tradeKeyOf(http, form),
            () => Json(500, ErrorBody("api_error", null, null, "An error occurred with our connection to Stripe (injected).")), () =>
            {
                var key = http.Request.Headers["Idempotency-Key"].ToString();
                var fingerprint = http.Request.Path + "?" + string.Join("&", form.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));
                var storeKey = options.StripeSecretKey + "|" + key;
                if (key.Length > 0)
                {
                    var (outcome, stored) = replays.Begin(storeKey, fingerprint);
                    switch (outcome)
                    {
                        case IdempotentReplays.Outcome.Replay:
                            http.Response.Headers["Idempotent-Replayed"] = "true";
                            return (Json(stored!.Status, JsonNode.Parse(stored.Body)!.AsObject()), false);
                        case IdempotentReplays.Outcome.Mismatch:
                            return (Json(400, ErrorBody("idempotency_error", null, null,
                                $"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.")), false);
                        case IdempotentReplays.Outcome.InProgress:
                            return (Json(409, ErrorBody("idempotency_error", "idempotency_key_in_use", null,
                                "There is currently another in-progress request using this Idempotent Key. Please try again later.")), false);
                    }
                }
                var (status, body) = act(form);
                if (key.Length > 0) replays.Complete(storeKey, new IdempotentReplays.Answer(status, body.ToJsonString(), fingerprint));
                http.Response.Headers["Idempotency-Key"] = key;
                return (Json(status, body), true);
            });
    }

    /// <summary>A merchant GET: the key, then a failing fault (reads are never stalled).</summary>
    public IResult MerchantGet(HttpContext http, Func<(int Status, JsonObject Body)> read)
    {
        if (Refusal(http) is { } refused) return refused;
        if (gate.Failing(null)) return Json(500, ErrorBody("api_error", null, null, "An error occurred (injected)."));
        var (status, body) = read();
        return Json(status, body);
    }

    /// <summary>The secret key and the Stripe-Version header, as Stripe checks them; null = accepted.</summary>
    public IResult? Refusal(HttpContext http)
    {
        var auth = http.Request.Headers.Authorization.ToString();
        var key = auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..].Trim() : "";
        if (options.StripeSecretKey.Length == 0 || key.Length == 0 ||
            !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(options.StripeSecretKey)))
            return Json(401, ErrorBody("invalid_request_error", null, null,
                key.Length == 0 ? "You did not provide an API key." : "Invalid API Key provided: " + Redact(key)));
        var version = http.Request.Headers["Stripe-Version"].ToString();
        if (version.Length > 0 && !VersionPattern().IsMatch(version))
            return Json(400, ErrorBody("invalid_request_error", null, null, $"Invalid Stripe API version: {version}"));
        return null;
    }

    static string Redact(string key) => key.Length <= 8 ? "****" : key[..7] + "****" + key[^4..];

    public static async Task<Dictionary<string, string>> ReadFormAsync(HttpContext http)
    {
        if (!http.Request.HasFormContentType) return new Dictionary<string, string>(StringComparer.Ordinal);
        var form = await http.Request.ReadFormAsync();
        return form.ToDictionary(kv => kv.Key, kv => kv.Value.ToString(), StringComparer.Ordinal);
    }

    public static (int, JsonObject) InvalidRequest(string code, string? param, string message) =>
        (400, ErrorBody("invalid_request_error", code, param, message));

    public static (int, JsonObject) Missing(string kind, string id) =>
        (404, ErrorBody("invalid_request_error", "resource_missing", "id", $"No such {kind}: '{id}'"));

    public static (int, JsonObject) UnexpectedState(StripeIntent intent, string message)
    {
        var body = ErrorBody("invalid_request_error", "payment_intent_unexpected_state", null, message);
        ((JsonObject)body["error"]!)["payment_intent"] = View(intent);
        return (400, body);
    }

    public static JsonObject ErrorBody(string type, string? code, string? param, string message) => new()
    {
        ["error"] = new JsonObject { ["type"] = type, ["code"] = code, ["param"] = param, ["message"] = message },
    };

    public static IResult Json(int status, JsonObject body) => Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);

    public static string Random(int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return string.Create(length, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
        });
    }

    [GeneratedRegex("^[a-z]{3}$")]
    public static partial Regex CurrencyPattern();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")]
    private static partial Regex VersionPattern();
}
