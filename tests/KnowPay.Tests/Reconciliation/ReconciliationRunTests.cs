using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Reconciliation;

/// <summary>
/// Reconciliation over the real server and the embedded Alipay and WeChat Pay sandboxes, whose bills are fetched through
/// the adapters over HTTP. The sandbox bills the whole provider account, so each test looks at its own payments' items.
/// </summary>
[Collection("server")]
public sealed class ReconciliationRunTests(Servers servers)
{
    internal const long Price = 12345;   // ¥123.45

    [SkippableTheory]
    [InlineData(Db.Sqlite, "alipay")]
    [InlineData(Db.Sqlite, "wechatpay")]
    [InlineData(Db.Postgres, "alipay")]
    [InlineData(Db.Postgres, "wechatpay")]
    public async Task PaidAndRefunded_ThroughTheSandbox_AllMatched_AndARunAgainStoresNoLineTwice(Db db, string provider)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var paid = new List<string>();
        for (var i = 0; i < 3; i++) paid.Add(await PaidAsync(server, m, provider));
        var refund = await m.PostOkAsync($"/v1/payments/{paid[0]}/refunds", new { amount = 2345 });
        await WaitForRefundAsync(m, (string)refund["id"]!);
        var day = await DayOfAsync(server, paid[0]);

        var run = await RunAsync(m, provider, day);
        Assert.Equal("completed", (string?)run["status"]);
        Assert.StartsWith("rec_", (string)run["id"]!);
        Assert.Empty(await MineAsync(m, run, paid));
        var keys = paid.Select(p => "payment:" + p).Append("refund:" + refund["id"]).ToList();
        Assert.Equal(4, await server.QueryAsync(d => d.BillLines.CountAsync(l => l.Provider == provider && keys.Contains(l.Key))));

        var again = await RunAsync(m, provider, day);
        Assert.Equal((string?)run["id"], (string?)again["id"]);
        Assert.Equal((int)run["attempts"]! + 1, (int)again["attempts"]!);
        Assert.Equal(4, await server.QueryAsync(d => d.BillLines.CountAsync(l => l.Provider == provider && keys.Contains(l.Key))));
        Assert.Equal(await server.QueryAsync(d => d.BillLines.CountAsync(l => l.Provider == provider && l.Day == day)), (int)again["line_count"]!);
        Assert.Empty(await MineAsync(m, again, paid));
        var read = await m.GetOkAsync($"/v1/reconciliation/runs/{run["id"]}");
        Assert.Equal(("reconciliation_run", provider, "completed", again["checksum"]?.ToString()),
            ((string?)read["object"], (string?)read["provider"], (string?)read["status"], read["checksum"]?.ToString()));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PaidAtTheProvider_NotificationLost_IsMissingInKnowPay_ConfirmedThroughTheNormalPathExactlyOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (Price, "CNY"));
        var order = await m.OrderAsync(productId);
        var paymentId = (string)(await m.PaymentAsync((string)order["id"]!, "alipay", "qr"))["id"]!;
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(DropNotifications: true));
        var pay = await server.Anonymous.PostAsync($"/sandbox/alipay/buyer/{paymentId}/pay", null);
        Assert.True(pay.IsSuccessStatusCode, await pay.Content.ReadAsStringAsync());
        await Task.Delay(300);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        var day = BillDay(DateTime.UtcNow);

        for (var i = 0; i < 2; i++)
        {
            var run = await RunAsync(m, "alipay", day);
            var item = Assert.Single(await MineAsync(m, run, [paymentId]));
            Assert.Equal("missing_in_knowpay", (string?)item["kind"]);
            Assert.Equal("confirmed", (string?)item["resolution"]);
            Assert.Equal(Price, (long)item["bill_amount"]!);
        }
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{order["id"]}"))["status"]);
        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceId == paymentId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "order.paid")));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task EachKindOfDifference_IsFoundOnce_ForItsOwnPayment(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var amountOff = await PaidAsync(server, m, "wechatpay");
        var currencyOff = await PaidAsync(server, m, "wechatpay");
        var refunded = await PaidAsync(server, m, "wechatpay");
        var refund = (string)(await m.PostOkAsync($"/v1/payments/{refunded}/refunds", new { amount = 100 }))["id"]!;
        await WaitForRefundAsync(m, refund);
        var day = await DayOfAsync(server, amountOff);

        // KnowPay's books drift from the provider's: one fen more, another currency, a refund KnowPay thinks failed, and a
        // success of the day before that the provider never had.
        await server.QueryAsync(d => d.Payments.Where(p => p.Id == amountOff).ExecuteUpdateAsync(s => s.SetProperty(p => p.Amount, Price + 1)));
        await server.QueryAsync(d => d.Payments.Where(p => p.Id == currencyOff).ExecuteUpdateAsync(s => s.SetProperty(p => p.Currency, "USD")));
        await server.QueryAsync(d => d.Refunds.Where(r => r.Id == refund).ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, RefundState.Failed)));
        var (_, productId) = await m.CourseAsync(7000, (Price, "CNY"));
        var unbilled = (string)(await m.PaymentAsync((string)(await m.OrderAsync(productId))["id"]!, "wechatpay", "qr"))["id"]!;
        var yesterday = day.AddDays(-1).ToDateTime(new TimeOnly(12, 0), DateTimeKind.Utc);
        await server.QueryAsync(d => d.Payments.Where(p => p.Id == unbilled).ExecuteUpdateAsync(s => s
            .SetProperty(p => p.Status, PaymentStatus.Succeeded).SetProperty(p => p.ProviderPaidAt, yesterday).SetProperty(p => p.SucceededAt, yesterday)));

        var run = await RunAsync(m, "wechatpay", day);
        var items = await MineAsync(m, run, [amountOff, currencyOff, refunded, unbilled]);
        Assert.Equal(
            [("amount_mismatch", amountOff), ("currency_mismatch", currencyOff), ("missing_at_provider", unbilled), ("status_mismatch", refunded)],
            items.Select(i => ((string)i["kind"]!, (string)i["payment_id"]!)).Order().ToList());
        var amount = items.Single(i => (string?)i["kind"] == "amount_mismatch");
        Assert.Equal((Price + 1, Price), ((long)amount["expected_amount"]!, (long)amount["bill_amount"]!));
        Assert.Equal(refund, (string?)items.Single(i => (string?)i["kind"] == "status_mismatch")["refund_id"]);

        var onlyMissing = await m.GetOkAsync($"/v1/reconciliation/runs/{run["id"]}/items?kind=missing_at_provider&limit=100");
        Assert.Contains(onlyMissing["data"]!.AsArray(), i => (string?)i!["payment_id"] == unbilled);
        Assert.All(onlyMissing["data"]!.AsArray(), i => Assert.Equal("missing_at_provider", (string?)i!["kind"]));
        Assert.Equal(HttpStatusCode.BadRequest, (await m.Http.GetAsync($"/v1/reconciliation/runs/{run["id"]}/items?kind=short")).StatusCode);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task BilledFee_OtherThanTheEstimate_IsFeeMismatch(Db db)
    {
        // KnowPay books 0.6 % for Alipay here; the sandbox bills that fee less 0.74 yuan: none.
        await using var server = await KnowPayServer.StartAsync(db, new Dictionary<string, string?> { ["Providers:Alipay:FeeBps"] = "60" });
        var m = await server.NewMerchantAsync();
        var paymentId = await PaidAsync(server, m, "alipay");
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(BillFeeDelta: -74));
        var run = await RunAsync(m, "alipay", await DayOfAsync(server, paymentId));
        var item = Assert.Single(await MineAsync(m, run, [paymentId]));
        Assert.Equal("fee_mismatch", (string?)item["kind"]);
        Assert.Equal((74L, 0L), ((long)item["expected_amount"]!, (long)item["bill_amount"]!));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Job_AfterTheBillHour_ImportsYesterdayOncePerProvider_BadRequestsAreRefused(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var now = DateTime.UtcNow.Date.AddHours(11);   // 11:00 UTC, 19:00 in China: after the default bill hour (10) of every provider's day
        var yesterday = BillDay(now).AddDays(-1);
        await server.RunJobAsync("reconciliation", now);
        await server.RunJobAsync("reconciliation", now);
        var runs = await server.QueryAsync(d => d.ReconciliationRuns.Where(r => r.Day == yesterday).ToListAsync());
        Assert.Equal(["alipay", "paypal", "sandbox", "stripe", "wechatpay"], runs.Select(r => r.Provider).Order());
        Assert.All(runs, r => Assert.Equal(("completed", 1), (r.Status, r.Attempts)));

        Assert.Equal(HttpStatusCode.BadRequest, (await m.PostAsync("/v1/reconciliation/runs", new { provider = "square", date = "2026-01-01" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await m.PostAsync("/v1/reconciliation/runs", new { provider = "alipay", date = "01/01/2026" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await m.PostAsync("/v1/reconciliation/runs",
            new { provider = "alipay", date = BillDay(DateTime.UtcNow).AddDays(2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await m.Http.GetAsync("/v1/reconciliation/runs/rec_nosuchrun")).StatusCode);
    }

    internal static async Task<string> PaidAsync(KnowPayServer server, MerchantClient m, string provider)
    {
        var (_, productId) = await m.CourseAsync(7000, (Price, "CNY"));
        var order = await m.OrderAsync(productId);
        var paymentId = (string)(await m.PaymentAsync((string)order["id"]!, provider, "qr"))["id"]!;
        var paid = await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{paymentId}/pay", null);
        Assert.True(paid.IsSuccessStatusCode, await paid.Content.ReadAsStringAsync());
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return paymentId;
    }

    internal static async Task WaitForRefundAsync(MerchantClient m, string refundId)
    {
        for (var i = 0; i < 100; i++)
        {
            if ((string?)(await m.GetOkAsync($"/v1/refunds/{refundId}"))["status"] == "succeeded") return;
            await Task.Delay(100);
        }
        Assert.Fail($"refund {refundId} did not succeed");
    }

    internal static async Task<JsonObject> RunAsync(MerchantClient m, string provider, DateOnly day) =>
        await m.PostOkAsync("/v1/reconciliation/runs", new { provider, date = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) });

    /// <summary>The run's items about these payments (the shared sandbox bills other tests' trades too).</summary>
    static async Task<List<JsonObject>> MineAsync(MerchantClient m, JsonObject run, IReadOnlyCollection<string> paymentIds)
    {
        var page = await m.GetOkAsync($"/v1/reconciliation/runs/{run["id"]}/items?limit=100");
        return page["data"]!.AsArray().Select(i => i!.AsObject()).Where(i => paymentIds.Contains((string?)i["payment_id"] ?? "")).ToList();
    }

    internal static async Task<DateOnly> DayOfAsync(KnowPayServer server, string paymentId) =>
        BillDay(await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.ProviderPaidAt ?? p.SucceededAt ?? DateTime.UtcNow).SingleAsync()));

    /// <summary>Alipay and WeChat Pay cut their bills at midnight China Standard Time (UTC+8).</summary>
    internal static DateOnly BillDay(DateTime utc) => DateOnly.FromDateTime(utc.AddHours(8));
}
