using System.Globalization;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Features.Billing;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace KnowPay.Tests.Billing;

/// <summary>
/// Two nodes on one PostgreSQL database run the renewal job at the same instant over the same due subscriptions: each
/// subscription is charged once at the provider and has one paid invoice for the period (the claim skips locked rows and
/// leases what it took; the attempt is recorded on the invoice before the charge). KNOWPAY_RENEWAL_RACE_SUBSCRIPTIONS sets
/// the count (default 2000).
/// </summary>
[Collection("server")]
public sealed class RenewalRaceTests(ITestOutputHelper output)
{
    static readonly DateTime T0 = new(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);

    static int Count => int.TryParse(Environment.GetEnvironmentVariable("KNOWPAY_RENEWAL_RACE_SUBSCRIPTIONS"), NumberStyles.None,
        CultureInfo.InvariantCulture, out var n) ? n : 2000;

    [SkippableFact]
    public async Task TwoNodes_RenewingTheSameDueSubscriptions_ChargeEachOnce_AndPayOneInvoiceEach()
    {
        // Both nodes talk to node a's SandboxPay (one trade store), with one secret, so either can charge any agreement.
        var secret = "race-" + Guid.NewGuid().ToString("N");
        await using var a = await KnowPayServer.StartAsync(Db.Postgres, new Dictionary<string, string?> { ["Providers:Sandbox:Secret"] = secret });
        await using var b = await KnowPayServer.StartAsync(Db.Postgres, new Dictionary<string, string?>
        {
            ["ConnectionStrings:KnowPay"] = a.App.Configuration["ConnectionStrings:KnowPay"],
            ["Providers:Sandbox:Secret"] = secret, ["Providers:Sandbox:ApiBaseUrl"] = a.BaseUrl.TrimEnd('/') + "/sandbox/sandboxpay",
        });
        var m = await a.NewMerchantAsync();
        var price = await RecurringPriceAsync(m);
        var clockId = (string)(await m.PostOkAsync("/v1/test_clocks", new { frozen_time = T0 }))["id"]!;

        var started = DateTime.UtcNow;
        var mandates = new string[Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var sub = await m.PostOkAsync("/v1/subscriptions", new
            {
                customer_external_id = "race-" + i.ToString(CultureInfo.InvariantCulture), price_id = price, provider = "sandbox", method = "page", test_clock = clockId,
            });
            mandates[i] = (string)sub["pending_mandate"]!["id"]!;
            var signed = await a.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/agreements/{mandates[i]}/sign", null);
            Assert.True(signed.IsSuccessStatusCode, $"sign {mandates[i]}: {(int)signed.StatusCode}");
        });
        await WaitAsync(() => a.QueryAsync(d => d.Mandates.CountAsync(x => x.MerchantId == m.MerchantId && x.Status == MandateStatus.Active)), Count);
        // The first invoices, at the clock's time, on one node.
        await RunAsync(a, T0, clockId);
        await WaitAsync(() => a.QueryAsync(d => d.Invoices.CountAsync(i => i.MerchantId == m.MerchantId && i.Status == InvoiceStatus.Paid)), Count);
        output.WriteLine($"{Count} subscriptions signed and first invoices paid in {(DateTime.UtcNow - started).TotalSeconds:F1} s");

        // Every subscription is due at the same instant; both nodes renew at once.
        var renewal = await a.QueryAsync(d => d.Subscriptions.Where(x => x.MerchantId == m.MerchantId).MaxAsync(x => x.CurrentPeriodEnd));
        await a.QueryAsync(d => d.TestClocks.Where(c => c.Id == clockId).ExecuteUpdateAsync(u => u.SetProperty(c => c.FrozenTime, renewal)));
        started = DateTime.UtcNow;
        var runs = await Task.WhenAll(Task.Run(() => RunAsync(a, renewal, clockId)), Task.Run(() => RunAsync(b, renewal, clockId)));
        await WaitAsync(() => a.QueryAsync(d => d.Invoices.CountAsync(i => i.MerchantId == m.MerchantId && i.Status == InvoiceStatus.Paid)), 2 * Count);
        output.WriteLine($"renewed on two nodes in {(DateTime.UtcNow - started).TotalSeconds:F1} s: node a {runs[0]}, node b {runs[1]}");

        var invoices = await a.QueryAsync(d => d.Invoices.Where(i => i.MerchantId == m.MerchantId)
            .GroupBy(i => i.SubscriptionId).Select(g => new { Paid = g.Count(i => i.Status == InvoiceStatus.Paid), All = g.Count() }).ToListAsync());
        Assert.Equal(Count, invoices.Count);
        Assert.All(invoices, i => Assert.Equal((2, 2), (i.Paid, i.All)));
        Assert.True(runs[0] > 0 && runs[1] > 0, $"one node did all the work: {runs[0]} / {runs[1]}");

        // At the provider: two deductions per agreement (the first invoice and the renewal), none twice.
        var agreements = JsonNode.Parse(await a.Anonymous.GetStringAsync("/sandbox/sandboxpay/inspect/agreements"))!.AsArray()
            .ToDictionary(x => (string)x!["out_agreement_no"]!, x => x!["deductions"]!.AsArray().Count);
        Assert.All(mandates, id => Assert.Equal(2, agreements[id]));
        var trades = JsonNode.Parse(await a.Anonymous.GetStringAsync("/sandbox/sandboxpay/inspect/trades"))!.AsArray();
        Assert.Equal(2 * Count, trades.Count(t => (string?)t!["status"] == "PAID"));

        var check = JsonNode.Parse(await m.Http.GetStringAsync("/v1/ledger/invariants/check"))!;
        Assert.True((bool?)check["passed"] == true, check.ToJsonString());
    }

    static async Task<int> RunAsync(KnowPayServer server, DateTime now, string clockId)
    {
        await using var scope = server.App.Services.CreateAsyncScope();
        return await Renewals.RunAsync(BillingServices.From(scope.ServiceProvider), now, clockId, CancellationToken.None);
    }

    static async Task WaitAsync(Func<Task<int>> count, int expected)
    {
        var until = DateTime.UtcNow.AddMinutes(3);
        int seen;
        while ((seen = await count()) < expected && DateTime.UtcNow < until) await Task.Delay(200);
        Assert.Equal(expected, seen);
    }

    static async Task<string> RecurringPriceAsync(MerchantClient m)
    {
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Race creator" });
        var product = await m.PostOkAsync("/v1/products", new
        {
            creator_id = (string)creator["id"]!, name = "Race column", kind = "column", creator_share_bps = 7000,
            prices = new[] { new { amount = 3000L, currency = "CNY", recurring = new { interval = "month", interval_count = 1 } } },
        });
        return (string)product["prices"]![0]!["id"]!;
    }
}
