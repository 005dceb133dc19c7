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

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WeChatPay_TwoPlatformKeysActive_AnswersAndNotificationsSignedByEitherAreAccepted_AnUnknownSerialIsRefused(Db db)
    {
        var server = await servers.Get(db);
        var settings = server.Services.GetRequiredService<WeChatPaySettings>();
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        var o = server.Services.GetRequiredService<SandboxOptions>();
        var publicKeySerial = settings.PlatformSerialNo;
        var certificateSerial = Assert.Single(settings.MorePlatformKeys).Key;
        Assert.StartsWith("PUB_KEY_ID_", publicKeySerial);
        Assert.Equal(40, certificateSerial.Length);
        Assert.True(o.WeChatPlatformKeys.ContainsKey(certificateSerial), "the sandbox signs with the certificate's key too");
        using var stranger = RSA.Create(2048);
        var strangerPem = stranger.ExportPkcs8PrivateKeyPem();
        const string unknownSerial = "PUB_KEY_ID_0000000000000000DEADBEEF";
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();

        // Notifications: the sandbox signs one payment's with the certificate key, another's with a key KnowPay does not hold.
        var (byCertificateOrder, byCertificate) = await WeChatPaymentAsync(m, productId);
        var (byStrangerOrder, byStranger) = await WeChatPaymentAsync(m, productId);
        sim.SignWith(byCertificate, certificateSerial);
        sim.SignWith(byStranger, unknownSerial, strangerPem);
        try
        {
            await WeChatBuyerPays(server, byCertificate);
            await WeChatBuyerPays(server, byStranger);
            await m.WaitForOrderAsync(byCertificateOrder, "paid");
            await Task.Delay(1500);   // the refused notification and its retries
            Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{byStrangerOrder}"))["status"]);
            Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceId == byStranger)));
            Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.ObjectId == byStrangerOrder)));

            // By hand: a genuine key under an unknown serial, an unknown key under a known serial: refused; either known key: accepted.
            var (handOrder, hand) = await WeChatPaymentAsync(m, productId);
            var note = Note(o, hand, 9900);
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostWeChatNote(server, note, unknownSerial, o.WeChatPlatformPrivateKeyPem)).Status);
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostWeChatNote(server, note, certificateSerial, strangerPem)).Status);
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostWeChatNote(server, note, certificateSerial, o.WeChatPlatformPrivateKeyPem)).Status);
            Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{handOrder}"))["status"]);
            Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceId == hand)));
            Assert.Equal(HttpStatusCode.NoContent, (await PostWeChatNote(server, note, certificateSerial, o.WeChatPlatformKeys[certificateSerial])).Status);
            Assert.Equal(HttpStatusCode.NoContent, (await PostWeChatNote(server, note, publicKeySerial, o.WeChatPlatformPrivateKeyPem)).Status);
            Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{handOrder}"))["status"]);
            Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceId == hand)));

            // Answers: KnowPay names the key it verifies with; answers signed by either key are read, an unknown serial is an error.
            var paid = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == byCertificate));
            var seen = new List<string?>();
            using var http = new HttpClient(new Recorder(seen));
            http.DefaultRequestHeaders.UserAgent.Add(ProviderHttp.UserAgent);   // what the provider client factory adds
            var wechat = new WeChatPayProvider(http, settings, TimeProvider.System);
            foreach (var serial in new[] { certificateSerial, publicKeySerial })
            {
                sim.SignWith(byCertificate, serial);
                Assert.Equal(TradeStatus.Paid, (await wechat.QueryAsync(paid, default)).Status);
            }
            Assert.Equal([publicKeySerial, publicKeySerial], seen);
            sim.SignWith(byCertificate, unknownSerial, strangerPem);
            Assert.Equal("response_signature_invalid", (await Assert.ThrowsAsync<ProviderException>(() => wechat.QueryAsync(paid, default))).Code);
            sim.SignWith(byCertificate, certificateSerial, strangerPem);
            Assert.Equal("response_signature_invalid", (await Assert.ThrowsAsync<ProviderException>(() => wechat.QueryAsync(paid, default))).Code);

            // The sandbox, as WeChat Pay: the request's Wechatpay-Serial chooses the signing key; an unknown one is refused.
            sim.SignWith(byCertificate, null);
            var queryPath = new Uri(settings.ApiBaseUrl).AbsolutePath.TrimEnd('/')
                            + $"/v3/pay/transactions/out-trade-no/{byCertificate}?mchid={settings.MchId}";
            using (var named = SignedRequest(settings, HttpMethod.Get, queryPath, "", "KnowPay.Tests/1.0", "application/json", certificateSerial))
            {
                var answer = await server.Anonymous.SendAsync(named);
                var text = await answer.Content.ReadAsStringAsync();
                string Header(string name) => answer.Headers.GetValues(name).Single();
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                Assert.Equal(certificateSerial, Header("Wechatpay-Serial"));
                Assert.True(WeChatPaySignature.VerifyHeaders(Header("Wechatpay-Serial"), Header("Wechatpay-Timestamp"), Header("Wechatpay-Nonce"),
                    Header("Wechatpay-Signature"), text, settings.PlatformKey, DateTimeOffset.UtcNow));
            }
            using (var unknown = SignedRequest(settings, HttpMethod.Get, queryPath, "", "KnowPay.Tests/1.0", "application/json", unknownSerial))
            {
                var answer = await server.Anonymous.SendAsync(unknown);
                Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
                Assert.Equal("PARAM_ERROR", (string?)JsonNode.Parse(await answer.Content.ReadAsStringAsync())!["code"]);
            }
        }
        finally
        {
            sim.SignWith(byCertificate, null);
            sim.SignWith(byStranger, null);
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Alipay_NotificationForAnotherSellerId_IsRefusedWithNothingWritten_OursIsAccepted(Db db)
    {
        var server = await servers.Get(db);
        var o = server.Services.GetRequiredService<SandboxOptions>();
        var settings = server.Services.GetRequiredService<AlipaySettings>();
        Assert.Equal(o.AlipaySellerId, settings.SellerId);
        Assert.StartsWith("2088", settings.SellerId);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "alipay", "qr");
        var id = (string)payment["id"]!;

        foreach (var seller in new[] { "2088999999999999", null })
        {
            var refused = await PostAlipayNote(server, AlipayNote(o, id, seller));
            Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
            Assert.NotEqual("success", refused.Body);
        }
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Null(await server.QueryAsync(d => d.Payments.Where(p => p.Id == id).Select(p => p.ConfirmedBy).SingleAsync()));

        // Ours, by hand and from the sandbox (which sends its PID): accepted, paid once.
        var accepted = await PostAlipayNote(server, AlipayNote(o, id, o.AlipaySellerId));
        Assert.Equal((HttpStatusCode.OK, "success"), accepted);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        var secondOrder = await m.OrderAsync(productId);
        var second = (string)(await m.PaymentAsync((string)secondOrder["id"]!, "alipay", "qr"))["id"]!;
        var r = await server.Anonymous.PostAsync($"/sandbox/alipay/buyer/{second}/pay", null);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        await m.WaitForOrderAsync((string)secondOrder["id"]!, "paid");
        Assert.Equal("notification", await server.QueryAsync(d => d.Payments.Where(p => p.Id == second).Select(p => p.ConfirmedBy).SingleAsync()));
        Assert.Equal(2, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Stripe_RefundsCompleteFromThePinnedVersionsEvents_ChargeRefundedListsTheChargesRefunds(Db db)
    {
        var server = await servers.Get(db);
        var sim = server.Services.GetRequiredService<StripeSimulator>();
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (10000, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        var paymentId = (string)payment["id"]!;
        var intentId = (string)payment["provider_trade_no"]!;
        await StripeTests.ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");

        try
        {
            // Stripe's events are lost and its answer says pending: only the events posted below can complete each refund.
            faults.Set(paymentId, new FaultSettings(DropNotifications: true, RefundAnswerPending: true));

            // 1: charge.refunded in the pinned version's shape (no refunds embedded): KnowPay lists the charge's refunds.
            var first = await PendingRefundAsync(m, paymentId, 2000);
            var firstAtStripe = await SettledAtStripeAsync(sim, intentId, first);
            var chargeId = (string)firstAtStripe["charge"]!;
            var charge = new JsonObject
            {
                ["id"] = chargeId, ["object"] = "charge", ["amount"] = 10000, ["amount_captured"] = 10000, ["amount_refunded"] = 2000,
                ["currency"] = "usd", ["payment_intent"] = intentId, ["refunded"] = false, ["status"] = "succeeded",
            };
            Assert.Equal(HttpStatusCode.OK, (await PostStripeEvent(server, sim, "charge.refunded", charge)).StatusCode);
            Assert.Equal("succeeded", await RefundStatusAsync(m, first));
            Assert.Equal("notification", await CompletedByAsync(server, first));

            // 2: charge.refund.updated carries the refund itself.
            var second = await PendingRefundAsync(m, paymentId, 3000);
            var secondAtStripe = await SettledAtStripeAsync(sim, intentId, second);
            Assert.Equal(HttpStatusCode.OK, (await PostStripeEvent(server, sim, "charge.refund.updated", secondAtStripe)).StatusCode);
            Assert.Equal("succeeded", await RefundStatusAsync(m, second));
            Assert.Equal("notification", await CompletedByAsync(server, second));

            // 3: the sandbox's own events (refund.created, charge.refunded, then refund.updated and charge.refund.updated) complete it.
            faults.Set(paymentId, new FaultSettings(RefundAnswerPending: true));
            var third = await PendingRefundAsync(m, paymentId, 5000);
            var until = DateTime.UtcNow.AddSeconds(10);
            while (await RefundStatusAsync(m, third) != "succeeded")
            {
                Assert.True(DateTime.UtcNow < until, $"refund {third} was not completed by the sandbox's events");
                await Task.Delay(50);
            }
            Assert.Equal("notification", await CompletedByAsync(server, third));

            // The listing is the charge's own refunds, all three; a replayed charge.refunded changes nothing.
            await using var scope = server.Services.CreateAsyncScope();
            var stripe = (StripeProvider)scope.ServiceProvider.GetRequiredService<PaymentProviders>()["stripe"];
            var listed = await stripe.RefundsOfChargeAsync(chargeId, default);
            Assert.Equal(new[] { first, second, third }.Order(), listed.Select(r => (string)r["metadata"]!["refund_id"]!).Order());
            Assert.All(listed, r => Assert.Equal(chargeId, (string?)r["charge"]));
            Assert.Empty(await stripe.RefundsOfChargeAsync("ch_" + Guid.NewGuid().ToString("N"), default));
            Assert.Equal(HttpStatusCode.OK, (await PostStripeEvent(server, sim, "charge.refunded", charge)).StatusCode);
            Assert.Equal(3, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "refund.succeeded")));
            Assert.Equal(10000, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["refunded_amount"]!);
        }
        finally { faults.Set(paymentId, new FaultSettings()); }
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

    static async Task<(string OrderId, string PaymentId)> WeChatPaymentAsync(MerchantClient m, string productId)
    {
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "wechatpay", "qr");
        return ((string)order["id"]!, (string)payment["id"]!);
    }

    static async Task WeChatBuyerPays(KnowPayServer server, string paymentId)
    {
        var r = await server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/{paymentId}/pay", null);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    /// <summary>A TRANSACTION.SUCCESS notification, its resource encrypted with the APIv3 key as WeChat Pay does.</summary>
    static string Note(SandboxOptions o, string outTradeNo, long total)
    {
        var resource = new JsonObject
        {
            ["appid"] = o.WeChatAppId, ["mchid"] = o.WeChatMchId, ["out_trade_no"] = outTradeNo, ["transaction_id"] = "4200000000000000000000000002",
            ["trade_type"] = "NATIVE", ["trade_state"] = "SUCCESS", ["success_time"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:sszzz"),
            ["amount"] = new JsonObject { ["total"] = total, ["payer_total"] = total, ["currency"] = "CNY", ["payer_currency"] = "CNY" },
        };
        var plain = Encoding.UTF8.GetBytes(resource.ToJsonString());
        var cipher = new byte[plain.Length + 16];
        using (var aes = new AesGcm(Encoding.UTF8.GetBytes(o.WeChatApiV3Key), 16))
            aes.Encrypt("0123456789ab"u8, plain, cipher.AsSpan(0, plain.Length), cipher.AsSpan(plain.Length), "transaction"u8);
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

    static async Task<(HttpStatusCode Status, string Body)> PostWeChatNote(KnowPayServer server, string body, string serial, string keyPem)
    {
        var ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/wechatpay") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Wechatpay-Timestamp", ts);
        request.Headers.Add("Wechatpay-Nonce", "NONCE2");
        request.Headers.Add("Wechatpay-Serial", serial);
        request.Headers.Add("Wechatpay-Signature", SandboxRsa.Sign($"{ts}\nNONCE2\n{body}\n", keyPem));
        var r = await server.Anonymous.SendAsync(request);
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    /// <summary>Sends over the network and keeps each request's Wechatpay-Serial, to assert what the adapter put on the wire.</summary>
    sealed class Recorder(List<string?> wechatpaySerials) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            lock (wechatpaySerials) wechatpaySerials.Add(request.Headers.TryGetValues("Wechatpay-Serial", out var v) ? string.Join(",", v) : null);
            return base.SendAsync(request, ct);
        }
    }

    // --- Alipay ---

    static Dictionary<string, string> AlipayNote(SandboxOptions o, string outTradeNo, string? sellerId)
    {
        var note = new Dictionary<string, string>
        {
            ["notify_time"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow), ["notify_type"] = "trade_status_sync", ["notify_id"] = "ntf-seller",
            ["app_id"] = o.AlipayAppId, ["charset"] = "utf-8", ["version"] = "1.0", ["trade_no"] = "2024010122001400000000000009",
            ["out_trade_no"] = outTradeNo, ["trade_status"] = "TRADE_SUCCESS", ["total_amount"] = "99.00", ["receipt_amount"] = "99.00",
            ["gmt_payment"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow),
        };
        if (sellerId is not null) note["seller_id"] = sellerId;
        note["sign"] = SandboxRsa.Sign(SandboxRsa.AlipayContent(note, withoutSignType: true), o.AlipayPrivateKeyPem);
        note["sign_type"] = "RSA2";
        return note;
    }

    static async Task<(HttpStatusCode Status, string Body)> PostAlipayNote(KnowPayServer server, Dictionary<string, string> note)
    {
        var r = await server.Anonymous.PostAsync("/v1/notify/alipay", new FormUrlEncodedContent(note));
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    // --- Stripe ---

    static async Task<string> PendingRefundAsync(MerchantClient m, string paymentId, long amount)
    {
        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount, reason = "requested_by_customer" });
        Assert.Equal("pending", (string?)refund["status"]);
        return (string)refund["id"]!;
    }

    /// <summary>The refund as Stripe holds it, once it has settled there.</summary>
    static async Task<JsonObject> SettledAtStripeAsync(StripeSimulator sim, string intentId, string refundId)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var refund = sim.RefundsOf(intentId).Select(r => { lock (r) return (JsonObject)r.DeepClone(); })
                .SingleOrDefault(r => (string?)r["metadata"]?["refund_id"] == refundId);
            if ((string?)refund?["status"] == "succeeded") return refund!;
            Assert.True(DateTime.UtcNow < until, $"refund {refundId} did not settle at Stripe");
            await Task.Delay(50);
        }
    }

    static async Task<string?> RefundStatusAsync(MerchantClient m, string refundId) => (string?)(await m.GetOkAsync($"/v1/refunds/{refundId}"))["status"];

    static Task<string?> CompletedByAsync(KnowPayServer server, string refundId) =>
        server.QueryAsync(d => d.Refunds.Where(r => r.Id == refundId).Select(r => r.CompletedBy).SingleAsync());

    static Task<HttpResponseMessage> PostStripeEvent(KnowPayServer server, StripeSimulator sim, string type, JsonObject dataObject)
    {
        var body = new JsonObject
        {
            ["id"] = "evt_" + Guid.NewGuid().ToString("N"), ["object"] = "event", ["api_version"] = StripeProvider.ApiVersion, ["type"] = type,
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["data"] = new JsonObject { ["object"] = dataObject.DeepClone() },
        }.ToJsonString();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Stripe-Signature", sim.Sign(body));
        return server.Anonymous.SendAsync(request);
    }
}
