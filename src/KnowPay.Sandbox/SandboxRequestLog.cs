using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace KnowPay.Sandbox;

/// <summary>The API calls the simulated providers received (method, path and query), in order, the most recent <see cref="Capacity"/>: tests assert what reached a provider.</summary>
public sealed class SandboxRequestLog
{
    /// <summary>The most recent requests kept (older ones are dropped, so a long-running sandbox does not grow).</summary>
    public const int Capacity = 10_000;
    readonly ConcurrentQueue<string> requests = new();

    public void Record(HttpRequest request)
    {
        requests.Enqueue($"{request.Method} {request.Path}{request.QueryString}");
        while (requests.Count > Capacity && requests.TryDequeue(out _)) { }
    }

    public IReadOnlyList<string> Snapshot() => requests.ToArray();
}
