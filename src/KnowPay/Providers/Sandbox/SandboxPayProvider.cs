using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Payouts;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.Sandbox;

/// <summary>
/// Adapter for SandboxPay, the generic test provider (<c>provider: "sandbox"</c>). Every request is signed
/// (SandboxPay-Signature over "t.METHOD PATH.body"), every response signature is verified before it is read.
/// All calls are idempotent at the provider (keyed by out_trade_no / out_refund_no), so they may be retried.
/// </summary>
public sealed partial class SandboxPayProvider(HttpClient http, SandboxPaySettings settings, TimeProvider clock) : IPaymentProvider, IRecurringProvider
{
    public const string HttpClientName = "provider-sandbox";
    public string Name => "sandbox";
    public IReadOnlyCollection<string> Methods { get; } = ["qr", "page"];
    public ProviderFee Fee => settings.Fee;

    public async Task<PaymentStarted> StartAsync(PaymentStart request, CancellationToken ct)
    {
        var trade = await SendAsync(HttpMethod.Post, "/v1/trades", new JsonObject
        {
            ["out_trade_no"] = request.Payment.Id,
            ["amount"] = request.Payment.Amount,
            ["currency"] = request.Payment.Currency,
            ["subject"] = request.Subject,
            ["notify_url"] = request.NotifyUrl,
            ["method"] = request.Payment.Method,
        }, ct) ?? throw new ProviderException(Name, "empty_response", "no trade in the answer");
        var tradeNo = (string?)trade["trade_no"];
        return request.Payment.Method == "page"
            ? new PaymentStarted(tradeNo, RedirectUrl: (string?)trade["pay_url"])
            : new PaymentStarted(tradeNo, QrCode: (string?)trade["qr_code"], RedirectUrl: (string?)trade["pay_url"]);
    }

    public async Task<ProviderTradeState> QueryAsync(Payment payment, CancellationToken ct) =>
        State(await SendAsync(HttpMethod.Get, $"/v1/trades/{payment.Id}", null, ct, notFoundIsNull: true));

    public async Task<ProviderTradeState> CloseAsync(Payment payment, CancellationToken ct) =>
        State(await SendAsync(HttpMethod.Post, $"/v1/trades/{payment.Id}/close", null, ct, notFoundIsNull: true));

    public async Task<ProviderRefundResult> RefundAsync(ProviderRefund request, CancellationToken ct) =>
        RefundState(await SendAsync(HttpMethod.Post, "/v1/refunds", new JsonObject
        {
            ["out_trade_no"] = request.Payment.Id, ["out_refund_no"] = request.RefundId, ["amount"] = request.Amount, ["reason"] = request.Reason,
        }, ct));

    public async Task<ProviderRefundResult> QueryRefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var refund = await SendAsync(HttpMethod.Get, $"/v1/refunds/{request.RefundId}", null, ct, notFoundIsNull: true);
        return refund is null ? new ProviderRefundResult(RefundStatus.Failed, FailureReason: "refund_not_found") : RefundState(refund);
    }

    static ProviderRefundResult RefundState(JsonObject? r) => (string?)r?["status"] switch
    {
        "SUCCESS" => new ProviderRefundResult(RefundStatus.Succeeded, (string?)r!["refund_no"]),
        "PROCESSING" => new ProviderRefundResult(RefundStatus.Pending, (string?)r!["refund_no"]),
        _ => new ProviderRefundResult(RefundStatus.Failed, (string?)r?["refund_no"], (string?)r?["status"]),
    };

    /// <summary>Maps a SandboxPay trade object (also the notification's data) to the common trade state.</summary>
    public static ProviderTradeState State(JsonObject? trade)
    {
        if (trade is null) return new ProviderTradeState(TradeStatus.NotFound);
        var status = (string?)trade["status"] switch
        {
            "PAID" or "REFUNDED" => TradeStatus.Paid,
            "CLOSED" => TradeStatus.Closed,
            "WAIT_PAY" => TradeStatus.Pending,
            _ => TradeStatus.Failed,
        };
        var paidAt = (long?)trade["paid_at"] is { } unix ? DateTimeOffset.FromUnixTimeSeconds(unix).UtcDateTime : (DateTime?)null;
        return new ProviderTradeState(status, (string?)trade["trade_no"], (long?)trade["amount"], (string?)trade["currency"], paidAt);
    }

    async Task<JsonObject?> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken ct, bool notFoundIsNull = false) =>
        await SendTextAsync(method, path, body, ct, notFoundIsNull) is { } text ? JsonNode.Parse(text)?.AsObject() : null;

    /// <summary>The answer's body once its signature verified; null for a 404 when <paramref name="notFoundIsNull"/>.</summary>
    async Task<string?> SendTextAsync(HttpMethod method, string path, JsonObject? body, CancellationToken ct, bool notFoundIsNull = false)
    {
        var json = body?.ToJsonString() ?? "";
        var uri = new Uri(settings.ApiBaseUrl.TrimEnd('/') + path);
        using var request = new HttpRequestMessage(method, uri);
        if (body is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        request.Headers.TryAddWithoutValidation("SandboxPay-Signature",
            HmacSignature.Sign(settings.Secret, $"{method.Method} {uri.AbsolutePath}{uri.Query}.{json}", clock.GetUtcNow()));
        var response = await ProviderHttp.SendAsync(http, request, Name, true, ct);
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode == System.Net.HttpStatusCode.NotFound && notFoundIsNull) return null;
            if (!response.IsSuccessStatusCode)
                throw ProviderHttp.Refused(Name, response, TryCode(text));
            var signature = response.Headers.TryGetValues("SandboxPay-Signature", out var values) ? values.FirstOrDefault() : null;
            if (!HmacSignature.Verify(settings.Secret, signature, text, clock.GetUtcNow(), ProviderProtocol.SignatureTolerance))
                throw new ProviderException(Name, "response_signature_invalid", "the response signature did not verify; the answer is ignored");
            return text;
        }
    }

    static string? TryCode(string text)
    {
        try { return (string?)JsonNode.Parse(text)?["error"]; }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// SandboxPay with <c>Providers:Sandbox:ApiBaseUrl</c> and <c>Secret</c>, or on the embedded simulator (the secret
    /// generated at start unless configured). Its transfers are the payout rail.
    /// </summary>
    public static void Register(ProviderWiring wiring)
    {
        var options = wiring.Options<SandboxPayOptions>();
        var sandbox = wiring.Sandbox;
        string? apiBaseUrl = ProviderWiring.Given(options.ApiBaseUrl), secret = ProviderWiring.Given(options.Secret);
        if (sandbox is not null) secret = sandbox.SandboxPay(secret);
        else if (apiBaseUrl is null || secret is null)
        {
            wiring.Disable("sandbox", "Providers:Sandbox:ApiBaseUrl and Secret are not set");
            return;
        }
        wiring.Add(HttpClientName, options,
            url => new SandboxPaySettings(apiBaseUrl ?? sandbox!.Url(url, "/sandboxpay"), secret!, options.Fee),
            (provider, http, settings) => new SandboxPayProvider(http, settings, provider.GetRequiredService<TimeProvider>()));
        wiring.Services.AddProviderHttpClient(SandboxPayTransferClient.HttpClientName, TimeSpan.FromMilliseconds(options.TimeoutMs));
        wiring.Services.AddScoped<IPayoutRail>(provider => new SandboxPayTransferClient(
            provider.GetRequiredService<IHttpClientFactory>().CreateClient(SandboxPayTransferClient.HttpClientName),
            provider.GetRequiredService<SandboxPaySettings>(), provider.GetRequiredService<PublicUrl>(), provider.GetRequiredService<TimeProvider>()));
    }
}

/// <summary><c>Providers:Sandbox:*</c>: ApiBaseUrl, Secret, FeeBps, FeeFixed.</summary>
public sealed record SandboxPaySettings(string ApiBaseUrl, string Secret, ProviderFee Fee);
