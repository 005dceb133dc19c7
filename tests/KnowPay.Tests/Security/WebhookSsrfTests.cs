using KnowPay.Data;
using KnowPay.Features.Webhooks;
using KnowPay.Tests.Events;
using KnowPay.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Security;

/// <summary>A merchant cannot make KnowPay reach the internal network through webhook URLs, nor learn about it from delivery outcomes.</summary>
public sealed class WebhookSsrfTests
{
    static Task<KnowPayServer> ServerAsync(bool allowPrivateNetworks, bool requireHttps = false) => KnowPayServer.StartAsync(Db.Sqlite, new Dictionary<string, string?>
    {
        ["Webhooks:AllowPrivateNetworks"] = allowPrivateNetworks ? "true" : "false",
        ["Webhooks:RequireHttps"] = requireHttps ? "true" : "false",
        ["Webhooks:DispatcherEnabled"] = "false",
    });

    [SkippableFact]
    public async Task WebhookUrls_ToLoopbackPrivateOrLinkLocalAddresses_AreRefused()
    {
        await using var server = (await ServerAsync(allowPrivateNetworks: false))!;
        var m = await server.NewMerchantAsync();
        string[] internalUrls =
        [
            "http://127.0.0.1:5432/", "http://localhost:8080/hooks", "http://10.0.0.5/hooks", "http://172.16.3.4/", "http://192.168.1.1/admin",
            "http://169.254.169.254/latest/meta-data/", "http://100.64.1.1/", "http://0.0.0.0:22/", "http://[::1]:6379/", "http://[fd00::1]/",
            "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:a00:1]/", "http://224.0.0.1/", "http://2130706433/",
        ];
        foreach (var url in internalUrls)
        {
            var response = await m.PostAsync("/v1/webhook-endpoints", new { url, event_types = new[] { "*" } });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode == 400, $"{url} → {(int)response.StatusCode}: {body}");
            Assert.Equal("webhook_url_forbidden", (string?)Json.Parse(body)["code"]);
        }
        Assert.Empty((await m.GetOkAsync("/v1/webhook-endpoints"))["data"]!.AsArray());
    }

    [SkippableFact]
    public async Task WebhookUrls_OverPlainHttp_AreRefusedOutsideDevelopment()
    {
        await using var server = (await ServerAsync(allowPrivateNetworks: true, requireHttps: true))!;
        var m = await server.NewMerchantAsync();
        var response = await m.PostAsync("/v1/webhook-endpoints", new { url = "http://127.0.0.1:9/hooks", event_types = new[] { "*" } });
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("webhook_url_forbidden", (string?)Json.Parse(await response.Content.ReadAsStringAsync())["code"]);
    }

    [SkippableFact]
    public async Task AnEndpointWhoseHostNowResolvesToLoopback_IsNotConnectedTo_AndTheOutcomeSaysOnlyAddressForbidden()
    {
        await using var server = (await ServerAsync(allowPrivateNetworks: false))!;
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        // As if the name pointed to a public address when registered and to loopback now (DNS rebinding).
        await server.QueryAsync(async db =>
        {
            db.WebhookEndpoints.Add(new WebhookEndpoint
            {
                Id = global::KnowPay.Domain.Ids.New("we"), MerchantId = m.MerchantId, Url = receiver.Url.Replace("127.0.0.1", "localhost"),
                EventTypes = "*", Secret = WebhookEndpoints.NewSecret(), CreatedAt = DateTime.UtcNow.AddMinutes(-1),
            });
            return await db.SaveChangesAsync();
        });
        await m.PaidOrderAsync();
        await server.Services.GetRequiredService<WebhookDispatcher>().RunOnceAsync(DateTime.UtcNow, default);

        Assert.Empty(receiver.Received);
        var eventId = (string)(await m.GetOkAsync("/v1/events?type=order.paid"))["data"]![0]!["id"]!;
        var delivery = (await m.GetOkAsync($"/v1/events/{eventId}/deliveries"))["data"]![0]!;
        Assert.Equal("pending", (string?)delivery["status"]);
        Assert.Equal("address_forbidden", (string?)delivery["last_error"]);
    }

    [SkippableFact]
    public async Task DeliveryOutcomes_ShowAFixedWord_NotTheNetworkErrorText()
    {
        await using var server = (await ServerAsync(allowPrivateNetworks: true))!;
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        await m.RegisterAsync(receiver, "order.paid");
        await receiver.DownAsync();
        await m.PaidOrderAsync();
        var dispatcher = server.Services.GetRequiredService<WebhookDispatcher>();
        var t = DateTime.UtcNow;
        await dispatcher.RunOnceAsync(t, default);
        var eventId = (string)(await m.GetOkAsync("/v1/events?type=order.paid"))["data"]![0]!["id"]!;
        async Task<string?> LastError() => (string?)(await m.GetOkAsync($"/v1/events/{eventId}/deliveries"))["data"]![0]!["last_error"];
        Assert.Equal("connection_failed", await LastError());

        receiver.StatusCode = 500;
        await receiver.UpAsync();
        await dispatcher.RunOnceAsync(t.AddMinutes(5), default);
        Assert.Equal("http_500", await LastError());
    }
}
