using System.Diagnostics;

namespace KnowPay.Providers.Sandbox;

/// <summary>
/// Server-side duration of each sandbox notification (signature check → confirmation committed → answer ready),
/// kept so the benchmark can report notification-handling percentiles measured inside KnowPay, not through the
/// client's polling. Bounded (the newest 200,000 samples are kept); only exposed when the sandbox is enabled, at
/// GET /sandbox/stats/notify (percentiles) and DELETE /sandbox/stats/notify (reset).
/// </summary>
public static class NotifyTimings
{
    const int Capacity = 200_000;
    static readonly double[] Samples = new double[Capacity];
    static long count;

    public static long Start() => Stopwatch.GetTimestamp();

    public static void Stop(long started)
    {
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var i = Interlocked.Increment(ref count) - 1;
        Samples[i % Capacity] = ms;
    }

    public static void Reset() => Interlocked.Exchange(ref count, 0);

    public static object Snapshot()
    {
        var n = (int)Math.Min(Interlocked.Read(ref count), Capacity);
        var copy = Samples.AsSpan(0, n).ToArray();
        Array.Sort(copy);
        double P(double q) => n == 0 ? 0 : copy[Math.Min(n - 1, (int)Math.Ceiling(q * n) - 1)];
        return new { count = n, p50_ms = P(0.50), p99_ms = P(0.99), max_ms = n == 0 ? 0 : copy[^1] };
    }

    public static void Map(IEndpointRouteBuilder sandbox)
    {
        sandbox.MapGet("/stats/notify", () => Results.Json(Snapshot())).ExcludeFromDescription();
        sandbox.MapDelete("/stats/notify", () =>
        {
            Reset();
            return Results.NoContent();
        }).ExcludeFromDescription();
    }
}
