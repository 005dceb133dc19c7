namespace KnowPay.Providers;

public static class ProviderHttp
{
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
}
