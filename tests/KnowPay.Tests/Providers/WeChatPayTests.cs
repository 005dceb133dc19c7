using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>KnowPay's WeChat Pay v3 adapter against the WeChat Pay sandbox, over real HTTP, with keys generated at start.</summary>
[Collection("server")]
public sealed class WeChatPayTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task NativePayment_CodeUrlThenBuyerPays_EncryptedNotificationConfirmsTheOrderOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "wechatpay", "qr");
        Assert.StartsWith("weixin://wxpay/bizpayurl?pr=", (string?)payment["next_action"]!["qr_code"]);
        var page = await server.Anonymous.GetStringAsync($"/sandbox/wechatpay/pay/{payment["id"]}");
        Assert.Contains("id=\"pay\"", page);

        await BuyerPays(server, (string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        var stored = await server.QueryAsync(d => d.Payments.SingleAsync(p => p.Id == (string)payment["id"]!));
        Assert.Equal(PaymentStatus.Succeeded, stored.Status);
        Assert.Equal("notification", stored.ConfirmedBy);
        Assert.StartsWith("42000", stored.ProviderTradeNo);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    [SkippableFact]
    public async Task Refunds_TwoPartialsAndAFull_ThroughTheAdapter_MatchTheSandboxState()
    {
        var server = await servers.Get(Db.Sqlite);
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var first = await PaidPaymentAsync(server, m, productId);
        var second = await PaidPaymentAsync(server, m, productId);
        await using var scope = server.Services.CreateAsyncScope();
        var wechat = scope.ServiceProvider.GetRequiredService<PaymentProviders>()["wechatpay"];

        var r1 = new ProviderRefund(first, "ref_" + Guid.NewGuid().ToString("N")[..20], 3000, "partial one");
        var a1 = await wechat.RefundAsync(r1, default);
        Assert.Equal(RefundStatus.Pending, a1.Status);
        Assert.Equal(a1.ProviderRefundId, (await wechat.RefundAsync(r1, default)).ProviderRefundId); // same out_refund_no: same refund
        var r2 = new ProviderRefund(first, "ref_" + Guid.NewGuid().ToString("N")[..20], 6900, null);
        Assert.NotEqual(RefundStatus.Failed, (await wechat.RefundAsync(r2, default)).Status);
        Assert.Equal(("REFUND", 9900L, 9900L), sim.Inspect(first.Id));
        Assert.Equal(RefundStatus.Failed, (await wechat.RefundAsync(new ProviderRefund(first, "ref_" + Guid.NewGuid().ToString("N")[..20], 1, null), default)).Status);
        var full = new ProviderRefund(second, "ref_" + Guid.NewGuid().ToString("N")[..20], 9900, "full");
        Assert.NotEqual(RefundStatus.Failed, (await wechat.RefundAsync(full, default)).Status);
        Assert.Equal(("REFUND", 9900L, 9900L), sim.Inspect(second.Id));

        foreach (var r in new[] { r1, r2, full })
        {
            var until = DateTime.UtcNow.AddSeconds(5);
            ProviderRefundResult state;
            do { state = await wechat.QueryRefundAsync(r, default); await Task.Delay(50); } while (state.Status == RefundStatus.Pending && DateTime.UtcNow < until);
            Assert.Equal(RefundStatus.Succeeded, state.Status);
        }
        Assert.Equal(RefundStatus.Failed, (await wechat.QueryRefundAsync(r1 with { RefundId = "ref_unknown" }, default)).Status);
    }

    [SkippableFact]
    public async Task ForgedNotifications_AreRefused_AndChangeNothing()
    {
        var server = await servers.Get(Db.Sqlite);
        var o = server.Services.GetRequiredService<SandboxOptions>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "wechatpay", "qr");
        var id = (string)payment["id"]!;
        using var stranger = RSA.Create(2048);

        var refusals = new[]
        {
            await PostNote(server, Note(o, Resource(o, id, 9900, "CNY")), stranger.ExportPkcs8PrivateKeyPem()),          // bad signature
            await PostNote(server, Note(o, Resource(o, id, 9900, "CNY", mchId: "1900009999")), o.WeChatPlatformPrivateKeyPem), // wrong mchid
            await PostNote(server, Note(o, Resource(o, id, 1, "CNY")), o.WeChatPlatformPrivateKeyPem),                     // amount
            await PostNote(server, Note(o, Resource(o, id, 9900, "USD")), o.WeChatPlatformPrivateKeyPem),                  // currency
            await PostNote(server, Note(o, Resource(o, "pay_00000000000000000000000000", 9900, "CNY")), o.WeChatPlatformPrivateKeyPem), // unknown
            await PostNote(server, Note(o, Resource(o, id, 9900, "CNY"), tamper: true), o.WeChatPlatformPrivateKeyPem),    // tampered ciphertext
            await PostNote(server, Note(o, Resource(o, id, 9900, "CNY")), o.WeChatPlatformPrivateKeyPem, ageSeconds: 400), // stale timestamp
        };
        Assert.All(refusals, r => Assert.True((int)r.Status >= 400, $"{r.Status}: {r.Body}"));
        Assert.All(refusals, r => Assert.Equal("FAIL", (string?)JsonNode.Parse(r.Body)!["code"]));

        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));

        // The same genuine notification is accepted: the refusals above were for what each one changed.
        var genuine = await PostNote(server, Note(o, Resource(o, id, 9900, "CNY")), o.WeChatPlatformPrivateKeyPem);
        Assert.Equal(HttpStatusCode.NoContent, genuine.Status);
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
    }

    [SkippableFact]
    public async Task NotificationStorm_DuplicatesReorderedSpacedAndDropped_EveryOrderPaidExactlyOnce()
    {
        var server = await servers.Get(Db.Sqlite);
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var settings = new[]
        {
            new FaultSettings(DuplicateNotifications: 4),
            new FaultSettings(DuplicateNotifications: 4, DuplicateSpacingMs: 1000),
            new FaultSettings(DuplicateNotifications: 4, ReorderRefundBeforePayment: true),
            new FaultSettings(DropNotifications: true),
            new FaultSettings(DuplicateNotifications: 4, NotificationDelayMs: 300, DuplicateSpacingMs: 200),
            new FaultSettings(DropNotifications: true),
        };
        var orders = new List<(string Order, string Payment)>();
        foreach (var fault in settings)
        {
            var order = await m.OrderAsync(productId);
            var payment = await m.PaymentAsync((string)order["id"]!, "wechatpay", "qr");
            faults.Set((string)payment["id"]!, fault);
            orders.Add(((string)order["id"]!, (string)payment["id"]!));
        }
        await Task.WhenAll(orders.Select(o => BuyerPays(server, o.Payment)));
        for (var i = 0; i < orders.Count; i++)
            if (!settings[i].DropNotifications) await m.WaitForOrderAsync(orders[i].Order, "paid");
        await Task.Delay(1500);
        await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2));

        foreach (var (orderId, paymentId) in orders)
        {
            Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
            Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceType == "payment_confirmed" && j.SourceId == paymentId)));
        }
        Assert.Equal(orders.Count, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(2, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId && p.ConfirmedBy == "query")));
    }

    [SkippableFact]
    public async Task ApiAnswerWithABrokenSignature_IsAnError_NotASuccess()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var payment = await PaidPaymentAsync(server, m, productId);
        server.Services.GetRequiredService<WeChatPaySimulator>().BreakResponseSignatures(payment.Id);
        await using var scope = server.Services.CreateAsyncScope();
        var wechat = scope.ServiceProvider.GetRequiredService<PaymentProviders>()["wechatpay"];
        var e = await Assert.ThrowsAsync<ProviderException>(() => wechat.QueryAsync(payment, default));
        Assert.Equal("response_signature_invalid", e.Code);
        await Assert.ThrowsAsync<ProviderException>(() => wechat.RefundAsync(new ProviderRefund(payment, "ref_x", 100, null), default));
    }

    [SkippableFact]
    public async Task RequestWithABadSignature_IsRefusedBySandbox_With401SignError()
    {
        var server = await servers.Get(Db.Sqlite);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/sandbox/wechatpay/v3/pay/transactions/native")
        {
            Content = new StringContent("{}", Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",signature=\"AAAA\",timestamp=\"1\",serial_no=\"x\"");
        request.Headers.UserAgent.ParseAdd("KnowPay.Tests/1.0");
        request.Headers.Accept.ParseAdd("application/json");
        var r = await server.Anonymous.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("SIGN_ERROR", (string?)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["code"]);
    }

    static async Task BuyerPays(KnowPayServer server, string paymentId)
    {
        var r = await server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/{paymentId}/pay", null);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    static async Task<Payment> PaidPaymentAsync(KnowPayServer server, MerchantClient m, string productId)
    {
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "wechatpay", "qr");
        await BuyerPays(server, (string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == (string)payment["id"]!));
    }

    static JsonObject Resource(SandboxOptions o, string outTradeNo, long total, string currency, string? mchId = null) => new()
    {
        ["appid"] = o.WeChatAppId, ["mchid"] = mchId ?? o.WeChatMchId, ["out_trade_no"] = outTradeNo, ["transaction_id"] = "4200000000000000000000000001",
        ["trade_type"] = "NATIVE", ["trade_state"] = "SUCCESS", ["success_time"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:sszzz"),
        ["amount"] = new JsonObject { ["total"] = total, ["payer_total"] = total, ["currency"] = currency, ["payer_currency"] = currency },
    };

    /// <summary>Encrypted with the APIv3 key as WeChat Pay does; <paramref name="tamper"/> flips one ciphertext bit.</summary>
    static string Note(SandboxOptions o, JsonObject resource, bool tamper = false)
    {
        var plain = Encoding.UTF8.GetBytes(resource.ToJsonString());
        var cipher = new byte[plain.Length + 16];
        using (var aes = new AesGcm(Encoding.UTF8.GetBytes(o.WeChatApiV3Key), 16))
            aes.Encrypt("0123456789ab"u8, plain, cipher.AsSpan(0, plain.Length), cipher.AsSpan(plain.Length), "transaction"u8);
        if (tamper) cipher[5] ^= 1;
        return new JsonObject
        {
            ["id"] = Guid.NewGuid().ToString(), ["create_time"] = "2024-01-01T12:00:00+08:00", ["resource_type"] = "encrypt-resource",
            ["event_type"] = "TRANSACTION.SUCCESS", ["summary"] = "支付成功",
            ["resource"] = new JsonObject
            {
                ["original_type"] = "transaction", ["algorithm"] = "AEAD_AES_256_GCM", ["ciphertext"] = Convert.ToBase64String(cipher),
                ["associated_data"] = "transaction", ["nonce"] = "0123456789ab",
            },
        }.ToJsonString();
    }

    static async Task<(HttpStatusCode Status, string Body)> PostNote(KnowPayServer server, string body, string keyPem, int ageSeconds = 0)
    {
        var o = server.Services.GetRequiredService<SandboxOptions>();
        var ts = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() - ageSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/wechatpay") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Wechatpay-Timestamp", ts);
        request.Headers.Add("Wechatpay-Nonce", "NONCE1");
        request.Headers.Add("Wechatpay-Serial", o.WeChatPlatformSerialNo);
        request.Headers.Add("Wechatpay-Signature", SandboxRsa.Sign($"{ts}\nNONCE1\n{body}\n", keyPem));
        var r = await server.Anonymous.SendAsync(request);
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }
}
