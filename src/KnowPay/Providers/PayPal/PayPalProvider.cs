using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers.PayPal;

/// <summary><c>Providers:PayPal:*</c>: ApiBaseUrl, ClientId, ClientSecret, WebhookId, FeeBps, FeeFixed, ReportsBaseUrl (null = no reports read).</summary>
public sealed record PayPalSettings(string ApiBaseUrl, string ClientId, string ClientSecret, string WebhookId, ProviderFee Fee, string? ReportsBaseUrl = null);

/// <summary>
/// Adapter for PayPal Orders v2 (<c>provider: "paypal"</c>, method <c>page</c>): an OAuth2 client-credentials token
/// (cached until shortly before it expires), order create with the amount as a decimal string in the currency's own
/// decimals, the approve link as the redirect, capture once approved, capture refunds, and order queries.
/// Every POST carries a <c>PayPal-Request-Id</c> derived from KnowPay's ids, so a retried call acts once.
/// </summary>
public sealed class PayPalProvider(HttpClient http, PayPalSettings settings, PayPalTokens tokens, TimeProvider clock) : IPaymentProvider
{
    public const string HttpClientName = "provider-paypal";

    public string Name => "paypal";
    public IReadOnlyCollection<string> Methods { get; } = ["page"];
    public ProviderFee Fee => settings.Fee;

    public async Task<PaymentStarted> StartAsync(PaymentStart request, CancellationToken ct)
    {
        var payment = request.Payment;
        var unit = new JsonObject
        {
            ["reference_id"] = payment.Id, ["custom_id"] = payment.Id, ["invoice_id"] = payment.Id,
            ["description"] = request.Subject.Length > 127 ? request.Subject[..127] : request.Subject,
            ["amount"] = Amount(new Money(payment.Amount, Currency.Of(payment.Currency))),
        };
        var body = new JsonObject { ["intent"] = "CAPTURE", ["purchase_units"] = new JsonArray(unit) };
        if (request.ReturnUrl is not null)
            body["payment_source"] = new JsonObject
            {
                ["paypal"] = new JsonObject
                {
                    ["experience_context"] = new JsonObject { ["return_url"] = request.ReturnUrl, ["cancel_url"] = request.ReturnUrl, ["user_action"] = "PAY_NOW" },
                },
            };
        var order = await SendAsync(HttpMethod.Post, "/v2/checkout/orders", $"{payment.Id}:create", body, ct)
                    ?? throw new ProviderException(Name, "empty_response", "no order in the answer");
        var approve = (order["links"] as JsonArray)?.OfType<JsonObject>()
            .FirstOrDefault(l => (string?)l["rel"] is "approve" or "payer-action")?["href"];
        return new PaymentStarted((string?)order["id"], RedirectUrl: (string?)approve);
    }

    /// <summary>The order's state; an order the buyer approved is captured here (idempotently) when the payment is still pending.</summary>
    public async Task<ProviderTradeState> QueryAsync(Payment payment, CancellationToken ct)
    {
        if (payment.ProviderTradeNo is null) return new ProviderTradeState(TradeStatus.NotFound);
        var order = await SendAsync(HttpMethod.Get, $"/v2/checkout/orders/{payment.ProviderTradeNo}", null, null, ct, notFoundIsNull: true);
        if ((string?)order?["status"] == "APPROVED" && payment.Status == PaymentStatus.Pending) return await CaptureAsync(payment, ct);
        return State(order);
    }

    /// <summary>Captures an approved order. PayPal-Request-Id "pay_…:capture" makes a repeat return the first capture.</summary>
    public async Task<ProviderTradeState> CaptureAsync(Payment payment, CancellationToken ct)
    {
        try
        {
            return State(await SendAsync(HttpMethod.Post, $"/v2/checkout/orders/{payment.ProviderTradeNo}/capture", $"{payment.Id}:capture",
                new JsonObject(), ct));
        }
        catch (ProviderException e) when (e.Code == "ORDER_ALREADY_CAPTURED")
        {
            return State(await SendAsync(HttpMethod.Get, $"/v2/checkout/orders/{payment.ProviderTradeNo}", null, null, ct, notFoundIsNull: true));
        }
    }

    /// <summary>
    /// Orders v2 has no cancel: an order that is never captured lapses at PayPal. Closing reports the order's state and
    /// KnowPay never captures a payment that is no longer pending.
    /// </summary>
    public async Task<ProviderTradeState> CloseAsync(Payment payment, CancellationToken ct)
    {
        if (payment.ProviderTradeNo is null) return new ProviderTradeState(TradeStatus.Closed);
        var state = State(await SendAsync(HttpMethod.Get, $"/v2/checkout/orders/{payment.ProviderTradeNo}", null, null, ct, notFoundIsNull: true));
        return state.Status == TradeStatus.Paid ? state : state with { Status = TradeStatus.Closed };
    }

    public async Task<ProviderRefundResult> RefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var payment = request.Payment;
        var order = payment.ProviderTradeNo is null ? null
            : await SendAsync(HttpMethod.Get, $"/v2/checkout/orders/{payment.ProviderTradeNo}", null, null, ct, notFoundIsNull: true);
        if (CaptureOf(order)?["id"] is not { } captureId) return new ProviderRefundResult(RefundStatus.Failed, FailureReason: "capture_not_found");
        var body = new JsonObject
        {
            ["amount"] = Amount(new Money(request.Amount, Currency.Of(payment.Currency))),
            ["custom_id"] = request.RefundId, ["invoice_id"] = request.RefundId,
        };
        if (request.Reason is { Length: > 0 } reason) body["note_to_payer"] = reason.Length > 255 ? reason[..255] : reason;
        return RefundState(await SendAsync(HttpMethod.Post, $"/v2/payments/captures/{(string?)captureId}/refund", request.RefundId, body, ct));
    }

    /// <summary>The order lists its refunds; ours is the one whose custom_id is the refund id.</summary>
    public async Task<ProviderRefundResult> QueryRefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var order = request.Payment.ProviderTradeNo is null ? null
            : await SendAsync(HttpMethod.Get, $"/v2/checkout/orders/{request.Payment.ProviderTradeNo}", null, null, ct, notFoundIsNull: true);
        var refund = (order?["purchase_units"]?[0]?["payments"]?["refunds"] as JsonArray)?.OfType<JsonObject>()
            .FirstOrDefault(r => (string?)r["custom_id"] == request.RefundId);
        return refund is null ? new ProviderRefundResult(RefundStatus.Failed, FailureReason: "refund_not_found") : RefundState(refund);
    }

    /// <summary>Whether a settlement report can be fetched (<c>Providers:PayPal:ReportsBaseUrl</c>, or the simulator's).</summary>
    public bool ReadsReports => settings.ReportsBaseUrl is not null;

    /// <summary>
    /// The day's settlement report, as UTF-8 text: STL-yyyymmdd.01.008.CSV from <c>ReportsBaseUrl</c> and, while a file
    /// ends with its file footer (FF) but no report footer (RF), the next sequence (.02, …) appended. PayPal puts the files on an SFTP drop; KnowPay
    /// reads them over HTTP from a mirror of it. Null when the first file is not there yet (404); a file cut short is returned as
/// it is, for the parser to refuse.
    /// </summary>
    /// <exception cref="ProviderException">The mirror refused, or a file is not UTF-8.</exception>
    public async Task<string?> SettlementReportAsync(DateOnly day, CancellationToken ct)
    {
        var baseUrl = settings.ReportsBaseUrl ?? throw new InvalidOperationException("no Providers:PayPal:ReportsBaseUrl");
        var report = new StringBuilder();
        for (var sequence = 1; sequence <= 99; sequence++)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"STL-{day:yyyyMMdd}.{sequence:00}.008.CSV");
            using var request = new HttpRequestMessage(HttpMethod.Get, baseUrl.TrimEnd('/') + "/" + name);
            using var response = await ProviderHttp.SendAsync(http, request, Name, false, ct);
            if (response.StatusCode == HttpStatusCode.NotFound && sequence == 1) return null;
            if (!response.IsSuccessStatusCode)
                throw new ProviderException(Name, ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), $"{name} could not be read");
            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            string text;
            try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
            catch (DecoderFallbackException) { throw new ProviderException(Name, "report_not_utf8", $"{name} is not UTF-8 text"); }
            report.Append(text);
            // A file of a report split in several ends with its file footer (FF) and no report footer (RF); any other end is the last.
            if (!Has(text, "FF") || Has(text, "RF")) break;
        }
        return report.ToString();

        static bool Has(string text, string recordType) => text.Contains($"\n\"{recordType}\"", StringComparison.Ordinal);
    }

    public static JsonObject Amount(Money money) => new() { ["currency_code"] = money.Currency.Code, ["value"] = ProviderAmounts.ToProviderDecimal("paypal", money) };

    /// <summary>Parses a PayPal amount object exactly; null when the currency is unknown or the value has too many decimals.</summary>
    public static Money? ParseAmount(JsonNode? amount) =>
        Currency.TryFind((string?)amount?["currency_code"], out var currency) && Money.TryParseDecimal((string?)amount?["value"], currency, out var money)
            ? money : null;

    public static ProviderRefundResult RefundState(JsonObject? refund) => (string?)refund?["status"] switch
    {
        "COMPLETED" => new ProviderRefundResult(RefundStatus.Succeeded, (string?)refund!["id"]),
        "PENDING" => new ProviderRefundResult(RefundStatus.Pending, (string?)refund!["id"]),
        var other => new ProviderRefundResult(RefundStatus.Failed, (string?)refund?["id"], other ?? "unknown"),
    };

    static JsonObject? CaptureOf(JsonObject? order) => order?["purchase_units"]?[0]?["payments"]?["captures"]?[0] as JsonObject;

    /// <summary>Maps an order (from an answer, a capture or a webhook) to the common trade state.</summary>
    public static ProviderTradeState State(JsonObject? order)
    {
        if (order is null) return new ProviderTradeState(TradeStatus.NotFound);
        var capture = CaptureOf(order);
        var status = (string?)order["status"] switch
        {
            "COMPLETED" => (string?)capture?["status"] switch
            {
                "COMPLETED" or "PARTIALLY_REFUNDED" or "REFUNDED" => TradeStatus.Paid,
                "DECLINED" or "FAILED" => TradeStatus.Failed,
                _ => TradeStatus.Pending,
            },
            "VOIDED" => TradeStatus.Closed,
            _ => TradeStatus.Pending,
        };
        var money = status == TradeStatus.Paid ? ParseAmount(capture?["amount"]) : ParseAmount(order["purchase_units"]?[0]?["amount"]);
        return new ProviderTradeState(status, (string?)order["id"], money?.MinorUnits, money?.Currency.Code, null,
            status == TradeStatus.Failed ? "capture_declined" : null);
    }

    async Task<JsonObject?> SendAsync(HttpMethod method, string path, string? requestId, JsonObject? body, CancellationToken ct, bool notFoundIsNull = false)
    {
        for (var attempt = 0; ; attempt++)
        {
            var token = await tokens.GetAsync(http, settings, clock, ct);
            using var request = new HttpRequestMessage(method, settings.ApiBaseUrl.TrimEnd('/') + path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.TryAddWithoutValidation("Prefer", "return=representation");
            if (method == HttpMethod.Post)
            {
                request.Headers.TryAddWithoutValidation("PayPal-Request-Id", requestId ?? throw new ArgumentNullException(nameof(requestId)));
                request.Content = new StringContent((body ?? new JsonObject()).ToJsonString(), Encoding.UTF8, "application/json");
            }
            var response = await ProviderHttp.SendAsync(http, request, Name, method == HttpMethod.Post, ct);
            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                if (response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0)
                {
                    tokens.Invalidate(token);
                    continue;
                }
                return ProviderHttp.JsonAnswer(Name, response, text, notFoundIsNull, Error);
            }
        }
    }

    static (string? Code, string? Message) Error(string text)
    {
        try
        {
            var error = JsonNode.Parse(text);
            return ((string?)error?["details"]?[0]?["issue"] ?? (string?)error?["name"] ?? (string?)error?["error"],
                (string?)error?["details"]?[0]?["description"] ?? (string?)error?["message"] ?? (string?)error?["error_description"]);
        }
        catch (JsonException) { return (null, null); }
    }

    /// <summary>
    /// PayPal with <c>Providers:PayPal:ApiBaseUrl</c>, <c>ClientId</c>, <c>ClientSecret</c> and <c>WebhookId</c>, or — with
    /// the sandbox on and no credentials configured — with credentials generated at start and shared with the embedded
    /// PayPal simulator.
    /// </summary>
    public static void Register(ProviderWiring wiring)
    {
        var options = wiring.Options<PayPalOptions>();
        var sandbox = wiring.Sandbox;
        string? apiBaseUrl = ProviderWiring.Given(options.ApiBaseUrl), id = ProviderWiring.Given(options.ClientId),
            secret = ProviderWiring.Given(options.ClientSecret), webhookId = ProviderWiring.Given(options.WebhookId);
        var configured = id is not null && secret is not null && webhookId is not null;
        var none = id is null && secret is null && webhookId is null;
        if (!(configured && (apiBaseUrl is not null || sandbox is not null)) && !(none && sandbox is not null))
        {
            wiring.Disable("paypal", "Providers:PayPal:ApiBaseUrl, ClientId, ClientSecret and WebhookId must all be set");
            return;
        }
        if (sandbox is not null) (id, secret, webhookId) = sandbox.PayPal(id, secret, webhookId);
        wiring.Services.AddSingleton<PayPalTokens>();
        wiring.Services.AddSingleton<PayPalWebhookVerifier>();
        wiring.Add(HttpClientName, options,
            url => new PayPalSettings(apiBaseUrl ?? sandbox!.Url(url, "/paypal"), id!, secret!, webhookId!, options.Fee,
                ProviderWiring.Given(options.ReportsBaseUrl) ?? (apiBaseUrl is null ? sandbox?.Url(url, "/paypal/reports") : null)),
            (provider, http, settings) => new PayPalProvider(http, settings, provider.GetRequiredService<PayPalTokens>(),
                provider.GetRequiredService<TimeProvider>()));
    }
}

/// <summary>The OAuth2 client-credentials token, shared by all requests and cached until a minute before it expires.</summary>
public sealed class PayPalTokens
{
    readonly SemaphoreSlim gate = new(1, 1);
    (string Token, DateTimeOffset ExpiresAt)? current;

    public async Task<string> GetAsync(HttpClient http, PayPalSettings settings, TimeProvider clock, CancellationToken ct)
    {
        if (current is { } c && c.ExpiresAt > clock.GetUtcNow()) return c.Token;
        await gate.WaitAsync(ct);
        try
        {
            if (current is { } again && again.ExpiresAt > clock.GetUtcNow()) return again.Token;
            using var request = new HttpRequestMessage(HttpMethod.Post, settings.ApiBaseUrl.TrimEnd('/') + "/v1/oauth2/token")
            {
                Content = new FormUrlEncodedContent([new("grant_type", "client_credentials")]),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes(settings.ClientId + ":" + settings.ClientSecret)));
            var response = await ProviderHttp.SendAsync(http, request, "paypal", maybeApplied: false, ct);
            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                if (!response.IsSuccessStatusCode)
                    throw new ProviderException("paypal", "oauth_failed", $"HTTP {(int)response.StatusCode} from /v1/oauth2/token");
                var json = JsonNode.Parse(text)!;
                var token = (string?)json["access_token"] ?? throw new ProviderException("paypal", "oauth_failed", "no access_token");
                var expiresIn = (long?)json["expires_in"] ?? 0;
                current = (token, clock.GetUtcNow().AddSeconds(Math.Max(0, expiresIn - 60)));
                return token;
            }
        }
        finally { gate.Release(); }
    }

    public void Invalidate(string token)
    {
        if (current?.Token == token) current = null;
    }
}
