using System.Globalization;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Reconciliation;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Reconciliation;

/// <summary>
/// Every billed provider's sandbox bill, built from its own trades and fetched through the adapter over HTTP, reconciles
/// clean; each discrepancy the sandbox injects into the bill (SandboxFaults' Bill* settings) is found exactly once.
/// </summary>
[Collection("server")]
public sealed class BillDiscrepancyTests(Servers servers)
{
    public static TheoryData<Db, string> DbAndProvider()
    {
        var data = new TheoryData<Db, string>();
        foreach (var db in new[] { Db.Sqlite, Db.Postgres })
            foreach (var provider in new[] { "alipay", "wechatpay", "stripe", "paypal", "sandbox" })
                data.Add(db, provider);
        return data;
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task EachProvidersDay_NothingInjected_ReconcilesClean_WithTheBilledFeesAsEstimated(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db, new Dictionary<string, string?>
        {
            ["Providers:Alipay:FeeBps"] = "60", ["Providers:WeChatPay:FeeBps"] = "60",
            ["Providers:Stripe:FeeBps"] = "290", ["Providers:Stripe:FeeFixed"] = "30", ["Providers:Sandbox:FeeBps"] = "100",
            ["Providers:PayPal:FeeBps"] = "349", ["Providers:PayPal:FeeFixed"] = "49",
        });
        var m = await server.NewMerchantAsync();
        foreach (var (provider, fee) in new[] { ("alipay", new ProviderFee(60, 0)), ("wechatpay", new ProviderFee(60, 0)),
                     ("stripe", new ProviderFee(290, 30)), ("paypal", new ProviderFee(349, 49)), ("sandbox", new ProviderFee(100, 0)) })
        {
            var paid = new[] { await PaidAsync(server, m, provider, Price), await PaidAsync(server, m, provider, Price + 1) };
            var refund = await RefundAsync(m, paid[0], 2345);
            var day = await DayOfAsync(server, provider, paid[0]);

            var run = await m.PostOkAsync("/v1/reconciliation/runs", new { provider, date = Date(day) });
            Assert.True((string?)run["status"] == "completed", $"{provider}: {run["reason"]}");
            Assert.Empty(await MineAsync(m, [run], paid, []));
            var lines = await server.QueryAsync(d => d.BillLines.Where(l => l.Provider == provider && l.Day == day
                && (paid.Contains(l.OutTradeNo) || l.OutRefundNo == refund)).OrderBy(l => l.Key).ToListAsync());
            Assert.Equal(
                [("payment:" + paid[0], Price, RevenueSplit.For(Price, 0, fee).Fee), ("payment:" + paid[1], Price + 1, RevenueSplit.For(Price + 1, 0, fee).Fee),
                 ("refund:" + refund, 2345L, 0L)],
                lines.Select(l => (l.Key, l.Amount, l.Fee)).OrderBy(l => l.Key, StringComparer.Ordinal).ToList());
            Assert.True(RevenueSplit.For(Price, 0, fee).Fee > 0);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(DbAndProvider))]
    public async Task EachInjectedDiscrepancy_IsFoundExactlyOnce_AndARefundOnTheNextDaysBill_IsMatchedThere(Db db, string provider)
    {
        var server = await servers.Get(db);
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var clean = await PaidAsync(server, m, provider, Price);
        var omitted = await PaidAsync(server, m, provider, Price);
        var copied = await PaidAsync(server, m, provider, Price);
        var amountOff = await PaidAsync(server, m, provider, Price);
        var feeOff = await PaidAsync(server, m, provider, Price);
        var refunded = await PaidAsync(server, m, provider, Price);
        var refund = await RefundAsync(m, refunded, 100);
        var extra = "pay_extra" + Guid.NewGuid().ToString("N")[..16];
        faults.Set(omitted, new FaultSettings(BillOmits: true));
        faults.Set(copied, new FaultSettings(BillExtraTrade: extra));
        faults.Set(amountOff, new FaultSettings(BillAmountDelta: 1));
        faults.Set(feeOff, new FaultSettings(BillFeeDelta: 7));
        faults.Set(refunded, new FaultSettings(BillRefundNextDay: true));
        var day = await DayOfAsync(server, provider, clean);
        JsonObject first, next;
        try
        {
            first = await m.PostOkAsync("/v1/reconciliation/runs", new { provider, date = Date(day) });
            // The next day's run as the job makes it once that day is over (the API refuses a day still to come).
            await using (var scope = server.Services.CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<RunReconciliation>().RunAsync(provider, day.AddDays(1), CancellationToken.None);
            next = await m.GetOkAsync($"/v1/reconciliation/runs/{(await server.QueryAsync(d => d.ReconciliationRuns.SingleAsync(r => r.Provider == provider && r.Day == day.AddDays(1)))).Id}");
        }
        finally
        {
            foreach (var trade in new[] { omitted, copied, amountOff, feeOff, refunded }) faults.Set(trade, new FaultSettings());
        }
        Assert.True((string?)first["status"] == "completed" && (string?)next["status"] == "completed", $"{first["reason"]} / {next["reason"]}");

        var items = await MineAsync(m, [first, next], [clean, omitted, copied, amountOff, feeOff, refunded], ["payment:" + extra]);
        Assert.Equal(
            [
                ((string)first["id"]!, "amount_mismatch", "payment:" + amountOff), ((string)first["id"]!, "fee_mismatch", "payment:" + feeOff),
                ((string)first["id"]!, "missing_in_knowpay", "payment:" + extra), ((string)next["id"]!, "missing_at_provider", "payment:" + omitted),
            ],
            items.Select(i => ((string)i["run_id"]!, (string)i["kind"]!, (string)i["line_key"]!)).Order().ToList());
        var amount = items.Single(i => (string?)i["kind"] == "amount_mismatch");
        Assert.Equal((Price, Price + 1), ((long)amount["expected_amount"]!, (long)amount["bill_amount"]!));
        var fee = items.Single(i => (string?)i["kind"] == "fee_mismatch");
        Assert.Equal((0L, 7L), ((long)fee["expected_amount"]!, (long)fee["bill_amount"]!));
        Assert.Equal(Price, (long)items.Single(i => (string?)i["kind"] == "missing_in_knowpay")["bill_amount"]!);
        // The refund was on the next day's bill only, and matched there.
        Assert.Equal([day.AddDays(1)], await server.QueryAsync(d => d.BillLines.Where(l => l.Provider == provider && l.Key == "refund:" + refund).Select(l => l.Day).ToListAsync()));
    }

    internal const long Price = 12345;

    internal static async Task<string> PaidAsync(KnowPayServer server, MerchantClient m, string provider, long price)
    {
        var currency = provider is "stripe" or "paypal" ? "USD" : "CNY";
        var (_, productId) = await m.CourseAsync(7000, (price, currency));
        var order = await m.OrderAsync(productId, currency);
        var payment = await m.PaymentAsync((string)order["id"]!, provider, provider switch { "stripe" => "card", "paypal" => "page", _ => "qr" });
        var id = (string)payment["id"]!;
        var paid = provider switch
        {
            "sandbox" => await server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/trades/{id}/pay", null),
            "stripe" => await StripeTests.ConfirmRawAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds),
            "paypal" => await server.Anonymous.PostAsync($"/sandbox/paypal/checkoutnow/{payment["provider_trade_no"]}/approve", null),
            _ => await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{id}/pay", null),
        };
        Assert.True(paid.IsSuccessStatusCode, await paid.Content.ReadAsStringAsync());
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return id;
    }

    internal static async Task<string> RefundAsync(MerchantClient m, string paymentId, long amount)
    {
        var refundId = (string)(await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount }))["id"]!;
        // Up to a minute: a day of hundreds of trades keeps the sandbox's refund notifications queued.
        for (var i = 0; i < 600; i++)
        {
            if ((string?)(await m.GetOkAsync($"/v1/refunds/{refundId}"))["status"] == "succeeded") return refundId;
            await Task.Delay(100);
        }
        Assert.Fail($"refund {refundId} did not succeed");
        return refundId;
    }

    /// <summary>The items of the runs about these payments or bill lines (the shared sandbox bills other tests' trades too).</summary>
    internal static async Task<List<JsonObject>> MineAsync(MerchantClient m, JsonObject[] runs, IReadOnlyCollection<string> paymentIds, IReadOnlyCollection<string> lineKeys)
    {
        var mine = new List<JsonObject>();
        foreach (var run in runs)
            mine.AddRange((await ItemsAsync(m, run)).Where(i => paymentIds.Contains((string?)i["payment_id"] ?? "") || lineKeys.Contains((string?)i["line_key"] ?? "")));
        return mine;
    }

    /// <summary>Every item of a run the merchant can see, page by page.</summary>
    internal static async Task<List<JsonObject>> ItemsAsync(MerchantClient m, JsonObject run)
    {
        var items = new List<JsonObject>();
        for (string? after = null; ;)
        {
            var page = await m.GetOkAsync($"/v1/reconciliation/runs/{run["id"]}/items?limit=100" + (after is null ? "" : "&starting_after=" + after));
            var data = page["data"]!.AsArray().Select(i => i!.AsObject()).ToList();
            items.AddRange(data);
            if (page["has_more"]?.GetValue<bool>() != true || data.Count == 0) return items;
            after = (string)data[^1]["id"]!;
        }
    }

    internal static async Task<DateOnly> DayOfAsync(KnowPayServer server, string provider, string paymentId) =>
        BillSources.DayOf(provider, await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.ProviderPaidAt ?? p.SucceededAt ?? DateTime.UtcNow).SingleAsync()));

    internal static string Date(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
