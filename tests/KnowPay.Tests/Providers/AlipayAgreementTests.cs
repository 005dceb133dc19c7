using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Alipay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// Alipay deduction agreements (周期扣款) through the real server and the Alipay sandbox over HTTP: page.sign, the buyer
/// signing, the dut_user_sign / dut_user_unsign notifications, deductions under the agreement, and forged notifications.
/// </summary>
[Collection("server")]
public sealed class AlipayAgreementTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SignChargeCancel_BuyerSignsThenIsDeductedThenCancelsAtAlipay_MandateActiveThenRevokedOnce(Db db)
    {
        var server = await servers.Get(db);
        var sim = server.Services.GetRequiredService<AlipaySimulator>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var mandate = await PendingMandateAsync(server, m, maxAmount: 9900);

        // Signing: a signed page.sign redirect to the gateway, whose sign page the buyer signs.
        var started = await StartSigningAsync(server, mandate, "month", 1, new DateTime(2027, 1, 31, 2, 0, 0, DateTimeKind.Utc));
        var redirect = started.RedirectUrl!;
        var biz = JsonNode.Parse(QueryValue(redirect, "biz_content"))!.AsObject();
        Assert.Equal("alipay.user.agreement.page.sign", QueryValue(redirect, "method"));
        Assert.Equal(AlipayProvider.ExternalAgreementNo(mandate.Id), (string?)biz["external_agreement_no"]);
        Assert.Equal(("CYCLE_PAY_AUTH_P", "GENERAL_WITHHOLDING", "INDUSTRY|DIGITAL_MEDIA"),
            ((string?)biz["personal_product_code"], (string?)biz["product_code"], (string?)biz["sign_scene"]));
        // Jan 31 10:00 in China is a day after the 28th: the MONTH agreement executes on the 28th.
        Assert.Equal("""{"period_type":"MONTH","period":1,"execute_time":"2027-01-28","single_amount":"99.00"}""", biz["period_rule_params"]!.ToJsonString());
        var page = await server.Anonymous.GetStringAsync(redirect);
        Assert.Contains("id=\"sign\"", page);
        var tampered = await server.Anonymous.GetStringAsync(redirect.Replace("99.00", "9.00", StringComparison.Ordinal));
        Assert.Contains("isv.invalid-signature", tampered);
        Assert.Equal(MandateStatus.Pending, (await QueryMandateAsync(server, mandate)).Status);

        await BuyerAsync(server, mandate, "sign");
        var active = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Active);
        Assert.Equal(sim.InspectAgreement(AlipayProvider.ExternalAgreementNo(mandate.Id))!.Value.AgreementNo, active.ProviderMandateId);
        Assert.StartsWith("2088", active.ProviderCustomerRef);
        Assert.Equal(MandateStatus.Active, (await QueryMandateAsync(server, active)).Status);
        Assert.Equal(1, await CountEventsAsync(server, mandate.Id, EventTypes.MandateCreated));

        // A deduction under the agreement: paid in the answer, signed and verified at the sandbox, then the order is paid.
        var payment = await PendingPaymentAsync(server, (string)order["id"]!);
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var before = log.Snapshot().Count;
        var charged = await ChargeAsync(server, payment, active);
        Assert.Equal(TradeStatus.Paid, charged.Status);
        Assert.Equal(9900L, charged.Amount);
        var entry = Assert.Single(log.Snapshot().Skip(before), e => e.StartsWith("alipay alipay.trade.pay signature verified", StringComparison.Ordinal));
        Assert.Contains($"\"agreement_params\":{{\"agreement_no\":\"{active.ProviderMandateId}\"}}", entry);
        Assert.Contains("\"product_code\":\"CYCLE_PAY_AUTH\"", entry);
        Assert.Equal(("TRADE_SUCCESS", 9900L, 0L, 0), sim.Inspect(payment.Id));
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        Assert.Equal(TradeStatus.Paid, (await ChargeAsync(server, payment, active)).Status);   // a retry reads the paid trade, charges nothing
        Assert.Equal(1, sim.InspectAgreement(active.ProviderMandateId!)!.Value.Deductions);

        // Above single_amount: refused before Alipay is called.
        var second = await PendingPaymentAsync(server, (string)(await m.OrderAsync(productId))["id"]!, amount: 9901);
        before = log.Snapshot().Count;
        var refused = await Assert.ThrowsAsync<ProviderException>(() => ChargeAsync(server, second, active));
        Assert.Equal(RecurringFailures.AmountExceedsMandate, refused.Code);
        Assert.DoesNotContain(log.Snapshot().Skip(before), e => e.Contains("alipay.trade.pay", StringComparison.Ordinal));

        // The buyer cancels at Alipay: dut_user_unsign revokes the mandate with one mandate.revoked event.
        await BuyerAsync(server, active, "unsign");
        var revoked = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Revoked);
        Assert.Equal("user", revoked.RevokedReason);
        Assert.Equal(1, await CountEventsAsync(server, mandate.Id, EventTypes.MandateRevoked));
        Assert.Equal(MandateStatus.Revoked, (await QueryMandateAsync(server, revoked)).Status);
        var afterCancel = await ChargeAsync(server, await PendingPaymentAsync(server, (string)(await m.OrderAsync(productId))["id"]!), revoked);
        Assert.Equal((TradeStatus.Failed, RecurringFailures.MandateRevoked), (afterCancel.Status, afterCancel.FailureCode));

        // An old dut_user_sign replayed after the unsign revives nothing.
        var options = server.Services.GetRequiredService<SandboxOptions>();
        var replay = SignNote(options, mandate.Id, active.ProviderMandateId!, active.SignedAt!.Value);
        Assert.Equal((HttpStatusCode.OK, "success"), await PostNoteAsync(server, replay, options.AlipayPrivateKeyPem));
        var still = await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == mandate.Id));
        Assert.Equal((MandateStatus.Revoked, revoked.RevokedAt), (still.Status, still.RevokedAt));
        Assert.Equal(1, await CountEventsAsync(server, mandate.Id, EventTypes.MandateCreated));
    }

    [SkippableFact]
    public async Task Charge_DeclinedOnDemand_IsADecline_ThenTheNextDeductionPays()
    {
        var server = await servers.Get(Db.Sqlite);
        var sim = server.Services.GetRequiredService<AlipaySimulator>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var mandate = await SignedMandateAsync(server, m);
        sim.DeclineDeductions(mandate.ProviderMandateId!, 1);

        var first = await ChargeAsync(server, await PendingPaymentAsync(server, (string)(await m.OrderAsync(productId))["id"]!), mandate);
        Assert.Equal((TradeStatus.Failed, RecurringFailures.Declined), (first.Status, first.FailureCode));
        var retry = await ChargeAsync(server, await PendingPaymentAsync(server, (string)(await m.OrderAsync(productId))["id"]!), mandate);
        Assert.Equal(TradeStatus.Paid, retry.Status);
    }

    [SkippableFact]
    public async Task MerchantTerminates_UnsignAtAlipay_StopsTheAgreementAndFurtherDeductions()
    {
        var server = await servers.Get(Db.Sqlite);
        var sim = server.Services.GetRequiredService<AlipaySimulator>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var mandate = await SignedMandateAsync(server, m);

        await using var scope = server.Services.CreateAsyncScope();
        var alipay = Recurring(scope);
        var ended = await alipay.TerminateMandateAsync(mandate, "merchant", default);
        Assert.Equal((MandateStatus.Revoked, "merchant"), (ended.Status, ended.Reason));
        Assert.Equal("STOP", sim.InspectAgreement(mandate.ProviderMandateId!)!.Value.Status);
        var charge = await ChargeAsync(server, await PendingPaymentAsync(server, (string)(await m.OrderAsync(productId))["id"]!), mandate);
        Assert.Equal(RecurringFailures.MandateRevoked, charge.FailureCode);
        await WaitForMandateAsync(server, mandate.Id, MandateStatus.Revoked);   // the dut_user_unsign notification
    }

    [SkippableFact]
    public async Task ForgedSignNotification_BadSignatureOrForeignApp_IsRefused_AndNothingIsWritten()
    {
        var server = await servers.Get(Db.Sqlite);
        var options = server.Services.GetRequiredService<SandboxOptions>();
        var m = await server.NewMerchantAsync();
        var mandate = await PendingMandateAsync(server, m, maxAmount: 9900);
        using var stranger = System.Security.Cryptography.RSA.Create(2048);

        var forged = await PostNoteAsync(server, SignNote(options, mandate.Id, "20270101660200000001", DateTime.UtcNow), stranger.ExportPkcs8PrivateKeyPem());
        Assert.Equal(HttpStatusCode.Unauthorized, forged.Status);
        var foreign = SignNote(options, mandate.Id, "20270101660200000001", DateTime.UtcNow);
        foreign["app_id"] = "2021999999999999";
        Assert.NotEqual("success", (await PostNoteAsync(server, foreign, options.AlipayPrivateKeyPem)).Body);

        var stored = await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == mandate.Id));
        Assert.Equal(MandateStatus.Pending, stored.Status);
        Assert.Null(stored.ProviderMandateId);
        Assert.Null(stored.SignedAt);
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));
    }

    [SkippableFact]
    public async Task PageSign_RefusesWhatTheRealGatewayRefuses()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var mandate = await PendingMandateAsync(server, m, maxAmount: 3000);
        var settings = server.Services.GetRequiredService<AlipaySettings>();
        var good = new JsonObject
        {
            ["personal_product_code"] = "CYCLE_PAY_AUTH_P", ["product_code"] = "GENERAL_WITHHOLDING", ["sign_scene"] = "INDUSTRY|DIGITAL_MEDIA",
            ["external_agreement_no"] = AlipayProvider.ExternalAgreementNo(mandate.Id), ["access_params"] = new JsonObject { ["channel"] = "QRCODE" },
            ["period_rule_params"] = new JsonObject { ["period_type"] = "MONTH", ["period"] = 1, ["execute_time"] = "2027-03-28", ["single_amount"] = "30.00" },
        };
        Assert.Contains("id=\"sign\"", await PageSignAsync(server, settings, good));
        // qr: the signed page.sign URL is the QR payload (channel QRCODE); scanning it opens the same sign page.
        var qrMandate = await PendingMandateAsync(server, m, maxAmount: 3000, method: PaymentMethods.Qr);
        var qr = (await StartSigningAsync(server, qrMandate, "week", 1, DateTime.UtcNow.AddDays(7))).QrCode!;
        Assert.Equal("QRCODE", (string?)JsonNode.Parse(QueryValue(qr, "biz_content"))!["access_params"]!["channel"]);
        Assert.Contains("id=\"sign\"", await server.Anonymous.GetStringAsync(qr));
        foreach (var (change, expected) in new (Action<JsonObject>, string)[]
        {
            (b => b["sign_scene"] = "DEFAULT|DEFAULT", "sign_scene"),
            (b => b["period_rule_params"]!["execute_time"] = "2027-03-29", "28"),
            (b => b["external_agreement_no"] = "mdt_" + new string('a', 26), "external_agreement_no"),
            (b => b["external_agreement_no"] = new string('a', 33), "external_agreement_no"),
            (b => b["period_rule_params"]!["period_type"] = "WEEK", "period_type"),
        })
        {
            var bad = good.DeepClone().AsObject();
            bad["external_agreement_no"] = "mdt" + Guid.NewGuid().ToString("N")[..26];
            change(bad);
            var answer = await PageSignAsync(server, settings, bad, expectOk: false);
            Assert.Contains("isv.invalid-parameter", answer);
            Assert.Contains(expected, answer);
        }
    }

    [Fact]
    public void PeriodRule_MapsIntervals_AndMovesMonthlyDaysAfterThe28th()
    {
        var at = new DateTime(2027, 3, 30, 17, 0, 0, DateTimeKind.Utc);   // Mar 31 01:00 in China
        Assert.Equal(new AlipayPeriodRule("DAY", 3, new DateOnly(2027, 3, 31)), AlipayPeriodRule.For("day", 3, at));
        Assert.Equal(new AlipayPeriodRule("DAY", 14, new DateOnly(2027, 3, 31)), AlipayPeriodRule.For("week", 2, at));
        Assert.Equal(new AlipayPeriodRule("MONTH", 1, new DateOnly(2027, 3, 28)), AlipayPeriodRule.For("month", 1, at));
        Assert.Equal(new AlipayPeriodRule("MONTH", 12, new DateOnly(2027, 3, 28)), AlipayPeriodRule.For("year", 1, at));
        Assert.Equal(new AlipayPeriodRule("MONTH", 1, new DateOnly(2027, 3, 15)), AlipayPeriodRule.For("month", 1, new DateTime(2027, 3, 15, 0, 0, 0, DateTimeKind.Utc)));
        Assert.Equal("mdt_01hzzzzzzzzzzzzzzzzzzzzzzz", AlipayProvider.MandateId(AlipayProvider.ExternalAgreementNo("mdt_01hzzzzzzzzzzzzzzzzzzzzzzz")));
        Assert.Null(AlipayProvider.MandateId("abc123"));
    }

    static IRecurringProvider Recurring(AsyncServiceScope scope)
    {
        Assert.True(scope.ServiceProvider.GetRequiredService<RecurringProviders>().TryGet("alipay", out var alipay));
        return alipay;
    }

    static async Task<MandateSignStarted> StartSigningAsync(KnowPayServer server, Mandate mandate, string interval, int count, DateTime firstChargeAt)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var customer = await scope.ServiceProvider.GetRequiredService<KnowPayDb>().Customers.SingleAsync(c => c.Id == mandate.CustomerId);
        return await Recurring(scope).StartSigningAsync(new MandateSigning(mandate, customer, "Membership", interval, count, firstChargeAt,
            server.BaseUrl + "/v1/notify/alipay", null), default);
    }

    static async Task<MandateState> QueryMandateAsync(KnowPayServer server, Mandate mandate)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await Recurring(scope).QueryMandateAsync(mandate, default);
    }

    static async Task<ProviderTradeState> ChargeAsync(KnowPayServer server, Payment payment, Mandate mandate)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var order = await scope.ServiceProvider.GetRequiredService<KnowPayDb>().Orders.AsNoTracking().SingleAsync(o => o.Id == payment.OrderId);
        return await Recurring(scope).ChargeAsync(new RecurringCharge(payment, order, mandate, "Membership renewal", server.BaseUrl + "/v1/notify/alipay"), default);
    }

    /// <summary>A pending mandate row for the merchant's learner (the subscriptions API that writes it is not here yet).</summary>
    static async Task<Mandate> PendingMandateAsync(KnowPayServer server, MerchantClient m, long maxAmount, string method = PaymentMethods.Page)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var customer = await db.Customers.SingleOrDefaultAsync(c => c.MerchantId == m.MerchantId && c.ExternalId == "learner-1");
        if (customer is null)
        {
            customer = new Customer { Id = Ids.New("cus"), MerchantId = m.MerchantId, ExternalId = "learner-1", CreatedAt = DateTime.UtcNow };
            db.Customers.Add(customer);
        }
        var mandate = new Mandate
        {
            Id = Ids.New("mdt"), MerchantId = m.MerchantId, CustomerId = customer.Id, Provider = "alipay", Method = method,
            Status = MandateStatus.Pending, Currency = "CNY", MaxAmount = maxAmount, CreatedAt = DateTime.UtcNow,
        };
        db.Mandates.Add(mandate);
        await db.SaveChangesAsync();
        return mandate;
    }

    static async Task<Mandate> SignedMandateAsync(KnowPayServer server, MerchantClient m)
    {
        var mandate = await PendingMandateAsync(server, m, maxAmount: 9900);
        var started = await StartSigningAsync(server, mandate, "month", 1, DateTime.UtcNow.AddDays(30));
        Assert.Contains("id=\"sign\"", await server.Anonymous.GetStringAsync(started.RedirectUrl!));
        await BuyerAsync(server, mandate, "sign");
        return await WaitForMandateAsync(server, mandate.Id, MandateStatus.Active);
    }

    /// <summary>A pending payment row of the order, as the billing engine writes one before it charges.</summary>
    static async Task<Payment> PendingPaymentAsync(KnowPayServer server, string orderId, long? amount = null)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var order = await db.Orders.SingleAsync(o => o.Id == orderId);
        var payment = new Payment
        {
            Id = Ids.New("pay"), MerchantId = order.MerchantId, OrderId = order.Id, Provider = "alipay", Method = PaymentMethods.Page,
            Status = PaymentStatus.Pending, Amount = amount ?? order.Amount, Currency = order.Currency, CreatedAt = DateTime.UtcNow,
        };
        db.Payments.Add(payment);
        await db.SaveChangesAsync();
        return payment;
    }

    static async Task BuyerAsync(KnowPayServer server, Mandate mandate, string action)
    {
        var key = mandate.ProviderMandateId ?? AlipayProvider.ExternalAgreementNo(mandate.Id);
        var r = await server.Anonymous.PostAsync($"/sandbox/alipay/buyer/agreements/{key}/{action}", null);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    static async Task<Mandate> WaitForMandateAsync(KnowPayServer server, string mandateId, MandateStatus status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        Mandate mandate;
        do
        {
            mandate = await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == mandateId));
            if (mandate.Status == status) return mandate;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"mandate {mandateId} is {mandate.Status}, not {status}");
        return mandate;
    }

    static Task<int> CountEventsAsync(KnowPayServer server, string mandateId, string type) =>
        server.QueryAsync(d => d.Events.CountAsync(e => e.ObjectId == mandateId && e.Type == type));

    static string QueryValue(string url, string key) =>
        new Uri(url).Query.TrimStart('?').Split('&').Select(p => p.Split('=', 2))
            .Where(kv => kv[0] == key).Select(kv => Uri.UnescapeDataString(kv[1])).Single();

    static Dictionary<string, string> SignNote(SandboxOptions o, string mandateId, string agreementNo, DateTime signedAt) => new()
    {
        ["notify_time"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow), ["notify_type"] = "dut_user_sign", ["notify_id"] = "ntf-sign-1",
        ["app_id"] = o.AlipayAppId, ["charset"] = "utf-8", ["version"] = "1.0", ["status"] = "NORMAL",
        ["agreement_no"] = agreementNo, ["external_agreement_no"] = AlipayProvider.ExternalAgreementNo(mandateId),
        ["personal_product_code"] = "CYCLE_PAY_AUTH_P", ["sign_scene"] = "INDUSTRY|DIGITAL_MEDIA", ["alipay_user_id"] = "2088102177846880",
        ["sign_time"] = SandboxRsa.Beijing(new DateTimeOffset(DateTime.SpecifyKind(signedAt, DateTimeKind.Utc))),
        ["invalid_time"] = "2115-02-01 00:00:00",
    };

    static async Task<(HttpStatusCode Status, string Body)> PostNoteAsync(KnowPayServer server, Dictionary<string, string> note, string keyPem)
    {
        note["sign"] = SandboxRsa.Sign(SandboxRsa.AlipayContent(note, withoutSignType: true), keyPem);
        note["sign_type"] = "RSA2";
        var r = await server.Anonymous.PostAsync("/v1/notify/alipay", new FormUrlEncodedContent(note));
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    /// <summary>Sends page.sign as the adapter would, signed with the merchant's key, and returns the gateway's page.</summary>
    static async Task<string> PageSignAsync(KnowPayServer server, AlipaySettings settings, JsonObject biz, bool expectOk = true)
    {
        var p = new SortedDictionary<string, string?>(StringComparer.Ordinal)
        {
            ["app_id"] = settings.AppId, ["method"] = "alipay.user.agreement.page.sign", ["format"] = "JSON", ["charset"] = "utf-8",
            ["sign_type"] = "RSA2", ["timestamp"] = AlipaySignature.Timestamp(DateTimeOffset.UtcNow), ["version"] = "1.0",
            ["notify_url"] = server.BaseUrl + "/v1/notify/alipay", ["biz_content"] = biz.ToJsonString(),
        };
        p["sign"] = AlipaySignature.Sign(AlipaySignature.Content(p, dropSignType: false), settings.PrivateKeyPem);
        var r = await server.Anonymous.GetAsync("/sandbox/alipay/gateway.do?" + string.Join("&", p.Select(kv => kv.Key + "=" + Uri.EscapeDataString(kv.Value!))));
        Assert.Equal(expectOk, r.IsSuccessStatusCode);
        return await r.Content.ReadAsStringAsync();
    }
}
