using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Reconciliation;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Fx;

/// <summary>
/// A creator paid in another currency than the price: the share is credited in the creator's payout currency at the rate locked
/// on the order, refunds give back exactly its locked-rate parts, and balances, statement and payouts are in that currency.
/// </summary>
[Collection("server")]
public sealed class CreatorPayoutCurrencyTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CnyCourseBoughtInCny_CreatorPaidInUsd_CreditedAtTheLockedRate_RefundsReverseExactly_BalanceStatementPayoutInUsd(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Li Wei", payout_currency = "usd" });
        var creatorId = (string)creator["id"]!;
        Assert.Equal("USD", (string?)creator["payout_currency"]);
        var product = await m.PostOkAsync("/v1/products", new
        {
            creator_id = creatorId, name = "Course", kind = "course", creator_share_bps = 7000, prices = new[] { new { amount = 9900, currency = "CNY" } },
        });
        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "USD", quote = "CNY", rate = 7.08m } } });

        // The hand computation: 70 % of 99.00 CNY = 69.30 CNY; CNY→USD is the inverse of 7.08 (12 decimals), no markup: 9.7881… → 9.79 USD.
        var rate = Math.Round(1m / 7.08m, 12, MidpointRounding.AwayFromZero);
        const long share = 6930;
        var usd = (long)Math.Round(share * rate, 0, MidpointRounding.AwayFromZero);
        Assert.Equal(979, usd);

        var order = await m.OrderAsync((string)product["id"]!, "CNY");
        Assert.Equal((9900L, "CNY"), ((long)order["amount"]!, (string)order["currency"]!));
        var payment = await m.PaymentAsync((string)order["id"]!);
        var paymentId = (string)payment["id"]!;
        // The rate moves after the order: the creator keeps the rate locked on the order.
        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "USD", quote = "CNY", rate = 6.50m } } });
        await m.BuyerPaysAsync(paymentId);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");

        var confirmed = await EntriesAsync(m, "payment_confirmed", paymentId);
        Assert.Equal(-share, confirmed[("fx:USD:CNY", "CNY")]);
        Assert.Equal(usd, confirmed[("fx:USD:CNY", "USD")]);
        Assert.Equal(-usd, confirmed[($"creator:{creatorId}:pending:USD", "USD")]);
        Assert.DoesNotContain(confirmed.Keys, k => k.Account.StartsWith($"creator:{creatorId}:", StringComparison.Ordinal) && k.Currency == "CNY");
        await AssertBalancedAsync(m);
        await AssertBalanceAsync(m, creatorId, pending: usd, available: 0);

        // A partial refund of 30.00 CNY: the creator's 21.00 CNY of it, at the locked rate, cumulatively: 979 × 2100 / 6930 = 296.67 → 2.97 USD.
        var partial = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 3000 });
        await ReconciliationRunTests.WaitForRefundAsync(m, (string)partial["id"]!);
        var firstBack = FxMath.Portion(usd, 0, 2100, share);
        Assert.Equal(297, firstBack);
        var refunded = await EntriesAsync(m, "refund", (string)partial["id"]!);
        Assert.Equal((2100L, -firstBack, firstBack), (refunded[("fx:USD:CNY", "CNY")], refunded[("fx:USD:CNY", "USD")], refunded[($"creator:{creatorId}:pending:USD", "USD")]));
        await AssertBalancedAsync(m);
        await AssertBalanceAsync(m, creatorId, pending: usd - firstBack, available: 0);

        // The refund window ends: what is left moves to available, in USD; a USD batch pays exactly that.
        await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8));
        await AssertBalanceAsync(m, creatorId, pending: 0, available: usd - firstBack);
        var batch = await m.PostOkAsync("/v1/payouts/batches", new { currency = "USD", minimum_amount = 1 }, "batch-" + Guid.NewGuid());
        var payout = Assert.Single(batch["payouts"]!.AsArray(), p => (string?)p!["creator_id"] == creatorId)!;
        Assert.Equal((usd - firstBack, "USD"), ((long)payout["amount"]!, (string)payout["currency"]!));
        Assert.Empty((await m.PostOkAsync("/v1/payouts/batches", new { currency = "CNY", minimum_amount = 1 }, "batch-" + Guid.NewGuid()))["payouts"]!.AsArray());
        await AssertBalancedAsync(m);

        // The rest of the refund after the payout: the creator gives back exactly the rest of its USD (available goes negative).
        var rest = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 6900 });
        await ReconciliationRunTests.WaitForRefundAsync(m, (string)rest["id"]!);
        var restEntries = await EntriesAsync(m, "refund", (string)rest["id"]!);
        Assert.Equal((share - 2100, usd - firstBack), (restEntries[("fx:USD:CNY", "CNY")], restEntries[($"creator:{creatorId}:available:USD", "USD")]));
        await AssertBalancedAsync(m);
        var all = await m.Server.QueryAsync(d => d.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        // Refunded in full: the pair's account is back to zero in both currencies; no money was created.
        Assert.Equal((0L, 0L), (all.Where(e => e.Account == "fx:USD:CNY" && e.Currency == "CNY").Sum(e => e.Amount),
            all.Where(e => e.Account == "fx:USD:CNY" && e.Currency == "USD").Sum(e => e.Amount)));
        await AssertBalanceAsync(m, creatorId, pending: 0, available: -(usd - firstBack));

        // The statement is in USD only, and its lines sum to the balances.
        var statement = (await m.GetOkAsync($"/v1/creators/{creatorId}/statement?limit=100"))["data"]!.AsArray().Select(l => l!.AsObject()).ToList();
        Assert.All(statement, l => Assert.Equal("USD", (string?)l["currency"]));
        Assert.Equal(-(usd - firstBack), statement.Sum(l => (long)l["amount"]!));
        Assert.Equal(-usd, statement.Where(l => (string?)l["source_type"] == "refund").Sum(l => (long)l["amount"]!));
        var invariants = await m.PostOkAsync("/v1/ledger/invariants/check", new { });
        Assert.True((bool)invariants["passed"]!, invariants.ToJsonString());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AnUnknownPayoutCurrency_Is400WithAStableCode_AndNothingIsWritten(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var refused = await m.PostAsync("/v1/creators", new { name = "Li Wei", payout_currency = "XYZ" });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("currency_unsupported", (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["code"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Creators.CountAsync(c => c.MerchantId == m.MerchantId)));

        var creator = await m.PostOkAsync("/v1/creators", new { name = "Li Wei" });
        var creatorId = (string)creator["id"]!;
        Assert.Null((string?)creator["payout_currency"]);
        var update = await m.PostAsync($"/v1/creators/{creatorId}", new { payout_currency = "US" });
        Assert.Equal(HttpStatusCode.BadRequest, update.StatusCode);
        Assert.Equal("currency_unsupported", (string?)JsonNode.Parse(await update.Content.ReadAsStringAsync())!["code"]);
        Assert.Null(await server.QueryAsync(d => d.Creators.Where(c => c.Id == creatorId).Select(c => c.PayoutCurrency).SingleAsync()));
        Assert.Equal("JPY", (string?)(await m.PostOkAsync($"/v1/creators/{creatorId}", new { payout_currency = "jpy" }))["payout_currency"]);
        Assert.Equal("JPY", (string?)(await m.GetOkAsync($"/v1/creators/{creatorId}"))["payout_currency"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task NoRateForThePayoutCurrency_TheOrderAndItsPaymentGoThrough_AndTheCreatorIsCreditedInThePriceCurrency(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var creatorId = (string)(await m.PostOkAsync("/v1/creators", new { name = "Li Wei", payout_currency = "UGX" }))["id"]!;
        var product = await m.PostOkAsync("/v1/products", new
        {
            creator_id = creatorId, name = "Course", kind = "course", creator_share_bps = 7000, prices = new[] { new { amount = 9900, currency = "CNY" } },
        });
        // No source quotes CNY→UGX (the ECB publishes no UGX; the merchant's table is empty): the order locks no creator rate, nothing refuses.
        var order = await m.OrderAsync((string)product["id"]!, "CNY");
        var locked = await server.QueryAsync(d => d.Orders.Where(o => o.Id == (string)order["id"]!).Select(o => new { o.CreatorCurrency, o.CreatorFxRate }).SingleAsync());
        Assert.Equal((null, null), (locked.CreatorCurrency, locked.CreatorFxRate));
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        var confirmed = await EntriesAsync(m, "payment_confirmed", (string)payment["id"]!);
        Assert.Equal(-6930, confirmed[($"creator:{creatorId}:pending:CNY", "CNY")]);
        var view = await m.GetOkAsync($"/v1/creators/{creatorId}/balances");
        Assert.Equal("UGX", (string?)view["payout_currency"]);
        var cny = Assert.Single(view["balances"]!.AsArray())!;
        Assert.Equal(("CNY", 6930L), ((string?)cny["currency"], (long)cny["pending"]!));
        await AssertBalancedAsync(m);
    }

    static async Task PutOkAsync(MerchantClient m, string path, object body)
    {
        var response = await m.Http.PutAsJsonAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    static async Task<Dictionary<(string Account, string Currency), long>> EntriesAsync(MerchantClient m, string sourceType, string sourceId) =>
        await m.Server.QueryAsync(d => d.Journals.AsNoTracking().Where(j => j.MerchantId == m.MerchantId && j.SourceType == sourceType && j.SourceId == sourceId)
            .SelectMany(j => j.Entries).GroupBy(e => new { e.Account, e.Currency }).Select(g => new { g.Key.Account, g.Key.Currency, Sum = g.Sum(e => e.Amount) })
            .ToDictionaryAsync(x => (x.Account, x.Currency), x => x.Sum));

    static async Task AssertBalancedAsync(MerchantClient m)
    {
        var trial = await m.GetOkAsync("/v1/ledger/trial-balance");
        Assert.True((bool)trial["balanced"]!, trial.ToJsonString());
        Assert.All(trial["currencies"]!.AsArray(), c => Assert.Equal(0, (long)c!["total"]!));
    }

    static async Task AssertBalanceAsync(MerchantClient m, string creatorId, long pending, long available)
    {
        var view = await m.GetOkAsync($"/v1/creators/{creatorId}/balances");
        Assert.Equal("USD", (string?)view["payout_currency"]);
        var usd = view["balances"]!.AsArray()[0]!;
        Assert.Equal(("USD", pending, available), ((string?)usd["currency"], (long)usd["pending"]!, (long)usd["available"]!));
        Assert.All(view["balances"]!.AsArray().Skip(1), b => Assert.Equal((0L, 0L), ((long)b!["pending"]!, (long)b!["available"]!)));
    }
}
