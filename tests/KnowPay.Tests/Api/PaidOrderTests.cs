using System.Net;
using System.Text;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Api;

[Collection("server")]
public sealed class PaidOrderTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PaidOrder_EndToEnd_OverHttp_PaysOrderPostsExactJournalGrantsAccessAndEmitsEvents(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (9900, "CNY"));

        var order = await m.OrderAsync(productId);
        Assert.Equal("pending", (string?)order["status"]);
        Assert.Equal(9900, (long)order["amount"]!);
        var payment = await m.PaymentAsync((string)order["id"]!);
        Assert.Equal("qr_code", (string?)payment["next_action"]!["type"]);
        Assert.StartsWith(server.BaseUrl + "/sandbox/sandboxpay/pay/", (string?)payment["next_action"]!["qr_code"]);

        await m.BuyerPaysAsync((string)payment["id"]!);
        var paid = await m.WaitForOrderAsync((string)order["id"]!, "paid");
        Assert.NotNull((string?)paid["paid_at"]);
        var paymentAfter = await m.GetOkAsync($"/v1/payments/{payment["id"]}");
        Assert.Equal("succeeded", (string?)paymentAfter["status"]);

        var paymentId = (string)payment["id"]!;
        var entries = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId)
            .Join(d.Journals.Where(j => j.SourceType == "payment_confirmed" && j.SourceId == paymentId), e => e.JournalId, j => j.Id, (e, _) => e)
            .ToListAsync());
        var byAccount = entries.ToDictionary(e => e.Account, e => e.Amount);
        Assert.Equal(new Dictionary<string, long>
        {
            ["provider:sandbox:clearing:CNY"] = 9900,
            [$"creator:{creatorId}:pending:CNY"] = -6930,
            ["platform:revenue:CNY"] = -2970,
        }, byAccount);

        var entitlements = await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        var entitlement = Assert.Single(entitlements);
        Assert.Equal(productId, entitlement.ProductId);
        Assert.Null(entitlement.ExpiresAt);
        var events = await server.QueryAsync(d => d.Events.Where(e => e.MerchantId == m.MerchantId).Select(e => e.Type).ToListAsync());
        Assert.Equal(["entitlement.granted", "order.paid"], events.Order());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SameNotification_FiveTimesConcurrently_ConfirmsExactlyOnce_AndAnswersAll200(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!);
        var paymentId = (string)payment["id"]!;

        var body = Notification(paymentId, (string)payment["provider_trade_no"]!, 9900, "CNY");
        var responses = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => server.PostSandboxPayAsync("/v1/notify/sandbox", body)));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ForgedNotifications_BadSignatureWrongAmountUnknownPayment_AreRefusedAndChangeNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!);
        var paymentId = (string)payment["id"]!;
        var tradeNo = (string)payment["provider_trade_no"]!;

        var good = Notification(paymentId, tradeNo, 9900, "CNY");
        var badSignature = await server.PostSandboxPayAsync("/v1/notify/sandbox", good, server.SandboxPaySign(good).Replace("v1=", "v1=00"));
        Assert.Equal(HttpStatusCode.Unauthorized, badSignature.StatusCode);
        var signedByOther = await server.PostSandboxPayAsync("/v1/notify/sandbox", good, HmacSignature.Sign("not-the-secret", good, DateTimeOffset.UtcNow));
        Assert.Equal(HttpStatusCode.Unauthorized, signedByOther.StatusCode);
        var wrongAmount = Notification(paymentId, tradeNo, 1, "CNY");
        Assert.Equal(HttpStatusCode.BadRequest, (await server.PostSandboxPayAsync("/v1/notify/sandbox", wrongAmount)).StatusCode);
        var wrongCurrency = Notification(paymentId, tradeNo, 9900, "USD");
        Assert.Equal(HttpStatusCode.BadRequest, (await server.PostSandboxPayAsync("/v1/notify/sandbox", wrongCurrency)).StatusCode);
        var unknown = Notification("pay_doesnotexist", tradeNo, 9900, "CNY");
        Assert.Equal(HttpStatusCode.NotFound, (await server.PostSandboxPayAsync("/v1/notify/sandbox", unknown)).StatusCode);

        var after = await m.GetOkAsync($"/v1/orders/{order["id"]}");
        Assert.Equal("pending", (string?)after["status"]);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task LostNotification_ThePollerQueriesTheSandbox_AndConfirmsThePayment(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!);
        var paymentId = (string)payment["id"]!;
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(DropNotifications: true));

        await m.BuyerPaysAsync(paymentId);
        await Task.Delay(300);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);

        // Not yet due: polled only after Jobs:PollAfterSeconds (60 s) of silence.
        await server.RunJobAsync("payment_poller", DateTime.UtcNow);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);

        var awaited = server.Services.GetRequiredService<KnowPay.Features.Payments.AwaitedPayments>();
        Assert.True(awaited.Remembers(paymentId));
        await server.RunJobAsync("payment_poller", DateTime.UtcNow.AddMinutes(2));
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        Assert.False(awaited.Remembers(paymentId)); // the query's confirmation took the remembered rows, as a notification would
        var stored = await server.QueryAsync(d => d.Payments.SingleAsync(p => p.Id == paymentId));
        Assert.Equal("query", stored.ConfirmedBy);
        Assert.Equal(PaymentStatus.Succeeded, stored.Status);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ExpiredOrder_IsClosedAtTheSandbox_AndTheBuyerCanNoLongerPay(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        var orderId = (string)order["id"]!;
        var payment = await m.PaymentAsync(orderId);

        await server.RunJobAsync("order_expiry", DateTime.UtcNow.AddMinutes(31));
        Assert.Equal("expired", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
        Assert.Equal("canceled", (string?)(await m.GetOkAsync($"/v1/payments/{payment["id"]}"))["status"]);

        var pay = await server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/trades/{payment["id"]}/pay", null);
        Assert.Equal(HttpStatusCode.Conflict, pay.StatusCode);
        Assert.Contains("trade_closed", await pay.Content.ReadAsStringAsync());

        var again = await m.PostAsync($"/v1/orders/{orderId}/payments", new { provider = "sandbox", method = "qr" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("order_expired", (string?)Json.Parse(await again.Content.ReadAsStringAsync())["code"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.expired")));
    }

    static string Notification(string paymentId, string tradeNo, long amount, string currency) =>
        System.Text.Json.JsonSerializer.Serialize(new
        {
            id = "ntf_test", type = "trade.paid",
            data = new { trade_no = tradeNo, out_trade_no = paymentId, status = "PAID", amount, currency, paid_at = DateTimeOffset.UtcNow.ToUnixTimeSeconds() },
        });

}
