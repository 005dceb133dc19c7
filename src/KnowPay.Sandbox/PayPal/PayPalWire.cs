using System.IO.Hashing;
using System.Security.Cryptography.X509Certificates;
using KnowPay.Sandbox.Stripe;

namespace KnowPay.Sandbox.PayPal;

/// <summary>One Orders v2 order as the simulator holds it; lock it to read or change its state.</summary>
sealed class PayPalOrder
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
    public string CreateTime { get; } = PayPalWire.Now();
    public string TradeKey => (string?)PurchaseUnit["custom_id"] ?? Id;
    /// <summary>Still waiting for its buyer or its capture.</summary>
    public bool Open => Status is "CREATED" or "APPROVED";
}

/// <summary>
/// PayPal's wire: OAuth2 client-credential tokens, the order resource, the error shape, and webhooks signed
/// offline-verifiably (SHA256withRSA over "transmission_id|transmission_time|webhook_id|crc32(body)" with the key of a
/// self-signed certificate served at PAYPAL-CERT-URL), retried up to 25 times over about 3 days.
/// </summary>
sealed class PayPalWire : IDisposable
{
    /// <summary>25 retries over ~3 days.</summary>
    static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(15),
        TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(2),
        .. Enumerable.Repeat(TimeSpan.FromHours(4), 15),
    ];
    public static readonly HashSet<string> ZeroDecimal = ["JPY", "HUF", "TWD"];

    readonly SandboxOptions options;
    readonly FaultGate gate;
    readonly RSA signingKey = RSA.Create(2048);
    readonly X509Certificate2 certificate;
    readonly ConcurrentDictionary<string, DateTimeOffset> tokens = new();
    readonly IdempotentReplays replays = new();

    public PayPalWire(SandboxOptions options, FaultGate gate)
    {
        (this.options, this.gate) = (options, gate);
        var request = new CertificateRequest("CN=messageverificationcerts.sandbox.paypal.com, O=KnowPay Sandbox", signingKey,
            HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    public string CertId { get; } = "CERT-360caa42-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public string CertificatePem => certificate.ExportCertificatePem();

    /// <summary>OAuth2 client credentials: Basic auth → a bearer token valid for 9 hours.</summary>
    public async Task<IResult> Token(HttpContext http)
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

    public JsonObject View(PayPalOrder o)
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

    public OutgoingNotification Event(PayPalOrder order, string eventType, string resourceType, JsonObject resource, string summary)
    {
        var body = new JsonObject
        {
            ["id"] = "WH-" + RandomUpper(17), ["event_version"] = "1.0", ["create_time"] = Now(), ["resource_type"] = resourceType,
            ["resource_version"] = "2.0", ["event_type"] = eventType, ["summary"] = summary, ["resource"] = resource,
        }.ToJsonString();
        var url = options.PayPalWebhookUrl ?? HostUrl("/v1/notify/paypal");
        return new OutgoingNotification("paypal", order.TradeKey, url,
            () => SandboxNotifier.Post(url, body, "application/json", SignatureHeaders(body)),
            (response, _) => response.IsSuccessStatusCode, RetrySchedule);
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
            new("PAYPAL-CERT-URL", $"{options.PublicBaseUrl()}/paypal/v1/notifications/certs/{CertId}"),
            new("PAYPAL-AUTH-ALGO", "SHA256withRSA"),
        ];
    }

    /// <summary>
    /// A merchant POST: the bearer token, the JSON body, then the faults, then <c>PayPal-Request-Id</c> (a replayed id returns
    /// the first answer), then the act.
    /// </summary>
    public async Task<IResult> MerchantPost(HttpContext http, Func<JsonObject?, string?> tradeKeyOf, Func<JsonObject?, (int Status, JsonObject Body)> act)
    {
        if (Refusal(http) is { } refused) return refused;
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        JsonObject? body;
        try { body = text.Length == 0 ? null : JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { return Json(400, Error("INVALID_REQUEST", "MALFORMED_REQUEST_JSON", null, "The request JSON is not well formed.")); }
        return await gate.PassOrReplayAsync(tradeKeyOf(body),
            () => Json(500, Error("INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR", null, "An internal service error has occurred (injected).")), () =>
            {
                var requestId = http.Request.Headers["PayPal-Request-Id"].ToString();
                var storeKey = options.PayPalClientId + "|" + http.Request.Path + "|" + requestId;
                if (requestId.Length > 0)
                {
                    var (outcome, stored) = replays.Begin(storeKey, "");
                    if (outcome == IdempotentReplays.Outcome.Replay) return (Json(stored!.Status, JsonNode.Parse(stored.Body)!.AsObject()), false);
                    if (outcome == IdempotentReplays.Outcome.InProgress)
                        return (Json(409, Error("RESOURCE_CONFLICT", "PREVIOUS_REQUEST_IN_PROGRESS", null, "A previous request with this PayPal-Request-Id is in progress.")), false);
                }
                var (status, result) = act(body);
                if (requestId.Length > 0) replays.Complete(storeKey, new IdempotentReplays.Answer(status, result.ToJsonString(), ""));
                return (Json(status, result), true);
            });
    }

    /// <summary>A merchant GET: the bearer token, then a failing fault (reads are never stalled).</summary>
    public IResult MerchantGet(HttpContext http, Func<(int Status, JsonObject Body)> read)
    {
        if (Refusal(http) is { } refused) return refused;
        if (gate.Failing(null)) return Json(500, Error("INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR", null, "injected"));
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

    public static bool ValidAmount(string value, string currency, out decimal amount)
    {
        amount = 0;
        var decimals = ZeroDecimal.Contains(currency) ? 0 : 2;
        var dot = value.IndexOf('.');
        if (dot >= 0 && (decimals == 0 || value.Length - dot - 1 != decimals)) return false;
        return decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out amount);
    }

    public static string Format(decimal amount, string currency) =>
        amount.ToString(ZeroDecimal.Contains(currency) ? "0" : "0.00", CultureInfo.InvariantCulture);

    string HostUrl(string path)
    {
        var sandboxBase = options.PublicBaseUrl();
        var host = sandboxBase.EndsWith(options.BasePath, StringComparison.Ordinal) ? sandboxBase[..^options.BasePath.Length] : sandboxBase;
        return host + path;
    }

    public static (int, JsonObject) NotFound(string id) =>
        (404, Error("RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", null, $"Specified resource ID {id} does not exist."));

    public static (int, JsonObject) Unprocessable(string issue, string? field, string description) =>
        (422, Error("UNPROCESSABLE_ENTITY", issue, field, description));

    public static JsonObject Error(string name, string issue, string? field, string description) => new()
    {
        ["name"] = name, ["message"] = "The requested action could not be performed, semantically incorrect, or failed business validation.",
        ["debug_id"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(7)),
        ["details"] = new JsonArray(new JsonObject { ["field"] = field, ["issue"] = issue, ["description"] = description }),
    };

    public static IResult Json(int status, JsonObject body) => Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);

    public static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string Random(int length) => Pick("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", length);

    public static string RandomUpper(int length) => Pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", length);

    static string Pick(string alphabet, int length) => string.Create(length, alphabet, (span, a) =>
    {
        for (var i = 0; i < span.Length; i++) span[i] = a[RandomNumberGenerator.GetInt32(a.Length)];
    });


    public void Dispose()
    {
        certificate.Dispose();
        signingKey.Dispose();
    }
}
