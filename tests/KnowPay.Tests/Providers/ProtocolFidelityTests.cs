using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.Stripe;
using KnowPay.Providers.WeChatPay;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Alipay;
using KnowPay.Sandbox.Stripe;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// What the real providers refuse or stop sending, over real HTTP against the embedded sandboxes: WeChat Pay's
/// User-Agent/Accept rule and its two verification keys (platform certificate and PUB_KEY_ID_), Alipay's seller_id, and
/// Stripe's refund events of the pinned API version (no refunds embedded in charge.refunded).
/// </summary>
[Collection("server")]
public sealed class ProtocolFidelityTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WeChatPay_SandboxRefusesARequestWithoutUserAgentOrAccept_AndKnowPaySendsBothToEveryProvider(Db db)
    {
        var server = await servers.Get(db);
        var settings = server.Services.GetRequiredService<WeChatPaySettings>();
        var path = new Uri(settings.ApiBaseUrl).AbsolutePath.TrimEnd('/') + "/v3/pay/transactions/native";

        foreach (var (userAgent, accept) in new[] { ((string?)null, (string?)"application/json"), ("KnowPay.Tests/1.0", null), (null, null) })
        {
            using var request = SignedRequest(settings, HttpMethod.Post, path, "{}", userAgent, accept);
            var refused = await server.Anonymous.SendAsync(request);
            var body = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("INVALID_REQUEST", (string?)body["code"]);
            Assert.Equal("Http头缺少Accept或User-Agent", (string?)body["message"]);
        }
        // With both headers the same request gets past them to the body's checks.
        using (var complete = SignedRequest(settings, HttpMethod.Post, path, "{}", "KnowPay.Tests/1.0", "application/json"))
        {
            var answer = await server.Anonymous.SendAsync(complete);
            Assert.Equal("APPID_MCHID_NOT_MATCH", (string?)JsonNode.Parse(await answer.Content.ReadAsStringAsync())!["code"]);
        }

        // KnowPay's own calls pass: a WeChat Pay order starts and is paid.
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "wechatpay", "qr");
        Assert.StartsWith("weixin://", (string?)payment["next_action"]!["qr_code"]);
        await WeChatBuyerPays(server, (string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");

        // Every provider's client sends them (one place: ProviderHttp.AddProviderHttpClient).
        var factory = server.Services.GetRequiredService<IHttpClientFactory>();
        foreach (var name in new[] { "provider-sandbox", AlipayProvider.HttpClientName, WeChatPayProvider.HttpClientName, StripeProvider.HttpClientName,
                     KnowPay.Providers.PayPal.PayPalProvider.HttpClientName })
        {
            using var client = factory.CreateClient(name);
            Assert.Contains(client.DefaultRequestHeaders.UserAgent, p => p.Product?.Name == "KnowPay" && !string.IsNullOrEmpty(p.Product.Version));
            Assert.Contains(client.DefaultRequestHeaders.Accept, a => a.MediaType == "application/json");
        }
    }

    // --- WeChat Pay ---

    static HttpRequestMessage SignedRequest(WeChatPaySettings s, HttpMethod method, string pathAndQuery, string body, string? userAgent, string? accept,
        string? serial = null)
    {
        var request = new HttpRequestMessage(method, pathAndQuery);
        if (method != HttpMethod.Get) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        request.Headers.TryAddWithoutValidation("Authorization", WeChatPaySignature.Authorization(s.MchId, s.MerchantSerialNo, s.PrivateKeyPem,
            method.Method, pathAndQuery, body, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), WeChatPaySignature.Nonce()));
        if (userAgent is not null) request.Headers.UserAgent.ParseAdd(userAgent);
        if (accept is not null) request.Headers.Accept.ParseAdd(accept);
        if (serial is not null) request.Headers.TryAddWithoutValidation("Wechatpay-Serial", serial);
        return request;
    }

    static async Task WeChatBuyerPays(KnowPayServer server, string paymentId)
    {
        var r = await server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/{paymentId}/pay", null);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }
}
