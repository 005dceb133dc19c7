using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Ledger;
using KnowPay.Features.Reconciliation;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static KnowPay.Tests.Reconciliation.BillDiscrepancyTests;

namespace KnowPay.Tests.Reconciliation;

/// <summary>
/// A whole day: 500 payments and 40 refunds over real HTTP through every billed provider's sandbox, each discrepancy
/// injected once (the bill's through POST /sandbox/faults, KnowPay's own drift in its database), reconciled through the
/// bills fetched over HTTP. Every class is found exactly once and every other line matches. A server of its own, so that
/// the sandboxes bill this test's trades alone.
/// </summary>
public sealed class ReconciliationDayTests(ITestOutputHelper output)
{
    /// <summary>A billed provider: how a buyer pays it in its sandbox. One list, so a new provider is one more row.</summary>
    sealed record BilledProvider(string Name, string Currency, string Method, Func<KnowPayServer, JsonObject, Task<HttpResponseMessage>> Pay);

    static readonly BilledProvider[] Billed =
    [
        new("alipay", "CNY", "qr", (s, p) => s.Anonymous.PostAsync($"/sandbox/alipay/buyer/{p["id"]}/pay", null)),
        new("wechatpay", "CNY", "qr", (s, p) => s.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/{p["id"]}/pay", null)),
        new("stripe", "USD", "card", (s, p) => StripeTests.ConfirmRawAsync(s, (string)p["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds)),
        new("sandbox", "CNY", "qr", (s, p) => s.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/trades/{p["id"]}/pay", null)),
    ];

    const int Payments = 500, Refunds = 40, Parallelism = 8;
    const long Price = 12345, RefundAmount = 100;

    sealed record Paid(BilledProvider Provider, string PaymentId, string OrderId);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ADayOf500PaymentsAnd40Refunds_EachDiscrepancyInjectedOnce_IsFoundOnce_TheRestMatch_RepairedAndTruedUp_TrialBalanceZero(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db, new Dictionary<string, string?>
        {
            ["Providers:Alipay:FeeBps"] = "60", ["Providers:WeChatPay:FeeBps"] = "60",
            ["Providers:Stripe:FeeBps"] = "290", ["Providers:Stripe:FeeFixed"] = "30", ["Providers:Sandbox:FeeBps"] = "100",
        });
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, [.. Billed.Select(p => p.Currency).Distinct().Select(c => (Price, c))]);
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();

        // The provider has this payment's success; KnowPay never hears of it (the notification is lost).
        var unheard = await PayAsync(server, m, productId, Billed[0], "learner-unheard", fault: new { drop_notifications = true });
        var paid = new Paid[Payments - 1];
        await Parallel.ForEachAsync(Enumerable.Range(0, Payments - 1), new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (i, _) =>
            paid[i] = await PayAsync(server, m, productId, Billed[i % Billed.Length], $"learner-{i}"));
        var paidIn = clock.Elapsed;
        var refunded = paid.GroupBy(p => p.Provider).SelectMany(g => g.Skip(20).Take(Refunds / Billed.Length)).ToArray();
        var refunds = new string[refunded.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, refunded.Length), new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (i, _) =>
            refunds[i] = await RefundAsync(m, refunded[i].PaymentId, RefundAmount));
        output.WriteLine($"{db}: {Payments} payments in {paidIn.TotalSeconds:F1} s, {Refunds} refunds in {(clock.Elapsed - paidIn).TotalSeconds:F1} s");
        Assert.Equal(Refunds, refunds.Distinct().Count());

        Paid Of(string provider, int n) => paid.Where(p => p.Provider.Name == provider).Skip(n).First();
        string RefundOf(string provider, int n) => refunds[Array.FindIndex(refunded, p => p == refunded.Where(r => r.Provider.Name == provider).Skip(n).First())];
        // The bill's discrepancies: a payment's on its out_trade_no, a refund's on its out_refund_no.
        var omitted = Of("stripe", 0);
        var amountOff = Of("sandbox", 0);
        var feeOff = Of("alipay", 0);
        var currencyOff = Of("wechatpay", 0);
        var drifted = Of("wechatpay", 1);
        var revoked = Of("sandbox", 1);
        var nextDay = refunded.First(r => r.Provider.Name == "stripe");
        string refundPending = RefundOf("wechatpay", 0), refundAmountOff = RefundOf("stripe", 1), refundFeeOff = RefundOf("sandbox", 0),
            refundOmitted = RefundOf("alipay", 0), refundCurrencyOff = RefundOf("sandbox", 1);
        await FaultAsync(server, omitted.PaymentId, new { bill_omits = true });
        await FaultAsync(server, amountOff.PaymentId, new { bill_amount_delta = 1 });
        await FaultAsync(server, feeOff.PaymentId, new { bill_fee_delta = 7 });
        await FaultAsync(server, currencyOff.PaymentId, new { bill_currency = "HKD" });
        await FaultAsync(server, nextDay.PaymentId, new { bill_refund_next_day = true });
        await FaultAsync(server, refundPending, new { bill_pending = true });
        await FaultAsync(server, refundAmountOff, new { bill_amount_delta = 1 });
        await FaultAsync(server, refundFeeOff, new { bill_fee_delta = 3 });
        await FaultAsync(server, refundOmitted, new { bill_omits = true });
        await FaultAsync(server, refundCurrencyOff, new { bill_currency = "HKD" });

        // KnowPay's own drift: a journal moving a billed payment's clearing by a fen, a paid order's access revoked, and
        // access granted on an order never paid.
        await server.QueryAsync(async d =>
        {
            d.Journals.Add(Journals.Build(m.MerchantId, "adjustment", Ids.New("adj"), "hand-made", [
                new Posting(Accounts.ProviderClearing("wechatpay", "CNY"), "CNY", 1), new Posting(Accounts.PlatformRevenue("CNY"), "CNY", -1)],
                DateTime.UtcNow, paymentId: drifted.PaymentId));
            return await d.SaveChangesAsync();
        });
        var revokedEntitlement = await server.QueryAsync(d => d.Entitlements.Where(e => e.OrderId == revoked.OrderId).Select(e => e.Id).SingleAsync());
        await server.QueryAsync(d => d.Entitlements.Where(e => e.Id == revokedEntitlement)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.RevokedAt, DateTime.UtcNow).SetProperty(e => e.RevokedReason, "by_hand")));
        var unpaidOrder = (string)(await m.OrderAsync(productId, customer: "learner-unpaid"))["id"]!;   // no payment: no provider's run owns it
        var grantedWithoutPayment = await server.QueryAsync(async d =>
        {
            var order = await d.Orders.SingleAsync(o => o.Id == unpaidOrder);
            var entitlement = new Entitlement
            {
                Id = Ids.New("ent"), MerchantId = m.MerchantId, CustomerId = order.CustomerId, ProductId = order.ProductId, OrderId = order.Id, GrantedAt = DateTime.UtcNow,
            };
            d.Entitlements.Add(entitlement);
            await d.SaveChangesAsync();
            return entitlement.Id;
        });

        // Every provider's days the trades fell on, then the next one: the cross-day pool's grace (CarryDays = 1) is over there.
        var runs = new List<JsonObject>();
        var reconciling = Stopwatch.StartNew();
        foreach (var provider in Billed)
        {
            var (first, last) = (BillSources.DayOf(provider.Name, started), BillSources.DayOf(provider.Name, DateTime.UtcNow));
            for (var day = first; day <= last.AddDays(1); day = day.AddDays(1)) runs.Add(await RunAsync(server, m, provider.Name, day));
        }
        output.WriteLine($"{db}: {runs.Count} runs in {reconciling.Elapsed.TotalSeconds:F1} s; whole test {clock.Elapsed.TotalSeconds:F1} s");
        Assert.All(runs, r => Assert.True((string?)r["status"] == "completed", $"{r["provider"]} {r["date"]}: {r["status"]} {r["reason"]}"));

        // Each difference once: a check of standing state (the entitlement leg) is listed once per day, so it is counted by its line.
        var items = new List<JsonObject>();
        foreach (var run in runs) items.AddRange(await ItemsAsync(m, run));
        Assert.All(runs, r => Assert.Equal(items.Count(i => (string?)i["run_id"] == (string?)r["id"]), (int)r["differences"]!));
        var found = items.GroupBy(i => ((string)i["kind"]!, (string)i["line_key"]!)).Select(g => g.First()).ToList();
        var dayOfRun = runs.ToDictionary(r => (string)r["id"]!, r => (string)r["date"]!);
        Assert.Equal(items.Count, items.DistinctBy(i => ((string)i["kind"]!, (string)i["line_key"]!, dayOfRun[(string)i["run_id"]!])).Count());
        Assert.Equal(
            new[]
            {
                ("amount_mismatch", "payment:" + amountOff.PaymentId), ("amount_mismatch", "refund:" + refundAmountOff),
                ("currency_mismatch", "payment:" + currencyOff.PaymentId), ("currency_mismatch", "refund:" + refundCurrencyOff),
                ("entitlement_missing", "entitlement:order:" + revoked.OrderId), ("entitlement_without_payment", "entitlement:" + grantedWithoutPayment),
                ("fee_mismatch", "payment:" + feeOff.PaymentId), ("fee_mismatch", "refund:" + refundFeeOff),
                ("ledger_difference", $"ledger:{m.MerchantId}:CNY"),
                ("missing_at_provider", "payment:" + omitted.PaymentId), ("missing_at_provider", "refund:" + refundOmitted),
                ("missing_in_knowpay", "payment:" + unheard.PaymentId),
                ("status_mismatch", "refund:" + refundPending),
            }.Order().ToList(),
            found.Select(i => ((string)i["kind"]!, (string)i["line_key"]!)).Order().ToList());
        output.WriteLine($"{db}: classes found once each: " + string.Join(", ", found.Select(i => $"{i["kind"]}/{((string)i["line_key"]!).Split(':')[0]}").Order()));

        // The rest matched: every bill line but the two left off is on a bill once, and all but the eight with an item match.
        const int lineItems = 8;   // missing_in_knowpay, 2 amount, 2 fee, 2 currency, 1 status: items about a bill line
        Assert.Equal(Payments + Refunds - 2, runs.Sum(r => (int)r["line_count"]!));
        Assert.Equal(Payments + Refunds - 2 - lineItems, runs.Sum(r => (int)r["matched"]!));
        // The refund the provider booked a day late is on the next day's bill, matched there.
        var nextDayRefund = refunds[Array.IndexOf(refunded, nextDay)];
        var nextDayCompleted = await server.QueryAsync(d => d.Refunds.Where(r => r.Id == nextDayRefund).Select(r => r.CompletedAt).SingleAsync());
        Assert.Equal([BillSources.DayOf("stripe", nextDayCompleted!.Value).AddDays(1)],
            await server.QueryAsync(d => d.BillLines.Where(l => l.OutRefundNo == nextDayRefund).Select(l => l.Day).ToListAsync()));

        // missing_in_knowpay is repaired through the normal path: a paid order with its journal and its access.
        var repaired = found.Single(i => (string?)i["kind"] == "missing_in_knowpay");
        Assert.Equal(("confirmed", Price), ((string?)repaired["resolution"], (long)repaired["bill_amount"]!));
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{unheard.OrderId}"))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceType == "payment_confirmed" && j.SourceId == unheard.PaymentId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Entitlements.CountAsync(e => e.OrderId == unheard.OrderId && e.RevokedAt == null)));

        // Fee true-ups posted for the payment's and the refund's billed fees; the ledger carries them; the books balance.
        var trueUps = found.Where(i => (string?)i["kind"] == "fee_mismatch").ToList();
        Assert.All(trueUps, i => Assert.Equal("trued_up", (string?)i["resolution"]));
        var feeJournals = await server.QueryAsync(d => d.Journals.Where(j => j.SourceType == FeeTrueUps.SourceType).Include(j => j.Entries).ToListAsync());
        Assert.Equal(new[] { feeOff.PaymentId, refundFeeOff }.Order(StringComparer.Ordinal), feeJournals.Select(j => j.SourceId).Order(StringComparer.Ordinal));
        Assert.Equal(trueUps.Select(i => (string)i["journal_id"]!).Order(), feeJournals.Select(j => j.Id).Order());
        Assert.Equal(-7, feeJournals.Single(j => j.SourceId == feeOff.PaymentId).Entries.Single(e => e.Account == "provider:alipay:fees:CNY").Amount);
        Assert.Equal(3, feeJournals.Single(j => j.SourceId == refundFeeOff).Entries.Single(e => e.Account == "provider:sandbox:fees:CNY").Amount);   // 3 fen of fee given back
        var trial = await m.GetOkAsync("/v1/ledger/trial-balance");
        Assert.True((bool)trial["balanced"]!);
        Assert.Equal(Billed.Select(p => p.Currency).Distinct().Order(), trial["currencies"]!.AsArray().Select(c => (string)c!["currency"]!).Order());
        Assert.All(trial["currencies"]!.AsArray(), c => Assert.Equal(0, (long)c!["total"]!));
    }

    static async Task<Paid> PayAsync(KnowPayServer server, MerchantClient m, string productId, BilledProvider provider, string customer, object? fault = null)
    {
        var order = (string)(await m.OrderAsync(productId, provider.Currency, customer))["id"]!;
        var payment = await m.PaymentAsync(order, provider.Name, provider.Method);
        if (fault is not null) await FaultAsync(server, (string)payment["id"]!, fault);
        var response = await provider.Pay(server, payment);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        if (fault is null) await m.WaitForOrderAsync(order, "paid", 60_000);
        return new Paid(provider, (string)payment["id"]!, order);
    }

    /// <summary>Sets a sandbox fault over HTTP, as an operator of the sandbox would.</summary>
    static async Task FaultAsync(KnowPayServer server, string trade, object settings)
    {
        var body = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(settings))!.AsObject();
        body["trade"] = trade;
        var response = await server.Anonymous.PostAsJsonAsync("/sandbox/faults", body);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Through the API up to the provider's today; a later day as the job runs it once that day is over.</summary>
    static async Task<JsonObject> RunAsync(KnowPayServer server, MerchantClient m, string provider, DateOnly day)
    {
        if (day <= BillSources.DayOf(provider, DateTime.UtcNow))
            return await m.PostOkAsync("/v1/reconciliation/runs", new { provider, date = Date(day) });
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var run = await scope.ServiceProvider.GetRequiredService<RunReconciliation>().RunAsync(provider, day, CancellationToken.None);
            return await m.GetOkAsync($"/v1/reconciliation/runs/{run.Id}");
        }
    }
}
