using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Sandbox.Stripe;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace KnowPay.Sandbox.PayPal;

/// <summary>
/// PayPal's REST API as the merchant sees it, at /sandbox/paypal/v1|v2/…: OAuth2 client credentials (Basic auth →
/// bearer token with an expiry), Orders v2 (create → approve link, buyer approval, capture), captures refunds,
/// <c>PayPal-Request-Id</c> idempotency (a replayed id returns the first answer), and webhooks signed offline-verifiably:
/// SHA256withRSA over "transmission_id|transmission_time|webhook_id|crc32(body)" with the key of a self-signed
/// certificate served at PAYPAL-CERT-URL. Webhooks are retried up to 25 times over about 3 days.
/// </summary>
public sealed class PayPalSimulator : IDisposable
{
    /// <summary>25 retries over ~3 days.</summary>
    static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(15),
        TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(2),
        .. Enumerable.Repeat(TimeSpan.FromHours(4), 15),
    ];
    static readonly HashSet<string> ZeroDecimal = ["JPY", "HUF", "TWD"];

    readonly SandboxOptions options;
    readonly SandboxNotifier notifier;
    readonly SandboxFaults faults;
    readonly RSA signingKey = RSA.Create(2048);
    readonly X509Certificate2 certificate;
    readonly string certId = "CERT-360caa42-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    readonly ConcurrentDictionary<string, DateTimeOffset> tokens = new();
    readonly ConcurrentDictionary<string, Order> orders = new();
    readonly ConcurrentDictionary<string, string> captureToOrder = new();
    readonly IdempotentReplays replays = new();

    public PayPalSimulator(SandboxOptions options, SandboxNotifier notifier, SandboxFaults faults)
    {
        this.options = options;
        this.notifier = notifier;
        this.faults = faults;
        var request = new CertificateRequest("CN=messageverificationcerts.sandbox.paypal.com, O=KnowPay Sandbox", signingKey,
            HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    sealed class Order
    {
        public required string Id { get; init; }
        public required string CurrencyCode { get; init; }
        public required string Value { get; init; }
        public required JsonObject PurchaseUnit { get; init; }
        public string? ReturnUrl { get; init; }
        public string Status { get; set; } = "CREATED";
        public bool DeclineCapture { get; set; }
        public JsonObject? Capture { get; set; }
        public List<JsonObject> Refunds { get; } = [];
        public string CreateTime { get; } = Now();
        public string TradeKey => (string?)PurchaseUnit["custom_id"] ?? Id;
    }

    /// <summary>For tests and operators: orders whose custom_id is the given value, as PayPal JSON.</summary>
    public IReadOnlyList<JsonObject> FindOrders(string customId) =>
        orders.Values.Where(o => o.TradeKey == customId).Select(View).ToList();

    public string CertificatePem => certificate.ExportCertificatePem();

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/paypal");
        g.MapPost("/v1/oauth2/token", (Delegate)Token);
        g.MapGet("/v1/notifications/certs/{id}", (string id) =>
            id == certId ? Results.Text(CertificatePem, "application/x-pem-file") : Results.NotFound());
        g.MapPost("/v2/checkout/orders", (Delegate)((HttpContext http) => MerchantPost(http, null, CreateOrder)));
        g.MapGet("/v2/checkout/orders/{id}", (HttpContext http, string id) => MerchantGet(http, () =>
            orders.TryGetValue(id, out var o) ? (200, View(o)) : NotFound(id)));
        g.MapPost("/v2/checkout/orders/{id}/capture", (HttpContext http, string id) => MerchantPost(http, id, _ => Capture(id)));
        g.MapPost("/v2/payments/captures/{id}/refund", (HttpContext http, string id) =>
            MerchantPost(http, captureToOrder.GetValueOrDefault(id), body => Refund(id, body)));
        g.MapGet("/v2/payments/captures/{id}", (HttpContext http, string id) => MerchantGet(http, () =>
            captureToOrder.TryGetValue(id, out var o) && orders[o].Capture is { } c ? (200, (JsonObject)c.DeepClone()) : NotFound(id)));

        // The buyer's side: the approve page and its API.
        g.MapGet("/checkoutnow", ApprovePage);
        g.MapPost("/checkoutnow/{id}/approve", (string id, bool? declineCapture) =>
        {
            var (status, body) = Approve(id, declineCapture ?? false);
            return Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);
        });
        g.MapPost("/checkoutnow", (Delegate)(async (HttpContext http) =>
        {
            var form = await http.Request.ReadFormAsync();
            var id = form["token"].ToString();
            var (status, _) = Approve(id, false);
            if (status == 200 && orders.TryGetValue(id, out var o) && o.ReturnUrl is { Length: > 0 } ret)
                return Results.Redirect(ret + (ret.Contains('?') ? "&" : "?") + "token=" + Uri.EscapeDataString(id) + "&PayerID=SANDBOXBUYER1");
            return Results.Redirect($"{options.BasePath}/paypal/checkoutnow?token={Uri.EscapeDataString(id)}");
        }));
    }

    async Task<IResult> Token(HttpContext http)
    {
        var auth = http.Request.Headers.Authorization.ToString();
        var expected = Convert.ToBase64String(Encoding.UTF8.GetBytes(options.PayPalClientId + ":" + options.PayPalClientSecret));
        if (options.PayPalClientId.Length == 0 || !auth.StartsWith("Basic ", StringComparison.Ordinal) ||
            !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(auth[6..].Trim()), Encoding.UTF8.GetBytes(expected)))
            return Json(401, new JsonObject { ["error"] = "invalid_client", ["error_description"] = "Client Authentication failed" });
        var form = http.Request.HasFormContentType ? await http.Request.ReadFormAsync() : null;
        if (form?["grant_type"].ToString() != "client_credentials")
            return Json(400, new JsonObject { ["error"] = "unsupported_grant_type", ["error_description"] = "Grant Type is NULL or unsupported" });
        var token = "A21AA" + Random(60);
        const int expiresIn = 32400;
        tokens[token] = DateTimeOffset.UtcNow.AddSeconds(expiresIn);
        return Json(200, new JsonObject
        {
            ["scope"] = "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund",
            ["access_token"] = token, ["token_type"] = "Bearer", ["app_id"] = "APP-80W284485P519543T", ["expires_in"] = expiresIn,
            ["nonce"] = Now() + Random(20),
        });
    }

    (int, JsonObject) CreateOrder(JsonObject? body)
    {
        if (body is null || (string?)body["intent"] != "CAPTURE")
            return Unprocessable("INVALID_PARAMETER_VALUE", "intent", "intent must be CAPTURE");
        if (body["purchase_units"] is not JsonArray { Count: 1 } units || units[0] is not JsonObject unit ||
            unit["amount"] is not JsonObject amount || (string?)amount["currency_code"] is not { Length: 3 } currency || (string?)amount["value"] is not { } value)
            return Unprocessable("MISSING_REQUIRED_PARAMETER", "purchase_units/0/amount", "one purchase unit with amount {currency_code, value} is required");
        if (!ValidAmount(value, currency, out _))
            return Unprocessable("DECIMAL_PRECISION", "purchase_units/0/amount/value",
                $"If the currency supports decimals, only two decimal place precision is supported; {currency} has {(ZeroDecimal.Contains(currency) ? "none" : "two")}.");
        var order = new Order
        {
            Id = RandomUpper(17), CurrencyCode = currency, Value = value, PurchaseUnit = (JsonObject)unit.DeepClone(),
            ReturnUrl = (string?)body["payment_source"]?["paypal"]?["experience_context"]?["return_url"]
                        ?? (string?)body["application_context"]?["return_url"],
        };
        orders[order.Id] = order;
        return (201, View(order));
    }

    (int, JsonObject) Approve(string id, bool declineCapture)
    {
        if (!orders.TryGetValue(id, out var order)) return NotFound(id);
        lock (order)
        {
            if (order.Status is "APPROVED" or "COMPLETED") return (200, View(order));
            if (order.Status != "CREATED") return Unprocessable("ORDER_NOT_APPROVABLE", null, $"the order is {order.Status}");
            order.Status = "APPROVED";
            order.DeclineCapture = declineCapture;
        }
        Notify(order, "CHECKOUT.ORDER.APPROVED", "checkout-order", View(order), "An order has been approved by buyer");
        return (200, View(order));
    }

    (int, JsonObject) Capture(string id)
    {
        if (!orders.TryGetValue(id, out var order)) return NotFound(id);
        JsonObject capture;
        lock (order)
        {
            if (order.Status == "COMPLETED") return Unprocessable("ORDER_ALREADY_CAPTURED", null, "Order already captured. If 'intent=CAPTURE' only one capture per order is allowed.");
            if (order.Status != "APPROVED") return Unprocessable("ORDER_NOT_APPROVED", null, "Payer has not yet approved the Order for payment.");
            capture = new JsonObject
            {
                ["id"] = RandomUpper(17), ["status"] = order.DeclineCapture ? "DECLINED" : "COMPLETED",
                ["amount"] = new JsonObject { ["currency_code"] = order.CurrencyCode, ["value"] = order.Value },
                ["final_capture"] = true, ["custom_id"] = (string?)order.PurchaseUnit["custom_id"],
                ["invoice_id"] = (string?)order.PurchaseUnit["invoice_id"],
                ["seller_protection"] = new JsonObject { ["status"] = "ELIGIBLE" },
                ["supplementary_data"] = new JsonObject { ["related_ids"] = new JsonObject { ["order_id"] = order.Id } },
                ["create_time"] = Now(), ["update_time"] = Now(),
            };
            order.Capture = capture;
            order.Status = "COMPLETED";
            captureToOrder[(string)capture["id"]!] = order.Id;
        }
        if (order.DeclineCapture)
            Notify(order, "PAYMENT.CAPTURE.DENIED", "capture", (JsonObject)capture.DeepClone(), "A payment capture was denied");
        else
            Notify(order, "PAYMENT.CAPTURE.COMPLETED", "capture", (JsonObject)capture.DeepClone(), $"Payment completed for {order.Value} {order.CurrencyCode}");
        return (201, View(order));
    }

    (int, JsonObject) Refund(string captureId, JsonObject? body)
    {
        if (!captureToOrder.TryGetValue(captureId, out var orderId) || !orders.TryGetValue(orderId, out var order) || order.Capture is null)
            return NotFound(captureId);
        JsonObject refund;
        lock (order)
        {
            var capture = order.Capture;
            if ((string?)capture["status"] is not ("COMPLETED" or "PARTIALLY_REFUNDED"))
                return Unprocessable("CAPTURE_FULLY_REFUNDED", null, "The capture has already been fully refunded or cannot be refunded.");
            var captured = decimal.Parse(order.Value, CultureInfo.InvariantCulture);
            var refunded = order.Refunds.Sum(r => decimal.Parse((string)r["amount"]!["value"]!, CultureInfo.InvariantCulture));
            var value = (string?)body?["amount"]?["value"];
            decimal amount;
            if (value is null) amount = captured - refunded;
            else
            {
                if ((string?)body!["amount"]!["currency_code"] != order.CurrencyCode)
                    return Unprocessable("REFUND_CURRENCY_MISMATCH", "amount/currency_code", "Refund must be in the currency of the capture.");
                if (!ValidAmount(value, order.CurrencyCode, out amount) || amount <= 0)
                    return Unprocessable("DECIMAL_PRECISION", "amount/value", "Invalid refund amount.");
                if (amount > captured - refunded)
                    return Unprocessable("REFUND_AMOUNT_EXCEEDED", "amount/value", "The refund amount must be less than or equal to the capture amount that has not yet been refunded.");
            }
            refund = new JsonObject
            {
                ["id"] = RandomUpper(17), ["status"] = "COMPLETED",
                ["amount"] = new JsonObject { ["currency_code"] = order.CurrencyCode, ["value"] = Format(amount, order.CurrencyCode) },
                ["custom_id"] = (string?)body?["custom_id"], ["invoice_id"] = (string?)body?["invoice_id"],
                ["note_to_payer"] = (string?)body?["note_to_payer"], ["create_time"] = Now(), ["update_time"] = Now(),
                ["links"] = new JsonArray(new JsonObject { ["rel"] = "up", ["method"] = "GET", ["href"] = $"{options.PublicBaseUrl()}/paypal/v2/payments/captures/{captureId}" }),
            };
            order.Refunds.Add(refund);
            capture["status"] = refunded + amount == captured ? "REFUNDED" : "PARTIALLY_REFUNDED";
        }
        Notify(order, "PAYMENT.CAPTURE.REFUNDED", "refund", (JsonObject)refund.DeepClone(), "A capture payment was refunded");
        var answer = (JsonObject)refund.DeepClone();
        if (faults.For(order.TradeKey).RefundAnswerPending) answer["status"] = "PENDING";
        return (201, answer);
    }

    JsonObject View(Order o)
    {
        lock (o)
        {
            var unit = (JsonObject)o.PurchaseUnit.DeepClone();
            if (o.Capture is not null)
            {
                var refunds = new JsonArray();
                foreach (var r in o.Refunds) refunds.Add(r.DeepClone());
                unit["payments"] = new JsonObject { ["captures"] = new JsonArray(o.Capture.DeepClone()), ["refunds"] = refunds };
            }
            var baseUrl = options.PublicBaseUrl() + "/paypal";
            var links = new JsonArray(new JsonObject { ["href"] = $"{baseUrl}/v2/checkout/orders/{o.Id}", ["rel"] = "self", ["method"] = "GET" });
            if (o.Status == "CREATED")
                links.Add(new JsonObject { ["href"] = $"{baseUrl}/checkoutnow?token={o.Id}", ["rel"] = "approve", ["method"] = "GET" });
            if (o.Status == "APPROVED")
                links.Add(new JsonObject { ["href"] = $"{baseUrl}/v2/checkout/orders/{o.Id}/capture", ["rel"] = "capture", ["method"] = "POST" });
            return new JsonObject
            {
                ["id"] = o.Id, ["intent"] = "CAPTURE", ["status"] = o.Status, ["purchase_units"] = new JsonArray(unit),
                ["create_time"] = o.CreateTime, ["links"] = links,
            };
        }
    }

    void Notify(Order order, string eventType, string resourceType, JsonObject resource, string summary)
    {
        var body = new JsonObject
        {
            ["id"] = "WH-" + RandomUpper(17), ["event_version"] = "1.0", ["create_time"] = Now(), ["resource_type"] = resourceType,
            ["resource_version"] = "2.0", ["event_type"] = eventType, ["summary"] = summary, ["resource"] = resource,
        }.ToJsonString();
        var url = options.PayPalWebhookUrl ?? HostUrl("/v1/notify/paypal");
        notifier.Send(new OutgoingNotification("paypal", order.TradeKey, url,
            () => SandboxNotifier.Post(url, body, "application/json", SignatureHeaders(body)),
            (response, _) => response.IsSuccessStatusCode, RetrySchedule));
    }

    /// <summary>The PAYPAL-* headers of one transmission of <paramref name="body"/>, signed now.</summary>
    public IEnumerable<KeyValuePair<string, string>> SignatureHeaders(string body)
    {
        var transmissionId = Guid.NewGuid().ToString();
        var time = Now();
        var crc = Crc32.HashToUInt32(Encoding.UTF8.GetBytes(body)).ToString(CultureInfo.InvariantCulture);
        var message = $"{transmissionId}|{time}|{options.PayPalWebhookId}|{crc}";
        var signature = signingKey.SignData(Encoding.UTF8.GetBytes(message), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return
        [
            new("PAYPAL-TRANSMISSION-ID", transmissionId), new("PAYPAL-TRANSMISSION-TIME", time),
            new("PAYPAL-TRANSMISSION-SIG", Convert.ToBase64String(signature)),
            new("PAYPAL-CERT-URL", $"{options.PublicBaseUrl()}/paypal/v1/notifications/certs/{certId}"),
            new("PAYPAL-AUTH-ALGO", "SHA256withRSA"),
        ];
    }

    // --- The merchant API's envelope: bearer token, PayPal-Request-Id, faults ---

    async Task<IResult> MerchantPost(HttpContext http, string? orderId, Func<JsonObject?, (int Status, JsonObject Body)> act)
    {
        if (Refusal(http) is { } refused) return refused;
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        JsonObject? body;
        try { body = text.Length == 0 ? null : JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { return Json(400, Error("INVALID_REQUEST", "MALFORMED_REQUEST_JSON", null, "The request JSON is not well formed.")); }
        var tradeKey = orderId is not null && orders.TryGetValue(orderId, out var o) ? o.TradeKey : (string?)body?["purchase_units"]?[0]?["custom_id"];
        var fault = faults.For(tradeKey);
        if (fault.ApiError5xx) return Json(500, Error("INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR", null, "An internal service error has occurred (injected)."));
        var requestId = http.Request.Headers["PayPal-Request-Id"].ToString();
        var storeKey = options.PayPalClientId + "|" + http.Request.Path + "|" + requestId;
        if (requestId.Length > 0)
        {
            var (outcome, stored) = replays.Begin(storeKey, "");
            if (outcome == IdempotentReplays.Outcome.Replay) return Json(stored!.Status, JsonNode.Parse(stored.Body)!.AsObject());
            if (outcome == IdempotentReplays.Outcome.InProgress)
                return Json(409, Error("RESOURCE_CONFLICT", "PREVIOUS_REQUEST_IN_PROGRESS", null, "A previous request with this PayPal-Request-Id is in progress."));
        }
        var (status, result) = act(body);
        if (requestId.Length > 0) replays.Complete(storeKey, new IdempotentReplays.Answer(status, result.ToJsonString(), ""));
        // Fault: committed and stored, then the answer is late (past the caller's timeout).
        if (fault.ApiStallMs > 0) await Task.Delay(fault.ApiStallMs);
        return Json(status, result);
    }

    async Task<IResult> MerchantGet(HttpContext http, Func<(int Status, JsonObject Body)> read)
    {
        if (Refusal(http) is { } refused) return refused;
        if (faults.Global.ApiError5xx) return Json(500, Error("INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR", null, "injected"));
        await Task.CompletedTask;
        var (status, body) = read();
        return Json(status, body);
    }

    IResult? Refusal(HttpContext http)
    {
        var auth = http.Request.Headers.Authorization.ToString();
        var token = auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..].Trim() : "";
        if (token.Length == 0 || !tokens.TryGetValue(token, out var expires) || expires <= DateTimeOffset.UtcNow)
            return Json(401, new JsonObject
            {
                ["error"] = "invalid_token", ["error_description"] = "Token signature verification failed",
            });
        return null;
    }

    IResult ApprovePage(HttpContext http)
    {
        var id = http.Request.Query["token"].ToString();
        if (!orders.TryGetValue(id, out var order)) return Results.NotFound();
        var html = $$"""
            <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>PayPal sandbox – approve payment</title>
            <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}button{font-size:1.1rem;padding:.6rem 1.4rem}</style></head>
            <body><h1>PayPal (sandbox)</h1><p>{{Enc((string?)order.PurchaseUnit["description"] ?? order.Id)}}</p>
            <p>Amount: <strong>{{Enc(order.Value)}} {{order.CurrencyCode}}</strong></p>
            <p>Status: <strong id="status">{{order.Status}}</strong></p>
            {{(order.Status == "CREATED" ? $"<form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{Enc(order.Id)}\"><button id=\"approve\" type=\"submit\">Pay Now</button></form>" : "")}}
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }

    static bool ValidAmount(string value, string currency, out decimal amount)
    {
        amount = 0;
        var decimals = ZeroDecimal.Contains(currency) ? 0 : 2;
        var dot = value.IndexOf('.');
        if (dot >= 0 && (decimals == 0 || value.Length - dot - 1 != decimals)) return false;
        return decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out amount);
    }

    static string Format(decimal amount, string currency) =>
        amount.ToString(ZeroDecimal.Contains(currency) ? "0" : "0.00", CultureInfo.InvariantCulture);

    string HostUrl(string path)
    {
        var sandboxBase = options.PublicBaseUrl();
        var host = sandboxBase.EndsWith(options.BasePath, StringComparison.Ordinal) ? sandboxBase[..^options.BasePath.Length] : sandboxBase;
        return host + path;
    }

    static (int, JsonObject) NotFound(string id) =>
        (404, Error("RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", null, $"Specified resource ID {id} does not exist."));

    static (int, JsonObject) Unprocessable(string issue, string? field, string description) =>
        (422, Error("UNPROCESSABLE_ENTITY", issue, field, description));

    static JsonObject Error(string name, string issue, string? field, string description) => new()
    {
        ["name"] = name, ["message"] = "The requested action could not be performed, semantically incorrect, or failed business validation.",
        ["debug_id"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(7)),
        ["details"] = new JsonArray(new JsonObject { ["field"] = field, ["issue"] = issue, ["description"] = description }),
    };

    static IResult Json(int status, JsonObject body) => Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);

    static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    static string Random(int length) => Pick("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", length);

    static string RandomUpper(int length) => Pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", length);

    static string Pick(string alphabet, int length) => string.Create(length, alphabet, (span, a) =>
    {
        for (var i = 0; i < span.Length; i++) span[i] = a[RandomNumberGenerator.GetInt32(a.Length)];
    });

    static string Enc(string s) => System.Net.WebUtility.HtmlEncode(s);

    public void Dispose()
    {
        certificate.Dispose();
        signingKey.Dispose();
    }
}
