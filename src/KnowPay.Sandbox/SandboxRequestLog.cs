using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace KnowPay.Sandbox;

/// <summary>The API calls the simulated providers received (method, path and query), in order, the most recent <see cref="Capacity"/>: tests assert what reached a provider.</summary>
public sealed class SandboxRequestLog
{
    /// <summary>The most recent requests kept (older ones are dropped, so a long-running sandbox does not grow).</summary>
    public const int Capacity = 10_000;
    readonly ConcurrentQueue<string> requests = new();

    public void Record(HttpRequest request) => Record($"{request.Method} {request.Path}{request.QueryString}");

    /// <summary>A simulator's own line about a request, e.g. what its verified body asked for (the path alone does not say).</summary>
    public void Record(string entry)
    {
        requests.Enqueue(entry);
        while (requests.Count > Capacity && requests.TryDequeue(out _)) { }
    }

    public IReadOnlyList<string> Snapshot() => requests.ToArray();
}
