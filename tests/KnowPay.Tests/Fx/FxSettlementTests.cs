using System.Net.Http.Json;
using KnowPay.Data;
using KnowPay.Features.Fx;
using KnowPay.Features.Payments;
using KnowPay.Features.Refunds;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KnowPay.Tests.Fx;

/// <summary>Servers whose Stripe account settles in CNY: a USD charge is converted by Stripe at the sandbox's settlement rate.</summary>
public sealed class CnyStripeServers : CrossBorderServers
{
    protected override Dictionary<string, string?> Settings => new() { ["Providers:Stripe:AccountCurrency"] = "cny" };
}

/// <summary>
/// The provider's settlement of a converted payment against the locked quote: the difference posts once, exactly, on the FX
/// gain/loss account, and the ledger balances in each currency.
/// </summary>
[Collection("server")]
public sealed class FxSettlementTests(CnyStripeServers servers) : IClassFixture<CnyStripeServers>
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task UsdLearner_CnyPrice_StripeSettlesThePaymentAndItsRefundsInCny_AndEachExactDifferencePostsOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        await PutOkAsync(m, "/v1/fx/settings", new { allow_converted_prices = true, markup_bps = 0 });
        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "USD", quote = "CNY", rate = 7.08m } } });

        // The hand computation: the quote is the inverse of 7.08 (12 decimals); 99.00 CNY → 13.98 USD.
        var quoteRate = Math.Round(1m / 7.08m, 12, MidpointRounding.AwayFromZero);
        var usd = (long)Math.Round(9900 * quoteRate, 0, MidpointRounding.AwayFromZero);
        Assert.Equal(1398, usd);
        // Stripe converts the 13.98 USD at its rate (the sandbox's mid 7.10 less 50 bps): what the locked quote did not promise.
        var stripeRate = SandboxFx.SettlementRate("USD", "CNY");
        Assert.NotEqual(7.08m, stripeRate);
        var settled = (long)Math.Round(usd * stripeRate, 0, MidpointRounding.AwayFromZero);
        var gain = settled - 9900;
        Assert.NotEqual(0, gain);

        var order = await m.OrderAsync(productId, "USD");
        Assert.Equal(usd, (long)order["amount"]!);
        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        var paymentId = (string)payment["id"]!;
        // Stripe sends the event three times: the settlement and its difference still post once.
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(DuplicateNotifications: 3));
        await StripeTests.ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");

        // Written with the confirmation itself: no wait for it.
        var view = await m.GetOkAsync($"/v1/payments/{paymentId}");
        Assert.Equal((settled, "CNY", stripeRate), ((long)view["settlement"]!["amount"]!, (string)view["settlement"]!["currency"]!, (decimal)view["settlement"]!["rate"]!));

        // A re-query (the poller's or the reconciliation's path) reports the same settlement and posts nothing more.
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var sp = scope.ServiceProvider;
            var stored = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
            var provider = sp.GetRequiredService<PaymentProviders>()["stripe"];
            var state = await provider.QueryAsync(stored, default);
            Assert.Equal(settled, state.Settlement?.Amount);
            Assert.Equal(ConfirmOutcome.AlreadyConfirmed, await ConfirmPayment.ApplyAsync(sp.GetRequiredService<KnowPayDb>(),
                PaidFact.From("stripe", paymentId, state, "query"), provider, TimeProvider.System, NullLogger.Instance, default, sp.GetRequiredService<AwaitedPayments>()));
        }
        await Task.Delay(300);   // the duplicate events' deliveries

        var journals = await server.QueryAsync(d => d.Journals.AsNoTracking().Where(j => j.MerchantId == m.MerchantId).Include(j => j.Entries).ToListAsync());
        var fx = Assert.Single(journals, j => j.SourceType == FxLedger.PaymentSettledSource);
        Assert.Equal((paymentId, paymentId), (fx.SourceId, fx.PaymentId));
        Assert.Equal(new Dictionary<(string, string), long>
        {
            [("fx:CNY:USD", "CNY")] = gain,
            [("fx_gain_loss:CNY", "CNY")] = -gain,      // credit-negative: a gain when Stripe gave more CNY than the price
        }, fx.Entries.ToDictionary(e => (e.Account, e.Currency), e => e.Amount));
        Assert.Equal(2, journals.Count);                // the confirmation and its FX difference, nothing from the duplicates

        var entries = journals.SelectMany(j => j.Entries).ToList();
        Assert.All(entries.GroupBy(e => e.Currency), g => Assert.Equal(0, g.Sum(e => e.Amount)));   // trial balance zero in USD and in CNY
        // The pair's account now holds the CNY Stripe actually settled against the USD collected.
        Assert.Equal(settled, entries.Where(e => e.Account == "fx:CNY:USD" && e.Currency == "CNY").Sum(e => e.Amount));
        Assert.Equal(-usd, entries.Where(e => e.Account == "fx:CNY:USD" && e.Currency == "USD").Sum(e => e.Amount));
        Assert.Equal(-gain, await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account == "fx_gain_loss:CNY").SumAsync(e => e.Amount)));

        // Two refunds (5.00 USD, then the rest): Stripe takes CNY at its rate; the refund journal released the locked-rate part.
        long refundedBefore = 0, realised = gain, taken = 0;
        foreach (var amount in new long?[] { 500, null })
        {
            var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", amount is null ? new { } : new { amount });
            Assert.Equal("succeeded", (string?)refund["status"]);
            var refundAmount = (long)refund["amount"]!;
            var pricedPart = KnowPay.Domain.FxMath.Portion(9900, refundedBefore, refundAmount, usd);
            var stripeTook = (long)Math.Round(refundAmount * stripeRate, 0, MidpointRounding.AwayFromZero);
            var entriesOf = await server.QueryAsync(d => d.Journals.AsNoTracking()
                .Where(j => j.MerchantId == m.MerchantId && j.SourceType == FxLedger.RefundSettledSource && j.SourceId == (string)refund["id"]!)
                .SelectMany(j => j.Entries).ToListAsync());
            Assert.Equal(new Dictionary<(string, string), long>
            {
                [("fx:CNY:USD", "CNY")] = pricedPart - stripeTook,
                [("fx_gain_loss:CNY", "CNY")] = stripeTook - pricedPart,   // Stripe took more CNY than the locked rate released: a loss
            }, entriesOf.ToDictionary(e => (e.Account, e.Currency), e => e.Amount));
            (refundedBefore, realised, taken) = (refundedBefore + refundAmount, realised + pricedPart - stripeTook, taken + stripeTook);
        }
        Assert.Equal(usd, refundedBefore);

        var all = await server.QueryAsync(d => d.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        Assert.All(all.GroupBy(e => e.Currency), g => Assert.Equal(0, g.Sum(e => e.Amount)));
        Assert.Equal(-realised, all.Where(e => e.Account == "fx_gain_loss:CNY").Sum(e => e.Amount));
        // Refunded in full: no USD position left; the pair's CNY is what Stripe kept of the round trip, the realised result.
        Assert.Equal((0L, settled - taken), (all.Where(e => e.Account == "fx:CNY:USD" && e.Currency == "USD").Sum(e => e.Amount),
            all.Where(e => e.Account == "fx:CNY:USD" && e.Currency == "CNY").Sum(e => e.Amount)));
        Assert.Equal(2, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == FxLedger.RefundSettledSource)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ASettlementReportedAfterTheConfirmation_IsRecordedWithItsDifference_ByTheNextQuery_Once(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        await PutOkAsync(m, "/v1/fx/settings", new { allow_converted_prices = true, markup_bps = 0 });
        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "USD", quote = "CNY", rate = 7.08m } } });
        var order = await m.OrderAsync(productId, "USD");
        var usd = (long)order["amount"]!;
        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        var paymentId = (string)payment["id"]!;
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(DropNotifications: true));
        await StripeTests.ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);

        await using var scope = server.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var provider = sp.GetRequiredService<PaymentProviders>()["stripe"];
        async Task<ConfirmOutcome> ApplyAsync(bool withSettlement)
        {
            var stored = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
            var state = await provider.QueryAsync(stored, default);
            var fact = PaidFact.From("stripe", paymentId, state, "query");
            return await ConfirmPayment.ApplyAsync(sp.GetRequiredService<KnowPayDb>(), withSettlement ? fact : fact with { Settlement = null },
                provider, TimeProvider.System, NullLogger.Instance, default, sp.GetRequiredService<AwaitedPayments>());
        }
        // Confirmed by a report without the settlement (as when Stripe's balance transaction could not be read).
        Assert.Equal(ConfirmOutcome.Confirmed, await ApplyAsync(withSettlement: false));
        Assert.Null((await m.GetOkAsync($"/v1/payments/{paymentId}"))["settlement"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == FxLedger.PaymentSettledSource)));

        // The next query brings it: recorded with its difference, once however often it is reported.
        Assert.Equal(ConfirmOutcome.AlreadyConfirmed, await ApplyAsync(withSettlement: true));
        Assert.Equal(ConfirmOutcome.AlreadyConfirmed, await ApplyAsync(withSettlement: true));
        var settled = (long)Math.Round(usd * SandboxFx.SettlementRate("USD", "CNY"), 0, MidpointRounding.AwayFromZero);
        Assert.Equal(settled, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["settlement"]!["amount"]!);
        var fx = await server.QueryAsync(d => d.Journals.AsNoTracking().Where(j => j.MerchantId == m.MerchantId && j.SourceType == FxLedger.PaymentSettledSource)
            .SelectMany(j => j.Entries).ToListAsync());
        Assert.Equal(new Dictionary<(string, string), long> { [("fx:CNY:USD", "CNY")] = settled - 9900, [("fx_gain_loss:CNY", "CNY")] = 9900 - settled },
            fx.ToDictionary(e => (e.Account, e.Currency), e => e.Amount));
        var all = await server.QueryAsync(d => d.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        Assert.All(all.GroupBy(e => e.Currency), g => Assert.Equal(0, g.Sum(e => e.Amount)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ARefundCompletedByAReportWithoutItsSettlement_BooksTheDifferenceFromTheNextReport_Once(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        await PutOkAsync(m, "/v1/fx/settings", new { allow_converted_prices = true, markup_bps = 0 });
        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "USD", quote = "CNY", rate = 7.08m } } });
        var order = await m.OrderAsync(productId, "USD");
        var usd = (long)order["amount"]!;
        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        var paymentId = (string)payment["id"]!;
        await StripeTests.ConfirmAsync(server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        // The refund is answered pending and its events are lost: only the reports below complete it.
        server.Services.GetRequiredService<SandboxFaults>().Set(paymentId, new FaultSettings(DropNotifications: true, RefundAnswerPending: true));
        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { });
        var refundId = (string)refund["id"]!;
        Assert.Equal("pending", (string?)refund["status"]);

        await using var scope = server.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        Task<RefundOutcome> ApplyAsync(ProviderRefundResult result) => RefundCompletion.ApplyAsync(sp.GetRequiredService<KnowPayDb>(), refundId, result, "query",
            TimeProvider.System, NullLogger.Instance, default);
        Task<int> SettledJournalsAsync() => server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == FxLedger.RefundSettledSource));
        // Completed by a report that names no settlement (a webhook event's): no difference can be booked yet.
        Assert.Equal(RefundOutcome.Succeeded, await ApplyAsync(new ProviderRefundResult(RefundStatus.Succeeded)));
        Assert.Equal(0, await SettledJournalsAsync());

        // The provider's own listing carries it: booked by the first such report, and by none after.
        var stored = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
        var provider = sp.GetRequiredService<PaymentProviders>()["stripe"];
        ProviderRefundResult queried;
        for (var tries = 0; ; tries++)   // the sandbox settles a pending refund after 200 ms
        {
            queried = await provider.QueryRefundAsync(new ProviderRefund(stored, refundId, usd, null), default);
            if (queried.Status != RefundStatus.Pending || tries == 100) break;
            await Task.Delay(50);
        }
        var taken = (long)Math.Round(usd * SandboxFx.SettlementRate("USD", "CNY"), 0, MidpointRounding.AwayFromZero);
        Assert.Equal((RefundStatus.Succeeded, taken, "CNY"), (queried.Status, queried.Settlement?.Amount, queried.Settlement?.Currency));
        Assert.Equal(RefundOutcome.AlreadyCompleted, await ApplyAsync(queried));
        Assert.Equal(RefundOutcome.AlreadyCompleted, await ApplyAsync(queried));

        var fx = await server.QueryAsync(d => d.Journals.AsNoTracking().Where(j => j.MerchantId == m.MerchantId && j.SourceType == FxLedger.RefundSettledSource)
            .SelectMany(j => j.Entries).ToListAsync());
        // A full refund released the whole 99.00 CNY at the locked rate; Stripe took its own rate's amount.
        Assert.Equal(new Dictionary<(string, string), long> { [("fx:CNY:USD", "CNY")] = 9900 - taken, [("fx_gain_loss:CNY", "CNY")] = taken - 9900 },
            fx.ToDictionary(e => (e.Account, e.Currency), e => e.Amount));
        Assert.Equal(1, await SettledJournalsAsync());
        var all = await server.QueryAsync(d => d.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        Assert.All(all.GroupBy(e => e.Currency), g => Assert.Equal(0, g.Sum(e => e.Amount)));
    }

    static async Task PutOkAsync(MerchantClient m, string path, object body)
    {
        var response = await m.Http.PutAsJsonAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}
