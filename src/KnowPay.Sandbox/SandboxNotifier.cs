using System.Collections.Concurrent;
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

    /// <summary>Payment notifications held back by <see cref="FaultSettings.ReorderRefundBeforePayment"/>, by provider and trade.</summary>
    readonly ConcurrentDictionary<(string Provider, string TradeKey), Action> held = new();

    /// <summary>
    /// Sends a trade's payment notification; under <see cref="FaultSettings.ReorderRefundBeforePayment"/> holds it until
    /// the trade's refund notification has gone out (or 2 s pass), so that the merchant sees the refund first.
    /// </summary>
    public void SendPayment(OutgoingNotification notification)
    {
        if (!faults.For(notification.TradeKey).ReorderRefundBeforePayment)
        {
            Send(notification);
            return;
        }
        var key = (notification.Provider, notification.TradeKey);
        var once = 0;
        Action release = () => { if (Interlocked.Exchange(ref once, 1) == 0) Send(notification); };
        held[key] = release;
        _ = Task.Delay(2000).ContinueWith(_ =>
        {
            held.TryRemove(KeyValuePair.Create(key, release));
            release();
        }, TaskScheduler.Default);
    }

    /// <summary>Sends a refund notification, then (300 ms later) the trade's payment notification if one is held.</summary>
    public void SendRefund(OutgoingNotification notification)
    {
        Send(notification);
        if (held.TryRemove((notification.Provider, notification.TradeKey), out var release))
            _ = Task.Delay(300).ContinueWith(_ => release(), TaskScheduler.Default);
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
public sealed class SandboxClock(double compression, TimeProvider? time = null)
{
    public double Compression { get; } = compression <= 0 ? 1 : compression;

    public TimeSpan Compress(TimeSpan delay) => TimeSpan.FromMilliseconds(Math.Max(1, delay.TotalMilliseconds / Compression));

    /// <summary>The host's clock when it has one, so that signature timestamps agree with the merchant's under a test clock.</summary>
    public DateTimeOffset Now => (time ?? TimeProvider.System).GetUtcNow();
}
