using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace KnowPay.Sandbox;

/// <summary>One notification a simulated provider owes a merchant, rebuilt (and re-signed where the provider does) on each attempt.</summary>
public sealed record OutgoingNotification(
    string Provider,
    string TradeKey,
    string Url,
    Func<HttpRequestMessage> Build,
    Func<HttpResponseMessage, string, bool> Acknowledged,
    IReadOnlyList<TimeSpan> RetrySchedule);

/// <summary>
/// Delivers notifications like the real providers: at once, then again on the provider's own retry schedule
/// until acknowledged, with every delay divided by <c>Sandbox:TimeCompression</c>. Applies the fault settings.
/// </summary>
public sealed class SandboxNotifier(IHttpClientFactory http, SandboxFaults faults, SandboxClock clock, ILogger<SandboxNotifier> log)
{
    public void Send(OutgoingNotification notification)
    {
        var fault = faults.For(notification.TradeKey);
        if (fault.DropNotifications)
        {
            log.LogInformation("Sandbox {Provider}: dropping notification for {Trade} (fault injection)", notification.Provider, notification.TradeKey);
            return;
        }
        var copies = 1 + Math.Max(0, fault.DuplicateNotifications);
        for (var i = 0; i < copies; i++)
        {
            var delay = TimeSpan.FromMilliseconds(fault.NotificationDelayMs + i * fault.DuplicateSpacingMs);
            _ = Task.Run(() => DeliverAsync(notification, delay));
        }
    }

    async Task DeliverAsync(OutgoingNotification n, TimeSpan initialDelay)
    {
        if (initialDelay > TimeSpan.Zero) await Task.Delay(initialDelay);
        for (var attempt = 0; attempt <= n.RetrySchedule.Count; attempt++)
        {
            if (attempt > 0) await Task.Delay(clock.Compress(n.RetrySchedule[attempt - 1]));
            try
            {
                using var request = n.Build();
                using var response = await http.CreateClient("sandbox-notifier").SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (n.Acknowledged(response, body)) return;
                log.LogInformation("Sandbox {Provider}: notification for {Trade} not acknowledged ({Status}); attempt {Attempt}",
                    n.Provider, n.TradeKey, (int)response.StatusCode, attempt + 1);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                log.LogInformation("Sandbox {Provider}: notification for {Trade} failed ({Error}); attempt {Attempt}", n.Provider, n.TradeKey, e.Message, attempt + 1);
            }
        }
        log.LogWarning("Sandbox {Provider}: gave up notifying {Trade} after {Count} attempts", n.Provider, n.TradeKey, n.RetrySchedule.Count + 1);
    }

    public static HttpRequestMessage Post(string url, string body, string contentType, IEnumerable<KeyValuePair<string, string>>? headers = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        foreach (var (k, v) in headers ?? []) request.Headers.TryAddWithoutValidation(k, v);
        return request;
    }
}

/// <summary>The sandbox's sense of time: real time, with retry delays divided by <c>Sandbox:TimeCompression</c>.</summary>
public sealed class SandboxClock(double compression)
{
    public double Compression { get; } = compression <= 0 ? 1 : compression;

    public TimeSpan Compress(TimeSpan delay) => TimeSpan.FromMilliseconds(Math.Max(1, delay.TotalMilliseconds / Compression));

    public DateTimeOffset Now => DateTimeOffset.UtcNow;
}
