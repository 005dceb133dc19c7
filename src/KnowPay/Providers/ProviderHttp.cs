using System.Net.Http.Headers;

namespace KnowPay.Providers;

public static class ProviderHttp
{
    /// <summary>KnowPay/&lt;version&gt;: WeChat Pay API v3 refuses a request without a User-Agent (400 INVALID_REQUEST).</summary>
    public static readonly ProductInfoHeaderValue UserAgent =
        new("KnowPay", typeof(ProviderHttp).Assembly.GetName().Version?.ToString(3) ?? "1.0.0");

    /// <summary>
    /// The HttpClient of a provider: a per-attempt timeout (<c>Providers:&lt;Name&gt;:TimeoutMs</c>), a total of four
    /// attempts' worth but at least 20 s, and retries on transient failures, which is safe because every provider call is
    /// idempotent at the provider (an idempotency key, the merchant's trade number, or a query). No HttpClientFactory
    /// request logging (two log scopes per call on the hot path): every call is timed by
    /// <c>knowpay.provider.call.duration</c> and every failure is logged by the adapter. Every request carries
    /// <c>User-Agent</c> and <c>Accept: application/json</c> unless it sets its own.
    /// </summary>
    public static IHttpClientBuilder AddProviderHttpClient(this IServiceCollection services, string name, TimeSpan attemptTimeout)
    {
        var builder = services.AddHttpClient(name, client =>
        {
            client.DefaultRequestHeaders.UserAgent.Add(UserAgent);
            client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        }).RemoveAllLoggers();
        builder.AddStandardResilienceHandler(o =>
        {
            o.AttemptTimeout.Timeout = attemptTimeout;
            o.TotalRequestTimeout.Timeout = attemptTimeout * 4 > TimeSpan.FromSeconds(20) ? attemptTimeout * 4 : TimeSpan.FromSeconds(20);
            o.CircuitBreaker.SamplingDuration = attemptTimeout * 2 > TimeSpan.FromSeconds(30) ? attemptTimeout * 2 : TimeSpan.FromSeconds(30);
            o.Retry.MaxRetryAttempts = 2;
            o.Retry.Delay = TimeSpan.FromMilliseconds(200);
        });
        return builder;
    }

    /// <summary>
    /// Sends a provider request through the resilient client; a transport failure (unreachable, timeout, open circuit)
    /// becomes a <see cref="ProviderException"/> "unreachable", never a raw exception that would surface as a 500.
    /// <paramref name="maybeApplied"/> says whether the provider may have acted on a request whose answer was lost.
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, string provider, bool maybeApplied, CancellationToken ct)
    {
        try
        {
            return await http.SendAsync(request, ct);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or TimeoutException
                                      or Polly.Timeout.TimeoutRejectedException or Polly.CircuitBreaker.BrokenCircuitException
                                  && !ct.IsCancellationRequested)
        {
            throw new ProviderException(provider, "unreachable", e.Message, maybeApplied);
        }
    }

    /// <summary>
    /// The exception for a non-2xx answer: the provider's own error code when it gave one (else the HTTP status), and
    /// "may have been applied" for a 5xx only — a 4xx is a refusal that changed nothing at the provider.
    /// </summary>
    public static ProviderException Refused(string provider, HttpResponseMessage response, string? code, string? message = null)
    {
        var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new ProviderException(provider, code ?? status, message is null ? $"HTTP {status}" : $"HTTP {status}: {message}",
            maybeApplied: (int)response.StatusCode >= 500);
    }

    /// <summary>
    /// The JSON object of a 2xx answer; null for a 404 the caller expects (a lookup of something absent); otherwise the
    /// provider's refusal with its own error code, read by <paramref name="error"/>.
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject? JsonAnswer(string provider, HttpResponseMessage response, string text, bool notFoundIsNull,
        Func<string, (string? Code, string? Message)> error)
    {
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound && notFoundIsNull) return null;
        if (!response.IsSuccessStatusCode)
        {
            var (code, message) = error(text);
            throw Refused(provider, response, code, message);
        }
        try { return System.Text.Json.Nodes.JsonNode.Parse(text)?.AsObject(); }
        catch (System.Text.Json.JsonException) { throw new ProviderException(provider, "invalid_response", "the answer is not JSON"); }
    }
}
