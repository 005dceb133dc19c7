using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Billing;

/// <summary>Shared steps of the billing tests: recurring prices, test clocks, SandboxPay agreements signed by the buyer.</summary>
static class BillingTestKit
{
    public static async Task<string> PriceAsync(MerchantClient m, long amount, string interval = "month", int count = 1, string currency = "CNY")
    {
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Creator " + Guid.NewGuid().ToString("N")[..6] });
        var product = await m.PostOkAsync("/v1/products", new
        {
            creator_id = (string)creator["id"]!, name = $"Column per {interval}", kind = "column", creator_share_bps = 7000,
            prices = new[] { new { amount, currency, recurring = new { interval, interval_count = count } } },
        });
        var price = product["prices"]![0]!;
        Assert.Equal(interval, (string?)price["recurring"]!["interval"]);
        return (string)price["id"]!;
    }

    public static async Task<string> ClockAsync(MerchantClient m, DateTime at) =>
        (string)(await m.PostOkAsync("/v1/test_clocks", new { frozen_time = at }))["id"]!;

    public static Task<JsonObject> AdvanceAsync(MerchantClient m, string clockId, DateTime to) =>
        m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = to });

    /// <summary>A charge_automatically subscription on SandboxPay; when <paramref name="sign"/>, the buyer signs and the clock is run at
    /// <paramref name="now"/> so the first invoice (or the trial) starts.</summary>
    public static async Task<(string Id, string MandateId)> SubscribeAsync(
        MerchantClient m, string clockId, string priceId, DateTime now, bool sign = true, int? trialDays = null)
    {
        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..8], price_id = priceId, collection_method = "charge_automatically",
            provider = "sandbox", method = "page", test_clock = clockId, trial_period_days = trialDays,
        }, idempotencyKey: Guid.NewGuid().ToString());
        var mandateId = (string)sub["pending_mandate"]!["id"]!;
        if (sign)
        {
            var signed = await m.Server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/agreements/{mandateId}/sign", null);
            Assert.True(signed.IsSuccessStatusCode);
            await WaitForMandateAsync(m, mandateId, "active");
            await AdvanceAsync(m, clockId, now);
        }
        return ((string)sub["id"]!, mandateId);
    }

    public static async Task DeclineNextAsync(KnowPayServer server, string mandateId, int count)
    {
        var response = await server.Anonymous.PostAsync($"/sandbox/sandboxpay/agreements/{mandateId}/declines?count={count}", null);
        Assert.True(response.IsSuccessStatusCode);
    }

    public static async Task<JsonObject> WaitForMandateAsync(MerchantClient m, string mandateId, string status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        JsonObject mandate;
        do
        {
            mandate = await m.GetOkAsync($"/v1/mandates/{mandateId}");
            if ((string?)mandate["status"] == status) return mandate;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"mandate {mandateId} is {(string?)mandate["status"]}, not {status}");
        return mandate;
    }

    /// <summary>The subscription's current period ends at <paramref name="expected"/>; if not, the failure names the row's next
    /// action and claim, which tell why an advance stopped early (a claim still held by a renewal that threw, or an action left due).</summary>
    public static async Task AssertPeriodEndAsync(KnowPayServer server, JsonObject subscription, DateTime expected)
    {
        var actual = (DateTime)subscription["current_period_end"]!;
        if (actual == expected) return;
        var row = await server.QueryAsync(d => d.Subscriptions.AsNoTracking().SingleAsync(x => x.Id == (string)subscription["id"]!));
        Assert.Fail($"current_period_end {actual:O}, expected {expected:O}; next action {row.NextActionAt:O}, claimed until {row.ClaimedUntil:O}");
    }

    public static async Task<string> StatusAsync(MerchantClient m, string subscriptionId) =>
        (string)(await m.GetOkAsync($"/v1/subscriptions/{subscriptionId}"))["status"]!;

    public static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} {text}");
        Assert.Equal(code, (string?)JsonNode.Parse(text)!["code"]);
    }

    /// <summary>SandboxPay's own record of the agreement signed for <paramref name="mandateId"/>, with its deductions.</summary>
    public static async Task<JsonObject> SandboxAgreementAsync(KnowPayServer server, string mandateId)
    {
        var all = JsonNode.Parse(await server.Anonymous.GetStringAsync("/sandbox/sandboxpay/inspect/agreements"))!.AsArray();
        return all.Single(a => (string?)a!["out_agreement_no"] == mandateId)!.AsObject();
    }

    /// <summary>The data of the merchant's events of <paramref name="type"/>, oldest first.</summary>
    public static async Task<List<JsonObject>> EventDataAsync(KnowPayServer server, MerchantClient m, string type)
    {
        var rows = await server.QueryAsync(d => d.Events.Where(e => e.MerchantId == m.MerchantId && e.Type == type).OrderBy(e => e.Id).Select(e => e.Data).ToListAsync());
        return rows.Select(r => JsonNode.Parse(r)!.AsObject()).ToList();
    }

    /// <summary>The learner opens the latest invoice's hosted checkout link, starts a SandboxPay payment there and pays it; waits until the invoice is paid.</summary>
    public static async Task PayAtCheckoutAsync(MerchantClient m, string subscriptionId)
    {
        var invoice = (await m.GetOkAsync($"/v1/subscriptions/{subscriptionId}"))["latest_invoice"]!;
        var link = new Uri((string)invoice["hosted_invoice_url"]!);
        using var learner = new HttpClient { BaseAddress = new Uri(m.Server.BaseUrl) };
        Assert.Equal(HttpStatusCode.OK, (await learner.GetAsync(link.PathAndQuery)).StatusCode);
        var started = await learner.PostAsJsonAsync($"{link.AbsolutePath}/payments{link.Query}", new { provider = "sandbox", method = "qr" });
        var body = await started.Content.ReadAsStringAsync();
        Assert.True(started.IsSuccessStatusCode, body);
        await m.BuyerPaysAsync((string)JsonNode.Parse(body)!["id"]!);
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((string?)(await m.GetOkAsync($"/v1/invoices/{invoice["id"]}"))["status"] != "paid")
        {
            Assert.True(DateTime.UtcNow < until, $"invoice {invoice["id"]} not paid");
            await Task.Delay(50);
        }
    }

    /// <summary>The subscription's invoices through the API, oldest first (the API lists the newest first).</summary>
    public static async Task<List<JsonObject>> InvoicesAsync(MerchantClient m, string subscriptionId) =>
        (await m.GetOkAsync($"/v1/invoices?subscription={subscriptionId}&limit=100"))["data"]!.AsArray().Select(i => i!.AsObject()).Reverse().ToList();

    /// <summary>The merchant's one entitlement (a subscription keeps one and extends it).</summary>
    public static async Task<KnowPay.Data.Entitlement> EntitlementAsync(KnowPayServer server, MerchantClient m) =>
        Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));

    /// <summary>The merchant has <paramref name="count"/> payment_confirmed journals, each balanced over at least three entries.</summary>
    public static async Task AssertPaymentJournalsBalancedAsync(KnowPayServer server, MerchantClient m, int count)
    {
        var journals = await server.QueryAsync(d => d.Journals.Where(j => j.MerchantId == m.MerchantId && j.SourceType == "payment_confirmed")
            .Select(j => new { Sum = d.LedgerEntries.Where(e => e.JournalId == j.Id).Sum(e => e.Amount), Count = d.LedgerEntries.Count(e => e.JournalId == j.Id) })
            .ToListAsync());
        Assert.Equal(count, journals.Count);
        Assert.All(journals, j => Assert.Equal(0, j.Sum));
        Assert.All(journals, j => Assert.True(j.Count >= 3));
    }
}
