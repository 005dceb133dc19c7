using System.Net;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Alipay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>KnowPay's Alipay adapter against the Alipay sandbox, over real HTTP, with keys generated at start.</summary>
[Collection("server")]
public sealed class AlipayTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task QrPayment_PrecreateThenBuyerPays_NotificationConfirmsTheOrderOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "alipay", "qr");
        Assert.StartsWith(server.BaseUrl + "/sandbox/alipay/qr/", (string?)payment["next_action"]!["qr_code"]);

        await BuyerPays(server, (string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        var stored = await server.QueryAsync(d => d.Payments.SingleAsync(p => p.Id == (string)payment["id"]!));
        Assert.Equal(PaymentStatus.Succeeded, stored.Status);
        Assert.Equal("notification", stored.ConfirmedBy);
        Assert.NotNull(stored.ProviderTradeNo);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PagePayment_SignedRedirectToTheGateway_CashierPayButton_PaysTheOrder(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "alipay", "page");
        var redirect = (string)payment["next_action"]!["redirect_url"]!;
        Assert.StartsWith(server.BaseUrl + "/sandbox/alipay/gateway.do?", redirect);
        Assert.Contains("method=alipay.trade.page.pay", redirect);
        Assert.Contains("FAST_INSTANT_TRADE_PAY", Uri.UnescapeDataString(redirect));

        var cashier = await server.Anonymous.GetStringAsync(redirect);
        Assert.Contains("id=\"pay\"", cashier);
        // A tampered URL (amount changed) is refused by the gateway's signature check.
        var tampered = await server.Anonymous.GetStringAsync(redirect.Replace("99.00", "0.01"));
        Assert.Contains("isv.invalid-signature", tampered);

        var paid = await server.Anonymous.PostAsync($"/sandbox/alipay/qr/{payment["id"]}", null);
        Assert.True(paid.IsSuccessStatusCode || paid.StatusCode == HttpStatusCode.Redirect);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
    }

    [SkippableFact]
    public async Task Refunds_TwoPartialsAndAFull_ThroughTheAdapter_MatchTheSandboxState_RepeatsMoveNoMoney()
    {
        var server = await servers.Get(Db.Sqlite);
        var sim = server.Services.GetRequiredService<AlipaySimulator>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var first = await PaidPaymentAsync(server, m, productId);
        var second = await PaidPaymentAsync(server, m, productId);

        await using var scope = server.Services.CreateAsyncScope();
        var alipay = scope.ServiceProvider.GetRequiredService<PaymentProviders>()["alipay"];
        var r1 = new ProviderRefund(first, "ref_" + Guid.NewGuid().ToString("N")[..20], 3000, "partial one");
        Assert.Equal(RefundStatus.Succeeded, (await alipay.RefundAsync(r1, default)).Status);
        Assert.Equal(RefundStatus.Succeeded, (await alipay.RefundAsync(r1, default)).Status); // same out_request_no: fund_change N
        Assert.Equal(("TRADE_SUCCESS", 9900L, 3000L, 1), sim.Inspect(first.Id));
        var r2 = new ProviderRefund(first, "ref_" + Guid.NewGuid().ToString("N")[..20], 6900, null);
        Assert.Equal(RefundStatus.Succeeded, (await alipay.RefundAsync(r2, default)).Status);
        Assert.Equal(("TRADE_CLOSED", 9900L, 9900L, 2), sim.Inspect(first.Id));
        var tooMuch = await alipay.RefundAsync(new ProviderRefund(first, "ref_" + Guid.NewGuid().ToString("N")[..20], 1, null), default);
        Assert.Equal(RefundStatus.Failed, tooMuch.Status);
        Assert.Equal(RefundStatus.Succeeded, (await alipay.QueryRefundAsync(r2, default)).Status);
        Assert.Equal(RefundStatus.Failed, (await alipay.QueryRefundAsync(r2 with { RefundId = "ref_unknown" }, default)).Status);

        var full = new ProviderRefund(second, "ref_" + Guid.NewGuid().ToString("N")[..20], 9900, "full");
        Assert.Equal(RefundStatus.Succeeded, (await alipay.RefundAsync(full, default)).Status);
        Assert.Equal(("TRADE_CLOSED", 9900L, 9900L, 1), sim.Inspect(second.Id));
    }

    [SkippableFact]
    public async Task ForgedNotifications_AreRefused_AndChangeNothing()
    {
        var server = await servers.Get(Db.Sqlite);
        var options = server.Services.GetRequiredService<SandboxOptions>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "alipay", "qr");
        var id = (string)payment["id"]!;
        using var stranger = System.Security.Cryptography.RSA.Create(2048);
        var strangerPem = stranger.ExportPkcs8PrivateKeyPem();

        Assert.Equal("success", (await PostNote(server, Note(options, id, "99.00"), options.AlipayPrivateKeyPem, "RSA2", dryRun: true)).Body);
        var refusals = new[]
        {
            await PostNote(server, Note(options, id, "99.00"), strangerPem),                                   // bad signature
            await PostNote(server, Note(options, id, "99.00", appId: "2021999999999999"), options.AlipayPrivateKeyPem), // wrong app_id
            await PostNote(server, Note(options, id, "0.01"), options.AlipayPrivateKeyPem),                     // amount
            await PostNote(server, Note(options, id, "99.00", currency: "USD"), options.AlipayPrivateKeyPem),   // currency
            await PostNote(server, Note(options, "pay_00000000000000000000000000", "99.00"), options.AlipayPrivateKeyPem), // unknown trade
            await PostNote(server, Note(options, id, "99.00"), options.AlipayPrivateKeyPem, signType: "RSA"),  // sign_type tampered
        };
        Assert.All(refusals, r => Assert.NotEqual("success", r.Body));
        Assert.All(refusals, r => Assert.False(r.Status == HttpStatusCode.OK));

        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));
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
            var payment = await m.PaymentAsync((string)order["id"]!, "alipay", "qr");
            faults.Set((string)payment["id"]!, fault);
            orders.Add(((string)order["id"]!, (string)payment["id"]!));
        }
        await Task.WhenAll(orders.Select(o => BuyerPays(server, o.Payment)));
        for (var i = 0; i < orders.Count; i++)
            if (!settings[i].DropNotifications) await m.WaitForOrderAsync(orders[i].Order, "paid");
        await Task.Delay(1500); // the spaced duplicates land
        await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2));

        foreach (var (orderId, paymentId) in orders)
        {
            Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
            Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceType == "payment_confirmed" && j.SourceId == paymentId)));
        }
        Assert.Equal(orders.Count, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(orders.Count, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
        var viaQuery = await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId && p.ConfirmedBy == "query"));
        Assert.Equal(2, viaQuery);
    }

    [SkippableFact]
    public async Task GatewayAnswerWithABrokenSignature_IsAnError_NotASuccess()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var payment = await PaidPaymentAsync(server, m, productId);
        server.Services.GetRequiredService<AlipaySimulator>().BreakResponseSignatures(payment.Id);
        await using var scope = server.Services.CreateAsyncScope();
        var alipay = scope.ServiceProvider.GetRequiredService<PaymentProviders>()["alipay"];
        var e = await Assert.ThrowsAsync<ProviderException>(() => alipay.QueryAsync(payment, default));
        Assert.Equal("response_signature_invalid", e.Code);
        await Assert.ThrowsAsync<ProviderException>(() => alipay.RefundAsync(new ProviderRefund(payment, "ref_x", 100, null), default));
    }

    static async Task BuyerPays(KnowPayServer server, string paymentId)
    {
        var r = await server.Anonymous.PostAsync($"/sandbox/alipay/buyer/{paymentId}/pay", null);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    static async Task<Payment> PaidPaymentAsync(KnowPayServer server, MerchantClient m, string productId)
    {
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!, "alipay", "qr");
        await BuyerPays(server, (string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == (string)payment["id"]!));
    }

    static Dictionary<string, string> Note(SandboxOptions o, string outTradeNo, string amount, string? appId = null, string? currency = null)
    {
        var note = new Dictionary<string, string>
        {
            ["notify_time"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow), ["notify_type"] = "trade_status_sync", ["notify_id"] = "ntf1",
            ["app_id"] = appId ?? o.AlipayAppId, ["charset"] = "utf-8", ["version"] = "1.0", ["trade_no"] = "2024010122001400000000000001",
            ["out_trade_no"] = outTradeNo, ["trade_status"] = "TRADE_SUCCESS", ["total_amount"] = amount, ["receipt_amount"] = amount,
            ["gmt_payment"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow), ["seller_id"] = "2088000000000001",
        };
        if (currency is not null) note["trans_currency"] = currency;
        return note;
    }

    /// <summary>Signs as Alipay does (sign and sign_type excluded), then sets sign_type (so a tampered one still "verifies").</summary>
    static async Task<(HttpStatusCode Status, string Body)> PostNote(KnowPayServer server, Dictionary<string, string> note, string keyPem,
        string signType = "RSA2", bool dryRun = false)
    {
        note["sign"] = SandboxRsa.Sign(SandboxRsa.AlipayContent(note, withoutSignType: true), keyPem);
        note["sign_type"] = signType;
        if (dryRun)
        {
            // Proves the forged notes below differ from a genuine one only in what each test changes.
            return (HttpStatusCode.OK, SandboxRsa.Verify(SandboxRsa.AlipayContent(note, true), note["sign"],
                server.Services.GetRequiredService<KnowPay.Providers.Alipay.AlipaySettings>().AlipayPublicKeyPem) ? "success" : "fail");
        }
        var r = await server.Anonymous.PostAsync("/v1/notify/alipay", new FormUrlEncodedContent(note));
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }
}
