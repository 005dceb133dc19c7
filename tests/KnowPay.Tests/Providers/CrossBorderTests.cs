using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// Servers whose provider accounts settle elsewhere: the Alipay account in USD (an overseas-settled cross-border merchant) and
/// the Stripe account in USD. One per database, started on first use.
/// </summary>
public class CrossBorderServers : IAsyncLifetime
{
    protected virtual Dictionary<string, string?> Settings => new()
    {
        ["Providers:Alipay:SettleCurrency"] = "USD",
        ["Providers:Stripe:AccountCurrency"] = "usd",
    };

    readonly Dictionary<Db, Task<KnowPayServer>> started = new();
    readonly object gate = new();

    public Task<KnowPayServer> Get(Db db)
    {
        lock (gate)
        {
            if (!started.TryGetValue(db, out var task))
                started[db] = task = KnowPayServer.StartAsync(db, Settings);
            return task;
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var task in started.Values)
        {
            await ((Task)task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (task.IsCompletedSuccessfully) await task.Result.DisposeAsync();
        }
    }
}

/// <summary>
/// Cross-border payments end to end against the sandboxes over real HTTP: what each request carried (as the simulator logged it
/// after verifying its signature), what the provider reported converting, and what the payment records and shows.
/// </summary>
[Collection("server")]
public sealed class CrossBorderTests(CrossBorderServers servers) : IClassFixture<CrossBorderServers>
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AlipayCnyOrder_OnAUsdSettledAccount_RecordsSettleAmountAndRate_FromTheNotificationAndTheQuery(Db db)
    {
        var server = await servers.Get(db);
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, "CNY");
        var before = log.Snapshot().Count;
        var payment = await m.PaymentAsync((string)order["id"]!, "alipay", "qr");
        var paymentId = (string)payment["id"]!;

        // precreate takes a CNY total_amount and no cross-border fields (only alipay.trade.pay does); the account's currency is Alipay's to state.
        var precreate = Assert.Single(log.Snapshot().Skip(before), e => e.StartsWith("alipay alipay.trade.precreate signature verified", StringComparison.Ordinal));
        Assert.Contains("\"total_amount\":\"99.00\"", precreate);
        Assert.DoesNotContain("trans_currency", precreate);
        Assert.DoesNotContain("settle_currency", precreate);

        var paid = await server.Anonymous.PostAsync($"/sandbox/alipay/buyer/{paymentId}/pay", null);
        Assert.True(paid.IsSuccessStatusCode);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");

        var rate = SandboxFx.SettlementRate("CNY", "USD");
        Assert.InRange(rate, 1m / 7.1m * 0.9949m, 1m / 7.1m * 0.9951m);   // CNY → USD at the mid rate less the 50 bps spread
        var expectedCents = (long)Math.Round(99.00m * rate * 100, 0, MidpointRounding.AwayFromZero);
        var view = await SettledAsync(m, paymentId);
        Assert.Equal("succeeded", (string?)view["status"]);
        Assert.Equal("notification", await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.ConfirmedBy).SingleAsync()));
        var settlement = view["settlement"]!.AsObject();
        Assert.Equal(expectedCents, (long)settlement["amount"]!);
        Assert.Equal("USD", (string?)settlement["currency"]);
        Assert.Equal(rate, (decimal)settlement["rate"]!);
        Assert.Equal(9900, (long)settlement["payer_amount"]!);    // the learner paid the CNY price
        Assert.Equal("CNY", (string?)settlement["payer_currency"]);
        Assert.Equal(1m, (decimal)settlement["payer_rate"]!);

        // alipay.trade.query states the same settlement, and a repeated report changes nothing.
        var stored = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
        await using var scope = server.Services.CreateAsyncScope();
        var queried = await scope.ServiceProvider.GetRequiredService<PaymentProviders>()["alipay"].QueryAsync(stored, default);
        Assert.Equal(new ProviderSettlement(expectedCents, "USD", rate, 9900, "CNY", 1m), queried.Settlement);
        Assert.Equal((expectedCents, "USD", rate), (stored.SettlementAmount, stored.SettlementCurrency, stored.SettlementRate));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WeChatPayUsdOrder_GoesThroughTheGlobalApi_AndRecordsWhatTheLearnerPaidInCny(Db db)
    {
        var server = await servers.Get(db);
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1999, "USD"));
        var order = await m.OrderAsync(productId, "USD");
        var before = log.Snapshot().Count;
        var payment = await m.PaymentAsync((string)order["id"]!, "wechatpay", "qr");
        var paymentId = (string)payment["id"]!;
        Assert.StartsWith("weixin://wxpay/bizpayurl?pr=", (string?)payment["next_action"]!["qr_code"]);

        var entries = log.Snapshot().Skip(before).ToList();
        Assert.Contains("POST /sandbox/wechatpay/v3/global/transactions/native", entries);
        Assert.DoesNotContain("POST /sandbox/wechatpay/v3/pay/transactions/native", entries);
        var native = Assert.Single(entries, e => e.StartsWith("wechatpay POST /v3/global/transactions/native signature verified", StringComparison.Ordinal));
        var body = JsonNode.Parse(native[(native.IndexOf("body=", StringComparison.Ordinal) + 5)..])!;
        Assert.Equal("NATIVE", (string?)body["trade_type"]);
        Assert.Equal(1999, (long)body["amount"]!["total"]!);
        Assert.Equal("USD", (string?)body["amount"]!["currency"]);
        Assert.Equal(paymentId, (string?)body["out_trade_no"]);

        var paid = await server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/{paymentId}/pay", null);
        Assert.True(paid.IsSuccessStatusCode);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");

        var rate = SandboxFx.PayerRate("USD", "CNY");
        Assert.InRange(rate, 7.1m, 7.1m * 1.0051m);   // the learner pays the mid rate plus the spread
        var expectedFen = (long)Math.Round(19.99m * rate * 100, 0, MidpointRounding.AwayFromZero);
        var settlement = (await SettledAsync(m, paymentId))["settlement"]!.AsObject();
        Assert.Equal(expectedFen, (long)settlement["payer_amount"]!);
        Assert.Equal("CNY", (string?)settlement["payer_currency"]);
        Assert.Equal(rate, (decimal)settlement["payer_rate"]!);
        Assert.Null(settlement["amount"]);     // settled in the price's currency: nothing converted for the merchant

        // The query goes to the global API too and states the same conversion.
        var stored = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
        Assert.Equal(PaymentStatus.Succeeded, stored.Status);
        before = log.Snapshot().Count;
        await using var scope = server.Services.CreateAsyncScope();
        var queried = await scope.ServiceProvider.GetRequiredService<PaymentProviders>()["wechatpay"].QueryAsync(stored, default);
        Assert.Equal(new ProviderSettlement(null, null, null, expectedFen, "CNY", rate), queried.Settlement);
        Assert.Equal((1999L, "USD"), (queried.Amount!.Value, queried.Currency!));
        Assert.Equal(stored.ProviderTradeNo, queried.ProviderTradeNo);
        Assert.Contains(log.Snapshot().Skip(before), e => e.StartsWith($"GET /sandbox/wechatpay/v3/global/transactions/out-trade-no/{paymentId}?mchid=", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StripeEurCharge_OnAUsdAccount_RecordsTheBalanceTransactionsSettlement_AndAUsdChargeNone(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (1500, "EUR"), (1999, "USD"));
        var eur = await PaidThroughStripeAsync(m, productId, "EUR");
        var usd = await PaidThroughStripeAsync(m, productId, "USD");

        var rate = SandboxFx.SettlementRate("EUR", "USD");
        Assert.InRange(rate, 7.7m / 7.1m * 0.994m, 7.7m / 7.1m);
        var settlement = (await SettledAsync(m, eur))["settlement"]!.AsObject();
        Assert.Equal((long)Math.Round(15.00m * rate * 100, 0, MidpointRounding.AwayFromZero), (long)settlement["amount"]!);
        Assert.Equal("USD", (string?)settlement["currency"]);
        Assert.Equal(rate, (decimal)settlement["rate"]!);
        Assert.Null((await m.GetOkAsync($"/v1/payments/{usd}"))["settlement"]);

        // The poller's query reads the same balance transaction (expanded through latest_charge).
        var stored = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == eur));
        await using var scope = server.Services.CreateAsyncScope();
        var queried = await scope.ServiceProvider.GetRequiredService<PaymentProviders>()["stripe"].QueryAsync(stored, default);
        Assert.Equal(new ProviderSettlement(stored.SettlementAmount, "USD", rate), queried.Settlement);
    }

    static async Task<string> PaidThroughStripeAsync(MerchantClient m, string productId, string currency)
    {
        var order = await m.OrderAsync(productId, currency);
        var payment = await m.PaymentAsync((string)order["id"]!, "stripe", "card");
        await StripeTests.ConfirmAsync(m.Server, (string)payment["next_action"]!["client_secret"]!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return (string)payment["id"]!;
    }

    /// <summary>The payment once its settlement shows (with the confirmation, or with a later report when the first carried none).</summary>
    static async Task<JsonObject> SettledAsync(MerchantClient m, string paymentId)
    {
        var until = DateTime.UtcNow.AddSeconds(5);
        JsonObject view;
        do
        {
            view = await m.GetOkAsync($"/v1/payments/{paymentId}");
            if (view["settlement"] is JsonObject) return view;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"payment {paymentId} shows no settlement: {view.ToJsonString()}");
        return view;
    }
}
