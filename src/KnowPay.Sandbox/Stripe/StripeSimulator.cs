using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace KnowPay.Sandbox.Stripe;

/// <summary>
/// Stripe's API as the merchant sees it, at /sandbox/stripe/v1/…: form-encoded bodies with bracket keys,
/// <c>Authorization: Bearer sk_…</c>, <c>Idempotency-Key</c> on POST (a replay returns the first answer with
/// <c>Idempotent-Replayed: true</c>; the same key with other parameters is a 400 <c>idempotency_error</c>),
/// PaymentIntents (create, retrieve, cancel, confirm), refunds, and webhooks signed with the whsec secret
/// (<c>Stripe-Signature: t=…,v1=…</c>, re-signed on every retry, retried for up to 3 days).
/// The simulated buyer confirms with the client secret and a test card: 4242424242424242 succeeds,
/// 4000000000000002 declines, 4000000000003220 requires action and succeeds on the next confirm.
/// </summary>
public sealed partial class StripeSimulator(SandboxOptions options, SandboxNotifier notifier, SandboxFaults faults)
{
    public const string CardSucceeds = "4242424242424242";
    public const string CardDeclines = "4000000000000002";
    public const string CardRequiresAction = "4000000000003220";
    const string DefaultApiVersion = "2024-06-20";

    /// <summary>Stripe's retry schedule: exponential backoff for up to 3 days.</summary>
    static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(5),
        TimeSpan.FromHours(10), TimeSpan.FromHours(10), TimeSpan.FromHours(12), TimeSpan.FromHours(12), TimeSpan.FromHours(14),
    ];

    readonly ConcurrentDictionary<string, Intent> intents = new();
    readonly ConcurrentDictionary<string, JsonObject> refunds = new();
    readonly IdempotentReplays replays = new();

    sealed class Intent
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
        public string? LatestCharge { get; set; }
        public JsonObject? LastPaymentError { get; set; }
        public long? CanceledAt { get; set; }
        public List<string> RefundIds { get; } = [];
        public string TradeKey => Metadata.GetValueOrDefault("payment_id") ?? Id;
    }

    /// <summary>For tests and operators: the PaymentIntents whose metadata[key] equals value, as Stripe JSON.</summary>
    public IReadOnlyList<JsonObject> FindIntents(string metadataKey, string value) =>
        intents.Values.Where(i => i.Metadata.GetValueOrDefault(metadataKey) == value).Select(View).ToList();

    public IReadOnlyList<JsonObject> RefundsOf(string paymentIntentId) =>
        intents.TryGetValue(paymentIntentId, out var i) ? i.RefundIds.Select(r => refunds[r]).ToList() : [];

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/stripe");
        g.MapPost("/v1/payment_intents", (Delegate)((HttpContext http) => MerchantPost(http, CreateIntent)));
        g.MapGet("/v1/payment_intents/{id}", (HttpContext http, string id) => MerchantGet(http, () =>
            intents.TryGetValue(id, out var i) ? Ok(View(i)) : Missing("payment_intent", id)));
        g.MapPost("/v1/payment_intents/{id}/cancel", (HttpContext http, string id) => MerchantPost(http, form => Cancel(id, form)));
        g.MapPost("/v1/refunds", (Delegate)((HttpContext http) => MerchantPost(http, CreateRefund)));
        g.MapGet("/v1/refunds/{id}", (HttpContext http, string id) => MerchantGet(http, () =>
            refunds.TryGetValue(id, out var r) ? Ok(r) : Missing("refund", id)));
        g.MapGet("/v1/refunds", (Delegate)((HttpContext http) => MerchantGet(http, () =>
        {
            var pi = http.Request.Query["payment_intent"].ToString();
            var data = new JsonArray();
            foreach (var r in (pi.Length > 0 ? RefundsOf(pi) : refunds.Values.ToList())) data.Add(r.DeepClone());
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
        var intent = new Intent
        {
            Id = id, ClientSecret = id + "_secret_" + Random(25), Amount = amount, Currency = currency,
            Description = form.GetValueOrDefault("description"), Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Metadata = form.Where(kv => kv.Key.StartsWith("metadata[", StringComparison.Ordinal) && kv.Key.EndsWith(']'))
                .ToDictionary(kv => kv.Key[9..^1], kv => kv.Value),
        };
        intents[id] = intent;
        return (200, View(intent));
    }

    (int, JsonObject) Cancel(string id, Dictionary<string, string> form)
    {
        if (!intents.TryGetValue(id, out var intent)) return Missing("payment_intent", id);
        lock (intent)
        {
            if (intent.Status is "succeeded" or "canceled" or "processing")
                return UnexpectedState(intent, $"You cannot cancel this PaymentIntent because it has a status of {intent.Status}.");
            intent.Status = "canceled";
            intent.CanceledAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        }
        Notify(intent, "payment_intent.canceled", View(intent));
        return (200, View(intent));
    }

    /// <summary>The simulated buyer confirms with a test card.</summary>
    public (int Status, JsonObject Body) Confirm(string id, string? clientSecret, string? cardNumber)
    {
        if (!intents.TryGetValue(id, out var intent)) return Missing("payment_intent", id);
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
                switch (card)
                {
                    case CardSucceeds:
                        Succeed(intent);
                        eventType = "payment_intent.succeeded";
                        break;
                    case CardRequiresAction:
                        intent.Status = "requires_action";
                        intent.LastPaymentError = null;
                        eventType = "payment_intent.requires_action";
                        break;
                    case CardDeclines:
                        intent.Status = "requires_payment_method";
                        intent.LatestCharge = "ch_" + Random(24);
                        intent.LastPaymentError = new JsonObject
                        {
                            ["type"] = "card_error", ["code"] = "card_declined", ["decline_code"] = "generic_decline",
                            ["message"] = "Your card was declined.",
                        };
                        eventType = "payment_intent.payment_failed";
                        break;
                    default:
                        return (402, ErrorBody("card_error", "incorrect_number", "number", "Your card number is incorrect."));
                }
            }
        }
        Notify(intent, eventType, View(intent));
        if (intent.Status == "requires_payment_method")
        {
            var error = ErrorBody("card_error", "card_declined", null, "Your card was declined.");
            ((JsonObject)error["error"]!)["payment_intent"] = View(intent);
            return (402, error);
        }
        return (200, View(intent));
    }

    static void Succeed(Intent intent)
    {
        intent.Status = "succeeded";
        intent.AmountReceived = intent.Amount;
        intent.LatestCharge = "ch_" + Random(24);
        intent.LastPaymentError = null;
    }

    (int, JsonObject) CreateRefund(Dictionary<string, string> form)
    {
        var piId = form.GetValueOrDefault("payment_intent");
        if (string.IsNullOrEmpty(piId)) return InvalidRequest("parameter_missing", "payment_intent", "Must provide payment_intent or charge.");
        if (!intents.TryGetValue(piId, out var intent)) return Missing("payment_intent", piId);
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
                ["charge"] = intent.LatestCharge, ["payment_intent"] = intent.Id, ["status"] = "succeeded",
                ["reason"] = form.GetValueOrDefault("reason"), ["metadata"] = metadata,
                ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            };
            refunds[(string)refund["id"]!] = refund;
            intent.RefundIds.Add((string)refund["id"]!);
        }
        Notify(intent, "charge.refunded", Charge(intent));
        Notify(intent, "refund.updated", (JsonObject)refund.DeepClone());
        var answer = (JsonObject)refund.DeepClone();
        if (faults.For(intent.TradeKey).RefundAnswerPending) answer["status"] = "pending";
        return (200, answer);
    }

    JsonObject Charge(Intent i)
    {
        var list = new JsonArray();
        foreach (var r in i.RefundIds) list.Add(refunds[r].DeepClone());
        return new JsonObject
        {
            ["id"] = i.LatestCharge, ["object"] = "charge", ["amount"] = i.Amount, ["amount_captured"] = i.AmountReceived,
            ["amount_refunded"] = i.AmountRefunded, ["currency"] = i.Currency, ["payment_intent"] = i.Id,
            ["refunded"] = i.AmountRefunded == i.AmountReceived, ["status"] = "succeeded", ["metadata"] = Metadata(i),
            ["refunds"] = new JsonObject { ["object"] = "list", ["data"] = list, ["has_more"] = false },
        };
    }

    static JsonObject Metadata(Intent i)
    {
        var m = new JsonObject();
        foreach (var (k, v) in i.Metadata) m[k] = v;
        return m;
    }

    static JsonObject View(Intent i)
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
                ["next_action"] = i.Status == "requires_action"
                    ? new JsonObject { ["type"] = "use_stripe_sdk", ["use_stripe_sdk"] = new JsonObject { ["type"] = "three_d_secure_redirect" } }
                    : null,
            };
        }
    }

    void Notify(Intent intent, string type, JsonObject dataObject)
    {
        var evt = new JsonObject
        {
            ["id"] = "evt_" + Random(24), ["object"] = "event", ["api_version"] = DefaultApiVersion,
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["livemode"] = false, ["pending_webhooks"] = 1,
            ["type"] = type, ["data"] = new JsonObject { ["object"] = dataObject },
        };
        var body = evt.ToJsonString();
        var url = options.StripeWebhookUrl ?? HostUrl("/v1/notify/stripe");
        notifier.Send(new OutgoingNotification("stripe", intent.TradeKey, url,
            () => SandboxNotifier.Post(url, body, "application/json; charset=utf-8", [new("Stripe-Signature", Sign(body))]),
            (response, _) => response.IsSuccessStatusCode, RetrySchedule));
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

    // --- The merchant API's envelope: authentication, version, idempotency, faults ---

    async Task<IResult> MerchantPost(HttpContext http, Func<Dictionary<string, string>, (int Status, JsonObject Body)> act)
    {
        if (Refusal(http) is { } refused) return refused;
        var form = await ReadFormAsync(http);
        var tradeKey = TradeKeyOf(http, form);
        var fault = faults.For(tradeKey);
        if (fault.ApiError5xx) return Json(500, ErrorBody("api_error", null, null, "An error occurred with our connection to Stripe (injected)."));

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
                    return Json(stored!.Status, JsonNode.Parse(stored.Body)!.AsObject());
                case IdempotentReplays.Outcome.Mismatch:
                    return Json(400, ErrorBody("idempotency_error", null, null,
                        $"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."));
                case IdempotentReplays.Outcome.InProgress:
                    return Json(409, ErrorBody("idempotency_error", "idempotency_key_in_use", null,
                        "There is currently another in-progress request using this Idempotent Key. Please try again later."));
            }
        }
        var (status, body) = act(form);
        if (key.Length > 0) replays.Complete(storeKey, new IdempotentReplays.Answer(status, body.ToJsonString(), fingerprint));
        http.Response.Headers["Idempotency-Key"] = key;
        // Fault: the work is committed (and its answer stored), then the answer is late, past the caller's timeout.
        if (fault.ApiStallMs > 0) await Task.Delay(fault.ApiStallMs);
        return Json(status, body);
    }

    async Task<IResult> MerchantGet(HttpContext http, Func<(int Status, JsonObject Body)> read)
    {
        if (Refusal(http) is { } refused) return refused;
        if (faults.Global.ApiError5xx) return Json(500, ErrorBody("api_error", null, null, "An error occurred (injected)."));
        await Task.CompletedTask;
        var (status, body) = read();
        return Json(status, body);
    }

    string? TradeKeyOf(HttpContext http, Dictionary<string, string> form)
    {
        if (form.GetValueOrDefault("metadata[payment_id]") is { } paymentId) return paymentId;
        var pi = http.Request.RouteValues.TryGetValue("id", out var v) ? v as string : form.GetValueOrDefault("payment_intent");
        return pi is not null && intents.TryGetValue(pi, out var i) ? i.TradeKey : null;
    }

    IResult? Refusal(HttpContext http)
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

    static async Task<Dictionary<string, string>> ReadFormAsync(HttpContext http)
    {
        if (!http.Request.HasFormContentType) return new Dictionary<string, string>(StringComparer.Ordinal);
        var form = await http.Request.ReadFormAsync();
        return form.ToDictionary(kv => kv.Key, kv => kv.Value.ToString(), StringComparer.Ordinal);
    }

    IResult CardPage(HttpContext http)
    {
        var secret = http.Request.Query["client_secret"].ToString();
        var returnUrl = http.Request.Query["return_url"].ToString();
        if (!intents.TryGetValue(IntentIdOf(secret), out var intent) || intent.ClientSecret != secret) return Results.NotFound();
        var view = View(intent);
        var error = (string?)view["last_payment_error"]?["message"];
        var canPay = intent.Status is "requires_payment_method" or "requires_action";
        var html = $$"""
            <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>Stripe sandbox – card payment</title>
            <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}input,button{font-size:1.1rem;padding:.5rem}</style></head>
            <body><h1>Card payment (Stripe sandbox)</h1><p>{{Enc(intent.Description ?? intent.Id)}}</p>
            <p>Amount: <strong>{{intent.Amount.ToString(CultureInfo.InvariantCulture)}} {{intent.Currency.ToUpperInvariant()}}</strong> (smallest currency unit)</p>
            <p>Status: <strong id="status">{{intent.Status}}</strong></p>
            {{(error is null ? "" : $"<p id=\"error\" role=\"alert\">{Enc(error)}</p>")}}
            {{(canPay ? $"""
                <form method="post"><input type="hidden" name="client_secret" value="{Enc(secret)}"><input type="hidden" name="return_url" value="{Enc(returnUrl)}">
                {(intent.Status == "requires_action"
                    ? "<p>Your bank asks you to authenticate this payment.</p><button id=\"authenticate\" type=\"submit\">Complete authentication</button>"
                    : $"<label>Card number <input id=\"card\" name=\"card_number\" inputmode=\"numeric\" value=\"{CardSucceeds}\"></label> <button id=\"pay\" type=\"submit\">Pay</button>")}
                </form><p><small>Test cards: {CardSucceeds} succeeds, {CardDeclines} declines, {CardRequiresAction} requires authentication.</small></p>
                """ : "")}}
            {{(intent.Status == "succeeded" && returnUrl.Length > 0 ? $"<p><a id=\"return\" href=\"{Enc(returnUrl)}\">Return to the merchant</a></p>" : "")}}
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }

    static string IntentIdOf(string clientSecret)
    {
        var i = clientSecret.IndexOf("_secret_", StringComparison.Ordinal);
        return i > 0 ? clientSecret[..i] : "";
    }

    static (int, JsonObject) InvalidRequest(string code, string? param, string message) =>
        (400, ErrorBody("invalid_request_error", code, param, message));

    static (int, JsonObject) Missing(string kind, string id) =>
        (404, ErrorBody("invalid_request_error", "resource_missing", "id", $"No such {kind}: '{id}'"));

    static (int, JsonObject) UnexpectedState(Intent intent, string message)
    {
        var body = ErrorBody("invalid_request_error", "payment_intent_unexpected_state", null, message);
        ((JsonObject)body["error"]!)["payment_intent"] = View(intent);
        return (400, body);
    }

    static JsonObject ErrorBody(string type, string? code, string? param, string message) => new()
    {
        ["error"] = new JsonObject { ["type"] = type, ["code"] = code, ["param"] = param, ["message"] = message },
    };

    static IResult Json(int status, JsonObject body)
    {
        var json = body.ToJsonString();
        return Results.Text(json, "application/json", Encoding.UTF8, status);
    }

    static (int, JsonObject) Ok(JsonObject body) => (200, body);

    static string Random(int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return string.Create(length, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
        });
    }

    static string Enc(string s) => System.Net.WebUtility.HtmlEncode(s);

    [GeneratedRegex("^[a-z]{3}$")]
    private static partial Regex CurrencyPattern();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")]
    private static partial Regex VersionPattern();
}
