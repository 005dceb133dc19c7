using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Billing;

/// <summary>
/// The provider charged the renewal but KnowPay never saw it (the answer stalls past the timeout, the notification is
/// dropped), as when the node dies between the charge and the invoice write: the pending attempt is asked again later,
/// so there is one charge at the provider and one paid invoice for the period.
/// </summary>
[Collection("server")]
public sealed class RenewalLostAnswerTests
{
    static readonly DateTime T0 = new(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);

    [SkippableFact]
    public async Task RenewalChargedButTheAnswerLost_IsSettledLater_OneChargeAndOnePaidInvoice()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Postgres, new Dictionary<string, string?> { ["Providers:Sandbox:TimeoutMs"] = "1000" });
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Lost answer creator" });
        var product = await m.PostOkAsync("/v1/products", new
        {
            creator_id = (string)creator["id"]!, name = "Lost answer column", kind = "column", creator_share_bps = 7000,
            prices = new[] { new { amount = 3000L, currency = "CNY", recurring = new { interval = "month", interval_count = 1 } } },
        });
        var clockId = (string)(await m.PostOkAsync("/v1/test_clocks", new { frozen_time = T0 }))["id"]!;
        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-lost", price_id = (string)product["prices"]![0]!["id"]!, provider = "sandbox", method = "page", test_clock = clockId,
        });
        var subId = (string)sub["id"]!;
        var mandateId = (string)sub["pending_mandate"]!["id"]!;
        Assert.True((await server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/agreements/{mandateId}/sign", null)).IsSuccessStatusCode);
        await WaitAsync(() => server.QueryAsync(d => d.Mandates.CountAsync(x => x.Id == mandateId && x.Status == MandateStatus.Active)), 1);
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = T0 });
        await WaitAsync(() => PaidInvoicesAsync(server, subId), 1);

        // The renewal's deduction happens at SandboxPay, but its answer stalls past the 1 s timeout and its notification is lost.
        var renewal = await server.QueryAsync(d => d.Subscriptions.Where(x => x.Id == subId).Select(x => x.CurrentPeriodEnd).SingleAsync());
        faults.Set(null, new FaultSettings(DropNotifications: true, ApiStallMs: 2500));
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = renewal });
        Assert.Equal(2, await DeductionsAsync(server, mandateId));
        Assert.Equal(1, await PaidInvoicesAsync(server, subId));
        faults.Clear();

        // Settled later by asking the provider (the poller, or the engine's next pass): no second charge.
        var until = DateTime.UtcNow.AddSeconds(90);
        var step = renewal;
        while (await PaidInvoicesAsync(server, subId) < 2 && DateTime.UtcNow < until)
        {
            await Task.Delay(2000);
            step = step.AddHours(1);
            await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = step });
        }
        Assert.Equal(2, await PaidInvoicesAsync(server, subId));
        Assert.Equal(2, await server.QueryAsync(d => d.Invoices.CountAsync(i => i.SubscriptionId == subId)));
        Assert.Equal(2, await DeductionsAsync(server, mandateId));
        Assert.Equal("active", (string?)(await m.GetOkAsync($"/v1/subscriptions/{subId}"))["status"]);
        var check = JsonNode.Parse(await m.Http.GetStringAsync("/v1/ledger/invariants/check"))!;
        Assert.True((bool?)check["passed"] == true, check.ToJsonString());
    }

    static Task<int> PaidInvoicesAsync(KnowPayServer server, string subId) =>
        server.QueryAsync(d => d.Invoices.CountAsync(i => i.SubscriptionId == subId && i.Status == InvoiceStatus.Paid));

    static async Task<int> DeductionsAsync(KnowPayServer server, string mandateId)
    {
        var all = JsonNode.Parse(await server.Anonymous.GetStringAsync("/sandbox/sandboxpay/inspect/agreements"))!.AsArray();
        return all.Single(a => (string?)a!["out_agreement_no"] == mandateId)!["deductions"]!.AsArray().Count;
    }

    static async Task WaitAsync(Func<Task<int>> count, int expected)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        int seen;
        while ((seen = await count()) < expected && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.Equal(expected, seen);
    }
}
