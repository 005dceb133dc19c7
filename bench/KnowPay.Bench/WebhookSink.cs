using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KnowPay.Bench;

/// <summary>
/// The platform's side of the webhooks (<c>--webhooks</c>): an HTTP endpoint in the load generator's process, registered
/// for every event type, to which KnowPay's dispatcher delivers. Like a platform it checks each signature
/// (<c>KnowPay-Signature: t=…,v1=HMAC-SHA256(secret, "t.body")</c>) and answers 200; it counts the distinct
/// <c>order.paid</c> events, so that the runner can check that every paid order was announced.
/// </summary>
sealed class WebhookSink : IAsyncDisposable
{
    readonly WebApplication app;
    readonly ConcurrentDictionary<string, byte> paidOrders = new(StringComparer.Ordinal);
    long deliveries, badSignatures;

    WebhookSink(WebApplication app, string url) => (this.app, Url) = (app, url);

    public string Url { get; }
    public byte[] Secret { get; set; } = [];
    public long Deliveries => Interlocked.Read(ref deliveries);
    public long BadSignatures => Interlocked.Read(ref badSignatures);
    public int PaidOrdersAnnounced => paidOrders.Count;

    public static async Task<WebhookSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var port = Shell.FreePort();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var sink = new WebhookSink(app, $"http://127.0.0.1:{port}/knowpay-events");
        app.MapPost("/knowpay-events", sink.ReceiveAsync);
        await app.StartAsync();
        return sink;
    }

    async Task<IResult> ReceiveAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        Interlocked.Increment(ref deliveries);
        if (!SignatureHolds(request.Headers["KnowPay-Signature"].ToString(), body))
        {
            Interlocked.Increment(ref badSignatures);
            return Results.StatusCode(400);
        }
        using var doc = JsonDocument.Parse(body);
        if (doc.RootElement.GetProperty("type").GetString() == "order.paid")
            paidOrders.TryAdd(doc.RootElement.GetProperty("data").GetProperty("id").GetString()!, 0);
        return Results.Ok();
    }

    /// <summary>True when one of the header's <c>v1</c> signatures (two while a secret rotates) is ours over <c>t.body</c>.</summary>
    bool SignatureHolds(string header, byte[] body)
    {
        var parts = header.Split(',');
        var t = parts.FirstOrDefault(p => p.StartsWith("t=", StringComparison.Ordinal))?[2..];
        if (t is null || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out _)) return false;
        var signed = new byte[t.Length + 1 + body.Length];
        Encoding.ASCII.GetBytes(t + ".", signed);
        body.CopyTo(signed, t.Length + 1);
        var expected = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(HMACSHA256.HashData(Secret, signed)));
        return parts.Where(p => p.StartsWith("v1=", StringComparison.Ordinal))
            .Any(p => CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(p[3..])));
    }

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
