using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KnowPay.Tests.Events;

public sealed record ReceivedEvent(string EventId, string Type, JsonObject Body, bool SignatureValid);

/// <summary>
/// The platform's side: a real Kestrel listener on a fixed free port that checks KnowPay-Signature itself
/// (HMAC-SHA256 of "t.body" with the endpoint secret, written here independently of the server's code). It can be
/// stopped and started again on the same port, made to fail, and it records how many deliveries of one event overlap.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    readonly int port = PostgresServer.FreePort();
    readonly ConcurrentDictionary<string, int> inFlight = new();
    WebApplication? app;
    int maxOverlap;

    public string Url => $"http://127.0.0.1:{port}/hooks";
    public string? Secret { get; set; }
    public int StatusCode { get; set; } = 200;
    public int DelayMs { get; set; }
    public ConcurrentQueue<ReceivedEvent> Received { get; } = new();
    /// <summary>The most deliveries of one event that were in progress at the same time (1 = never concurrently duplicated).</summary>
    public int MaxOverlap => maxOverlap;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        await receiver.UpAsync();
        return receiver;
    }

    public async Task UpAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        app = builder.Build();
        app.MapPost("/hooks", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var json = JsonNode.Parse(body)!.AsObject();
            var id = (string)json["id"]!;
            var overlap = inFlight.AddOrUpdate(id, 1, (_, n) => n + 1);
            InterlockedMax(ref maxOverlap, overlap);
            try
            {
                if (DelayMs > 0) await Task.Delay(DelayMs);
                if (StatusCode is >= 200 and < 300)
                    Received.Enqueue(new ReceivedEvent(id, (string)json["type"]!, json, Verify(http.Request.Headers["KnowPay-Signature"], body)));
                return Results.StatusCode(StatusCode);
            }
            finally { inFlight.AddOrUpdate(id, 0, (_, n) => n - 1); }
        });
        await app.StartAsync();
    }

    public async Task DownAsync()
    {
        if (app is null) return;
        await app.StopAsync();
        await app.DisposeAsync();
        app = null;
    }

    bool Verify(string? header, string body)
    {
        if (Secret is null || header is null) return false;
        var parts = header.Split(',').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToList();
        var t = parts.FirstOrDefault(p => p[0] == "t")?[1];
        if (t is null || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - long.Parse(t, CultureInfo.InvariantCulture)) > 300) return false;
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes(t + "." + body)));
        return parts.Any(p => p[0] == "v1" && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(p[1]), Encoding.ASCII.GetBytes(expected)));
    }

    static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }

    /// <summary>Waits until the received events satisfy the condition, or fails after the timeout.</summary>
    public async Task<List<ReceivedEvent>> WaitForAsync(Func<List<ReceivedEvent>, bool> done, int timeoutMs = 15_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            var now = Received.ToList();
            if (done(now)) return now;
            if (DateTime.UtcNow > until) Assert.Fail($"receiver got {now.Count} events ({string.Join(", ", now.Select(e => e.Type))}) before the timeout");
            await Task.Delay(50);
        }
    }

    public ValueTask DisposeAsync() => new(DownAsync());
}

public static class WebhookClient
{
    /// <summary>Registers the receiver as a webhook endpoint of the merchant and gives it the secret shown once.</summary>
    public static async Task<string> RegisterAsync(this MerchantClient m, WebhookReceiver receiver, params string[] types)
    {
        var endpoint = await m.PostOkAsync("/v1/webhook-endpoints", new { url = receiver.Url, event_types = types.Length == 0 ? ["*"] : types });
        var secret = (string)endpoint["secret"]!;
        Assert.StartsWith("whsec_", secret);
        receiver.Secret = secret;
        return (string)endpoint["id"]!;
    }

    /// <summary>A paid course order; returns (order id, payment id).</summary>
    public static async Task<(string OrderId, string PaymentId, string CreatorId, string ProductId)> PaidOrderAsync(this MerchantClient m, long amount = 9900,
        string customer = "learner-1")
    {
        var (creatorId, productId) = await m.CourseAsync(7000, (amount, "CNY"));
        var order = await m.OrderAsync(productId, customer: customer);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return ((string)order["id"]!, (string)payment["id"]!, creatorId, productId);
    }
}
