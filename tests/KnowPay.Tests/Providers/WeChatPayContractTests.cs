using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Providers.WeChatPay;
using KnowPay.Sandbox;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// WeChat Pay 委托代扣 (papay v3) through the real server and the WeChat Pay sandbox over HTTP: the contract signed by the
/// buyer, ENTRUST.SIGN / ENTRUST.TERMINATE applied to the mandate, the pre-debit notice and the deduction settled by the
/// TRANSACTION notification. Rows the subscriptions API will write are inserted directly.
/// </summary>
[Collection("server")]
public sealed class WeChatPayContractTests(Servers servers)
{
    static readonly TimeSpan Beijing = TimeSpan.FromHours(8);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Contract_SignedByTheBuyer_ChargedAfterNotice_ThenCancelledInWeChat_StaysRevoked(Db db)
    {
        var server = await servers.Get(db);
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        sim.SetPreDebitClock(NoonInBeijing);
        try
        {
            var m = await server.NewMerchantAsync();
            var (_, productId) = await m.CourseAsync();
            var order = await OrderRowAsync(server, m, productId);
            var mandate = await PendingMandateAsync(server, m, order.CustomerId, maxAmount: 20000);
            var code = mandate.Id.Replace("_", "");
            await using var scope = server.Services.CreateAsyncScope();
            Assert.True(scope.ServiceProvider.GetRequiredService<RecurringProviders>().TryGet("wechatpay", out var wechat));

            var started = await wechat.StartSigningAsync(await SigningAsync(server, mandate), default);
            Assert.Contains("/sandbox/wechatpay/papay/sign/", started.RedirectUrl);
            Assert.Equal(started.RedirectUrl, started.QrCode);
            Assert.Contains("id=\"sign\"", await server.Anonymous.GetStringAsync(started.RedirectUrl));
            Assert.Equal(MandateStatus.Pending, (await wechat.QueryMandateAsync(mandate, default)).Status);

            // The buyer agrees on the sign page; ENTRUST.SIGN reaches /v1/notify/wechatpay.
            var signed = await server.Anonymous.PostAsync(started.RedirectUrl, new FormUrlEncodedContent([new("action", "sign")]));
            Assert.True(signed.IsSuccessStatusCode, await signed.Content.ReadAsStringAsync());
            var active = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Active);
            var contract = sim.InspectContract(code)!.Value;
            Assert.Equal(contract.ContractId, active.ProviderMandateId);
            Assert.Equal(contract.OpenId, active.ProviderCustomerRef);
            Assert.NotNull(active.SignedAt);
            Assert.Equal(1, await EventsAsync(server, mandate.Id, EventTypes.MandateCreated));
            var queried = await wechat.QueryMandateAsync(active, default);
            Assert.Equal((MandateStatus.Active, contract.ContractId), (queried.Status, queried.ProviderMandateId));

            // Pre-debit notice, then the deduction: ACCEPT now, SUCCESS by the TRANSACTION notification.
            var payment = await PendingPaymentAsync(server, order, order.Amount);
            var charge = new RecurringCharge(payment, order, active, "Monthly membership", server.BaseUrl + "/v1/notify/wechatpay");
            await wechat.NotifyUpcomingChargeAsync(charge, default);
            Assert.Equal(order.Amount, sim.InspectContract(code)!.Value.NoticeAmount);
            Assert.Equal(TradeStatus.Pending, (await wechat.ChargeAsync(charge, default)).Status);
            var paid = await WaitForPaymentAsync(server, payment.Id, PaymentStatus.Succeeded);
            Assert.Equal("notification", paid.ConfirmedBy);
            Assert.StartsWith("42000", paid.ProviderTradeNo);
            await m.WaitForOrderAsync(order.Id, "paid");
            Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
            Assert.Equal(TradeStatus.Paid, (await ((IPaymentProvider)wechat).QueryAsync(payment, default)).Status);
            // Each call reached the sandbox, which verified its WECHATPAY2-SHA256-RSA2048 signature (it refuses otherwise).
            var calls = log.Snapshot();
            Assert.Contains($"POST /sandbox/wechatpay/v3/papay/contracts/{contract.ContractId}/notify", calls);
            Assert.Contains("POST /sandbox/wechatpay/v3/papay/pay/transactions/apply", calls);
            Assert.Contains($"GET /sandbox/wechatpay/v3/papay/sign/contracts/plan-id/{WeChatPaySimulator.SandboxPlanId}/out-contract-code/{code}", calls);

            // The buyer cancels in WeChat: ENTRUST.TERMINATE with USER_TERMINATE revokes the mandate, once.
            var cancelled = await server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/contracts/{code}/terminate", null);
            Assert.True(cancelled.IsSuccessStatusCode);
            var revoked = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Revoked);
            Assert.Equal("user", revoked.RevokedReason);
            Assert.Equal(1, await EventsAsync(server, mandate.Id, EventTypes.MandateRevoked));
            Assert.Equal(MandateStatus.Revoked, (await wechat.QueryMandateAsync(revoked, default)).Status);

            // An old ENTRUST.SIGN arriving again is acknowledged and changes nothing.
            var o = server.Services.GetRequiredService<SandboxOptions>();
            var replay = await PostNote(server, Note(o, "ENTRUST.SIGN", ContractResource(o, code, contract.ContractId!, contract.OpenId!, "SIGNED", active.SignedAt!.Value)),
                o.WeChatPlatformPrivateKeyPem);
            Assert.Equal(HttpStatusCode.NoContent, replay.Status);
            Assert.Equal(MandateStatus.Revoked, (await MandateAsync(server, mandate.Id)).Status);
            Assert.Equal(1, await EventsAsync(server, mandate.Id, EventTypes.MandateCreated));

            // No deduction under an ended contract.
            var next = await PendingPaymentAsync(server, await OrderRowAsync(server, m, productId), order.Amount);
            var refused = await wechat.ChargeAsync(new RecurringCharge(next, order, revoked, "Monthly membership", charge.NotifyUrl), default);
            Assert.Equal((TradeStatus.Failed, RecurringFailures.MandateRevoked), (refused.Status, refused.FailureCode));
        }
        finally
        {
            sim.SetPreDebitClock(null);
        }
    }

    [SkippableFact]
    public async Task Deductions_OutsideTheWindow_AboveTheEstimate_AboveTheMandate_OrDeclined_AreRefused()
    {
        var server = await servers.Get(Db.Sqlite);
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        sim.SetPreDebitClock(NoonInBeijing);
        try
        {
            var m = await server.NewMerchantAsync();
            var (_, productId) = await m.CourseAsync();
            var order = await OrderRowAsync(server, m, productId);
            var mandate = await PendingMandateAsync(server, m, order.CustomerId, maxAmount: order.Amount + 500);
            var code = mandate.Id.Replace("_", "");
            await using var scope = server.Services.CreateAsyncScope();
            Assert.True(scope.ServiceProvider.GetRequiredService<RecurringProviders>().TryGet("wechatpay", out var wechat));
            await wechat.StartSigningAsync(await SigningAsync(server, mandate), default);
            var sign = await server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/contracts/{code}/sign", null);
            Assert.True(sign.IsSuccessStatusCode);
            var active = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Active);
            var notifyUrl = server.BaseUrl + "/v1/notify/wechatpay";
            RecurringCharge Charge(Payment p) => new(p, order, active, "Monthly membership", notifyUrl);

            // 22:30 Beijing time: the notice is refused with a code the engine retries on, from 06:00.
            var estimate = await PendingPaymentAsync(server, order, order.Amount);
            sim.SetPreDebitClock(() => new DateTimeOffset(2026, 12, 3, 22, 30, 0, Beijing));
            var closed = await Assert.ThrowsAsync<ProviderException>(() => wechat.NotifyUpcomingChargeAsync(Charge(estimate), default));
            Assert.Equal(WeChatPayProvider.PreDebitWindowClosed, closed.Code);
            Assert.False(closed.MaybeApplied);
            Assert.Null(sim.InspectContract(code)!.Value.NoticeAmount);
            Assert.Equal(new DateTimeOffset(2026, 12, 4, 6, 0, 0, Beijing),
                WeChatPayProvider.PreDebitWindowOpensAt(new DateTimeOffset(2026, 12, 3, 22, 30, 0, Beijing)));
            Assert.Equal(new DateTimeOffset(2026, 12, 4, 6, 0, 0, Beijing),
                WeChatPayProvider.PreDebitWindowOpensAt(new DateTimeOffset(2026, 12, 4, 5, 59, 0, Beijing)));
            sim.SetPreDebitClock(NoonInBeijing);
            await wechat.NotifyUpcomingChargeAsync(Charge(estimate), default);

            // Above the notice's estimate (yet within the mandate): WeChat refuses; no trade exists.
            var above = await PendingPaymentAsync(server, order, order.Amount + 100);
            var overEstimate = await Assert.ThrowsAsync<ProviderException>(() => wechat.ChargeAsync(Charge(above), default));
            Assert.Equal("RULE_LIMIT", overEstimate.Code);
            Assert.Null(sim.Inspect(above.Id));

            // Above the mandate's MaxAmount: refused before any call.
            var applies = log.Snapshot().Count(c => c.EndsWith("/v3/papay/pay/transactions/apply", StringComparison.Ordinal));
            var tooMuch = await PendingPaymentAsync(server, order, order.Amount + 501);
            var overMandate = await Assert.ThrowsAsync<ProviderException>(() => wechat.ChargeAsync(Charge(tooMuch), default));
            Assert.Equal(WeChatPayProvider.AmountExceedsMandate, overMandate.Code);
            Assert.Equal(applies, log.Snapshot().Count(c => c.EndsWith("/v3/papay/pay/transactions/apply", StringComparison.Ordinal)));

            // A decline on demand: ACCEPT, then TRANSACTION.FAIL (PAY_FAIL) fails the payment as a decline; the notice stays.
            sim.DeclineDeductions(code, 1);
            Assert.Equal(TradeStatus.Pending, (await wechat.ChargeAsync(Charge(estimate), default)).Status);
            var failed = await WaitForPaymentAsync(server, estimate.Id, PaymentStatus.Failed);
            Assert.Equal(RecurringFailures.Declined, failed.FailureCode);
            Assert.Equal(RecurringFailures.Declined, (await ((IPaymentProvider)wechat).QueryAsync(estimate, default)).FailureCode);
            Assert.Equal(order.Amount, sim.InspectContract(code)!.Value.NoticeAmount);

            // A request the merchant did not sign is refused by the sandbox.
            using var unsignedRequest = new HttpRequestMessage(HttpMethod.Post, "/sandbox/wechatpay/v3/papay/pay/transactions/apply")
            {
                Content = new StringContent("{}", Encoding.UTF8, "application/json"),
            };
            unsignedRequest.Headers.Add("User-Agent", "test");
            unsignedRequest.Headers.Add("Accept", "application/json");
            var unsigned = await server.Anonymous.SendAsync(unsignedRequest);
            Assert.Equal(HttpStatusCode.Unauthorized, unsigned.StatusCode);
            Assert.Equal("SIGN_ERROR", (string?)JsonNode.Parse(await unsigned.Content.ReadAsStringAsync())!["code"]);

            // The merchant ends it through the adapter: terminated at WeChat, and ENTRUST.TERMINATE (MCH_API_TERMINATE) revokes the mandate.
            var ended = await wechat.TerminateMandateAsync(active, "membership cancelled", default);
            Assert.Equal((MandateStatus.Revoked, "merchant"), (ended.Status, ended.Reason));
            Assert.NotNull(ended.At);
            Assert.Equal("TERMINATED", sim.InspectContract(code)!.Value.State);
            Assert.Equal("merchant", (await WaitForMandateAsync(server, mandate.Id, MandateStatus.Revoked)).RevokedReason);
        }
        finally
        {
            sim.SetPreDebitClock(null);
        }
    }

    [SkippableFact]
    public async Task ForgedContractNotifications_AreRefused_AndWriteNothing()
    {
        var server = await servers.Get(Db.Sqlite);
        var o = server.Services.GetRequiredService<SandboxOptions>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await OrderRowAsync(server, m, productId);
        var mandate = await PendingMandateAsync(server, m, order.CustomerId, maxAmount: 20000);
        var code = mandate.Id.Replace("_", "");
        var resource = ContractResource(o, code, "200000000000000001", "oForgedOpenId000000000000000", "SIGNED", DateTime.UtcNow);
        using var stranger = RSA.Create(2048);

        var refusals = new[]
        {
            await PostNote(server, Note(o, "ENTRUST.SIGN", resource), stranger.ExportPkcs8PrivateKeyPem()),                 // bad signature
            await PostNote(server, Note(o, "ENTRUST.SIGN", resource, tamper: true), o.WeChatPlatformPrivateKeyPem),          // tampered ciphertext
            await PostNote(server, Note(o, "ENTRUST.SIGN", resource), o.WeChatPlatformPrivateKeyPem, ageSeconds: 400),       // stale
            await PostNote(server, Note(o, "ENTRUST.SIGN", Tweak(resource, "mchid", "1900009999")), o.WeChatPlatformPrivateKeyPem), // not our mchid
            await PostNote(server, Note(o, "ENTRUST.SIGN", Tweak(resource, "plan_id", 99999)), o.WeChatPlatformPrivateKeyPem), // not our plan
        };
        Assert.All(refusals, r => Assert.True((int)r.Status >= 400, $"{r.Status}: {r.Body}"));
        Assert.All(refusals, r => Assert.Equal("FAIL", (string?)JsonNode.Parse(r.Body)!["code"]));
        var stored = await MandateAsync(server, mandate.Id);
        Assert.Equal((MandateStatus.Pending, null), (stored.Status, stored.ProviderMandateId));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));
    }

    static DateTimeOffset NoonInBeijing() => new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddHours(4);

    static async Task<Order> OrderRowAsync(KnowPayServer server, MerchantClient m, string productId)
    {
        var id = (string)(await m.OrderAsync(productId))["id"]!;
        return await server.QueryAsync(d => d.Orders.AsNoTracking().SingleAsync(x => x.Id == id));
    }

    static async Task<Mandate> PendingMandateAsync(KnowPayServer server, MerchantClient m, string customerId, long maxAmount)
    {
        var mandate = new Mandate
        {
            Id = Ids.New("mdt"), MerchantId = m.MerchantId, CustomerId = customerId, Provider = "wechatpay", Method = PaymentMethods.Qr,
            Status = MandateStatus.Pending, Currency = "CNY", MaxAmount = maxAmount, CreatedAt = DateTime.UtcNow,
        };
        await server.QueryAsync(async d => { d.Mandates.Add(mandate); return await d.SaveChangesAsync(); });
        return mandate;
    }

    static async Task<MandateSigning> SigningAsync(KnowPayServer server, Mandate mandate)
    {
        var customer = await server.QueryAsync(d => d.Customers.AsNoTracking().SingleAsync(c => c.Id == mandate.CustomerId));
        return new MandateSigning(mandate, customer, "Monthly membership", "month", 1, DateTime.UtcNow.AddMonths(1),
            server.BaseUrl + "/v1/notify/wechatpay", null);
    }

    static async Task<Payment> PendingPaymentAsync(KnowPayServer server, Order order, long amount)
    {
        var payment = new Payment
        {
            Id = Ids.New("pay"), MerchantId = order.MerchantId, OrderId = order.Id, Provider = "wechatpay", Method = PaymentMethods.Qr,
            Status = PaymentStatus.Pending, Amount = amount, Currency = order.Currency, CreatedAt = DateTime.UtcNow,
        };
        await server.QueryAsync(async d => { d.Payments.Add(payment); return await d.SaveChangesAsync(); });
        return payment;
    }

    static Task<Mandate> MandateAsync(KnowPayServer server, string id) =>
        server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == id));

    static Task<int> EventsAsync(KnowPayServer server, string objectId, string type) =>
        server.QueryAsync(d => d.Events.CountAsync(e => e.ObjectId == objectId && e.Type == type));

    static async Task<Mandate> WaitForMandateAsync(KnowPayServer server, string id, MandateStatus status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        Mandate mandate;
        do
        {
            mandate = await MandateAsync(server, id);
            if (mandate.Status == status) return mandate;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"mandate {id} is {mandate.Status}, not {status}");
        return mandate;
    }

    static async Task<Payment> WaitForPaymentAsync(KnowPayServer server, string id, PaymentStatus status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        Payment payment;
        do
        {
            payment = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(x => x.Id == id));
            if (payment.Status == status) return payment;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"payment {id} is {payment.Status}, not {status}");
        return payment;
    }

    static JsonObject ContractResource(SandboxOptions o, string code, string contractId, string openId, string state, DateTime at) => new()
    {
        ["mchid"] = o.WeChatMchId, ["appid"] = o.WeChatAppId, ["contract_id"] = contractId, ["out_contract_code"] = code,
        ["plan_id"] = long.Parse(WeChatPaySimulator.SandboxPlanId), ["openid"] = openId, ["contract_display_account"] = "learner",
        ["contract_state"] = state, ["contract_signed_time"] = new DateTimeOffset(at, TimeSpan.Zero).ToOffset(Beijing).ToString("yyyy-MM-dd'T'HH:mm:sszzz"),
    };

    static JsonObject Tweak(JsonObject resource, string field, JsonNode value)
    {
        var copy = resource.DeepClone().AsObject();
        copy[field] = value;
        return copy;
    }

    /// <summary>Encrypted with the APIv3 key as WeChat Pay does; <paramref name="tamper"/> flips one ciphertext bit.</summary>
    static string Note(SandboxOptions o, string eventType, JsonObject resource, bool tamper = false)
    {
        var plain = Encoding.UTF8.GetBytes(resource.ToJsonString());
        var cipher = new byte[plain.Length + 16];
        using (var aes = new AesGcm(Encoding.UTF8.GetBytes(o.WeChatApiV3Key), 16))
            aes.Encrypt("0123456789ab"u8, plain, cipher.AsSpan(0, plain.Length), cipher.AsSpan(plain.Length), "entrust"u8);
        if (tamper) cipher[5] ^= 1;
        return new JsonObject
        {
            ["id"] = Guid.NewGuid().ToString(), ["create_time"] = "2026-01-01T12:00:00+08:00", ["resource_type"] = "encrypt-resource",
            ["event_type"] = eventType, ["summary"] = "签约成功",
            ["resource"] = new JsonObject
            {
                ["original_type"] = "entrust", ["algorithm"] = "AEAD_AES_256_GCM", ["ciphertext"] = Convert.ToBase64String(cipher),
                ["associated_data"] = "entrust", ["nonce"] = "0123456789ab",
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
