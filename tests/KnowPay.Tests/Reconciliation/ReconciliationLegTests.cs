using System.Text.Json.Nodes;
using CsCheck;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Ledger;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Reconciliation.ReconciliationRunTests;

namespace KnowPay.Tests.Reconciliation;

/// <summary>
/// The fee true-up, the ledger leg and the entitlement leg of a run, over the real server and the embedded sandboxes. The
/// sandbox bills every test's trades, so each test looks at its own merchant's items (the API lists no one else's).
/// </summary>
[Collection("server")]
public sealed class ReconciliationLegTests(Servers servers)
{
    static readonly string[] LegKinds = ["ledger_difference", "entitlement_missing", "entitlement_without_payment"];

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task BilledFee_OtherThanThePostedEstimate_PostsOneTrueUp_TrialBalanceZero_AndARunAgainPostsNothingMore(Db db)
    {
        // KnowPay estimates 0.6 % for Alipay here: 74 fen of ¥123.45 posted at confirmation; the sandbox bills 74 fen less: no fee.
        await using var server = await KnowPayServer.StartAsync(db, new Dictionary<string, string?> { ["Providers:Alipay:FeeBps"] = "60" });
        var m = await server.NewMerchantAsync();
        var paymentId = await PaidAsync(server, m, "alipay");
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(BillFeeDelta: -74));
        var day = await DayOfAsync(server, paymentId);
        Assert.Equal(-74, await BalanceAsync(server, m, "provider:alipay:fees:CNY"));

        for (var i = 0; i < 2; i++)
        {
            var run = await RunAsync(m, "alipay", day);
            var item = Assert.Single(await ItemsAsync(m, run));   // nothing else: no ledger difference once trued up
            Assert.Equal(("fee_mismatch", paymentId, "trued_up", 74L, 0L),
                ((string?)item["kind"], (string?)item["payment_id"], (string?)item["resolution"], (long)item["expected_amount"]!, (long)item["bill_amount"]!));
            var journal = await m.GetOkAsync($"/v1/ledger/journals/{item["journal_id"]}");
            Assert.Equal(("fee_true_up", paymentId, paymentId), ((string?)journal["source_type"], (string?)journal["source_id"], (string?)journal["payment_id"]));
            Assert.Contains((string)run["id"]!, (string)journal["description"]!);
            Assert.Equal([("platform:revenue:CNY", 74L), ("provider:alipay:fees:CNY", 74L)],
                journal["entries"]!.AsArray().Select(e => ((string)e!["account"]!, Math.Abs((long)e["amount"]!))).Order());
        }

        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "fee_true_up")));
        Assert.Equal(0, await BalanceAsync(server, m, "provider:alipay:fees:CNY"));   // the ledger carries the billed fee

        // The bill's fee changes after its true-up: the run completes and posts no second true-up (one per payment).
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(BillFeeDelta: -50));
        var changed = await RunAsync(m, "alipay", day);
        Assert.True((string?)changed["status"] == "completed", (string?)changed["reason"]);
        var kept = Assert.Single(await ItemsAsync(m, changed));   // the day's fee_mismatch stays the one resolved by the true-up
        Assert.Equal(("fee_mismatch", "trued_up"), ((string?)kept["kind"], (string?)kept["resolution"]));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "fee_true_up")));
        Assert.Equal(0, await BalanceAsync(server, m, "provider:alipay:fees:CNY"));
        var trial = await m.GetOkAsync("/v1/ledger/trial-balance");
        Assert.True((bool)trial["balanced"]!);
        Assert.Equal(0, (long)Assert.Single(trial["currencies"]!.AsArray())!["total"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AJournalMovingTheClearingAccountOffTheBill_IsALedgerDifference_WithBothFigures(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var paid = new[] { await PaidAsync(server, m, "wechatpay"), await PaidAsync(server, m, "wechatpay") };
        var day = await DayOfAsync(server, paid[0]);
        var run = await RunAsync(m, "wechatpay", day);
        Assert.Empty(await ItemsAsync(m, run));

        // A balanced adjustment against a billed payment moves one fen into the provider's clearing account.
        await server.QueryAsync(async d =>
        {
            d.Journals.Add(Journals.Build(m.MerchantId, "adjustment", Ids.New("adj"), "hand-made", [
                new Posting(Accounts.ProviderClearing("wechatpay", "CNY"), "CNY", 1), new Posting(Accounts.PlatformRevenue("CNY"), "CNY", -1)],
                DateTime.UtcNow, paymentId: paid[0]));
            return await d.SaveChangesAsync();
        });

        var again = await RunAsync(m, "wechatpay", day);
        var item = Assert.Single(await ItemsAsync(m, again));
        Assert.Equal(("ledger_difference", "CNY", 2 * Price + 1, 2 * Price),
            ((string?)item["kind"], (string?)item["currency"], (long)item["expected_amount"]!, (long)item["bill_amount"]!));
        var byKind = (await m.GetOkAsync($"/v1/reconciliation/runs/{again["id"]}/items?kind=ledger_difference&limit=100"))["data"]!.AsArray();
        Assert.Equal(item["id"]!.ToString(), Assert.Single(byKind, i => (string?)i!["line_key"] == $"ledger:{m.MerchantId}:CNY")!["id"]!.ToString());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ARevokedEntitlementOfAPaidOrder_AndAGrantedOneWithoutPayment_AreBothFound_WithTheirFixOfferedNotApplied(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var revokedPayment = await PaidAsync(server, m, "alipay");
        await PaidAsync(server, m, "alipay");                                   // paid, access granted: nothing to say
        var refundedPayment = await PaidAsync(server, m, "alipay");             // refunded in full, access revoked: nothing to say
        await WaitForRefundAsync(m, (string)(await m.PostOkAsync($"/v1/payments/{refundedPayment}/refunds", new { amount = Price }))["id"]!);
        var revokedOrder = await server.QueryAsync(d => d.Payments.Where(p => p.Id == revokedPayment).Select(p => p.OrderId).SingleAsync());
        var revoked = await server.QueryAsync(d => d.Entitlements.SingleAsync(e => e.OrderId == revokedOrder));
        await server.QueryAsync(d => d.Entitlements.Where(e => e.Id == revoked.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.RevokedAt, DateTime.UtcNow).SetProperty(e => e.RevokedReason, "by_hand")));

        // An order whose payment never succeeded, with access granted by hand.
        var (_, productId) = await m.CourseAsync(7000, (Price, "CNY"));
        var unpaidOrder = (string)(await m.OrderAsync(productId))["id"]!;
        await m.PaymentAsync(unpaidOrder, "alipay", "qr");
        var granted = await server.QueryAsync(async d =>
        {
            var order = await d.Orders.SingleAsync(o => o.Id == unpaidOrder);
            var entitlement = new Entitlement
            {
                Id = Ids.New("ent"), MerchantId = m.MerchantId, CustomerId = order.CustomerId, ProductId = order.ProductId, OrderId = order.Id,
                GrantedAt = DateTime.UtcNow,
            };
            d.Entitlements.Add(entitlement);
            await d.SaveChangesAsync();
            return entitlement.Id;
        });

        var run = await RunAsync(m, "alipay", await DayOfAsync(server, revokedPayment));
        var items = await ItemsAsync(m, run);
        Assert.Equal(
            [("entitlement_missing", revokedOrder, revoked.Id, "grant", revokedPayment), ("entitlement_without_payment", unpaidOrder, granted, "revoke", null)],
            items.Select(i => ((string)i["kind"]!, (string)i["order_id"]!, (string)i["entitlement_id"]!, (string)i["offered_action"]!, (string?)i["payment_id"])).Order());
        Assert.All(items, i => Assert.Null((string?)i["resolution"]));

        // Offered, not applied: the access is as it was.
        Assert.NotNull(await server.QueryAsync(d => d.Entitlements.Where(e => e.Id == revoked.Id).Select(e => e.RevokedAt).SingleAsync()));
        Assert.Null(await server.QueryAsync(d => d.Entitlements.Where(e => e.Id == granted).Select(e => e.RevokedAt).SingleAsync()));
    }

    [Fact]
    public void FeeTrueUp_AfterAnyConfirmation_LeavesTheBilledFeeOwed_TheClearingUntouched_AndBalances()
    {
        Gen.Select(Gen.Long[0, 1_000_000_000], Gen.Int[0, 10_000], Gen.Int[0, 500], Gen.Long[0, 10_000_000]).Sample((amount, shareBps, feeBps, billedFee) =>
        {
            var split = RevenueSplit.For(amount, shareBps, new ProviderFee(feeBps, 0));
            var journals = new[]
            {
                Postings.PaymentConfirmed("alipay", "cre_a", new Money(amount, Currency.Of("CNY")), split),
                Postings.FeeTrueUp("alipay", "CNY", split.Fee, billedFee),
            };
            var balances = journals.SelectMany(j => j).GroupBy(p => p.Account).ToDictionary(g => g.Key, g => g.Sum(p => p.Amount));
            Assert.All(journals, j => Assert.Equal(0, j.Sum(p => p.Amount)));
            Assert.Equal(-billedFee, balances.GetValueOrDefault("provider:alipay:fees:CNY"));
            Assert.Equal(amount, balances.GetValueOrDefault("provider:alipay:clearing:CNY"));
            Assert.Equal(-(amount - split.Creator - billedFee), balances.GetValueOrDefault("platform:revenue:CNY"));
        });
    }

    static async Task<long> BalanceAsync(KnowPayServer server, MerchantClient m, string account) =>
        await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account == account).SumAsync(e => e.Amount));

    /// <summary>The run's items of this merchant: every leg's item, and the bill's items about its payments.</summary>
    static async Task<List<JsonObject>> ItemsAsync(MerchantClient m, JsonObject run)
    {
        var page = await m.GetOkAsync($"/v1/reconciliation/runs/{run["id"]}/items?limit=100");
        var mine = await m.Server.QueryAsync(d => d.Payments.Where(p => p.MerchantId == m.MerchantId).Select(p => p.Id).ToListAsync());
        return page["data"]!.AsArray().Select(i => i!.AsObject())
            .Where(i => LegKinds.Contains((string?)i["kind"]) || mine.Contains((string?)i["payment_id"] ?? "")).ToList();
    }
}
