using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace KnowPay.Sandbox;

/// <summary>Every API call the simulated providers received (method, path and query), in order: tests assert what reached a provider.</summary>
public sealed class SandboxRequestLog
{
    readonly ConcurrentQueue<string> requests = new();

    public void Record(HttpRequest request) => requests.Enqueue($"{request.Method} {request.Path}{request.QueryString}");

    public IReadOnlyList<string> Snapshot() => requests.ToArray();
}
