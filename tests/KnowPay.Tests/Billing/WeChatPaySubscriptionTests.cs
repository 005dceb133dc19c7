using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KnowPay.Domain;
using KnowPay.Providers.WeChatPay;
using KnowPay.Sandbox;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>
/// Subscriptions renewed by WeChat Pay 委托代扣 through the public API and the WeChat Pay sandbox over HTTP, with a test
/// clock, on both databases: each renewal is a pre-debit notice then a deduction, accepted at once and settled ~200 ms
/// later by the TRANSACTION notification (the clock's advance waits for it).
/// </summary>
[Collection("server")]
public sealed partial class WeChatPaySubscriptionTests(Servers servers)
{
    static readonly DateTime T0 = new(2028, 1, 31, 2, 0, 0, DateTimeKind.Utc);   // 10:00 Beijing time
    static readonly BillingSchedule Monthly = new(BillingInterval.Month, 1);
    static readonly TimeSpan Beijing = TimeSpan.FromHours(8);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SignUp_ThenTwelveMonthsOnATestClock_TwelvePaidInvoices_BalancedJournals_EachDeductionNoticedSignedAndVerified(Db db)
    {
        var server = await servers.Get(db);
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        sim.SetPreDebitClock(NoonInBeijing);
        try
        {
            var m = await server.NewMerchantAsync();
            var (sub, mandateId, clockId) = await SignedUpAsync(m, T0);
            Assert.Equal("active", (string?)sub["status"]);
            Assert.Equal(Monthly.PeriodEnd(T0, 0), (DateTime)sub["current_period_end"]!);

            await AdvanceAsync(m, clockId, Monthly.PeriodStart(T0, 11));

            var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
            Assert.Equal("active", (string?)after["status"]);
            Assert.Equal(Monthly.PeriodEnd(T0, 11), (DateTime)after["current_period_end"]!);
            var invoices = (await m.GetOkAsync($"/v1/invoices?subscription={sub["id"]}&limit=100"))["data"]!.AsArray().Reverse().ToList();
            Assert.Equal(12, invoices.Count);
            Assert.All(invoices, i => Assert.Equal("paid", (string?)i!["status"]));
            Assert.All(invoices, i => Assert.Equal(3000, (long)i!["amount_paid"]!));
            Assert.All(invoices, i => Assert.Equal(1, (int)i!["attempt_count"]!));
            Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodStart(T0, n)), invoices.Select(i => (DateTime)i!["period_start"]!));
            // Confirmed by notifications on the real clock, each paid at the test clock's instant of its deduction.
            Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodStart(T0, n)), invoices.Select(i => (DateTime)i!["paid_at"]!));

            await AssertPaymentJournalsBalancedAsync(server, m, 12);
            var creatorPending = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.StartsWith("creator:"))
                .SumAsync(e => e.Amount));
            Assert.Equal(-12 * 2100, creatorPending);   // 70 % of 30.00 CNY, twelve times

            var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
            Assert.Equal(Monthly.PeriodEnd(T0, 11), entitlement.ExpiresAt);
            var granted = await EventDataAsync(server, m, "entitlement.granted");
            Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodEnd(T0, n)), granted.Select(g => (DateTime)g["expires_at"]!));
            Assert.All(granted, g => Assert.Equal(entitlement.Id, (string?)g["id"]));
            Assert.Equal(12, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "invoice.paid")));

            // Every payment was a deduction settled by WeChat's signed TRANSACTION notification, never more than noticed.
            var payments = await server.QueryAsync(d => d.Payments.Where(p => p.MerchantId == m.MerchantId).ToListAsync());
            Assert.Equal(12, payments.Count);
            Assert.All(payments, p => Assert.Equal((PaymentStatus.Succeeded, "wechatpay", "notification"), (p.Status, p.Provider, p.ConfirmedBy)));
            var contract = sim.InspectContract(WeChatPayProvider.ContractCode(mandateId))!.Value;
            var calls = Deductions(server, contract.ContractId!);
            Assert.Equal(payments.Select(p => p.Id).Order(), calls.Where(c => c.Apply).Select(c => c.OutTradeNo!).Distinct().Order());
            AssertEachApplyFollowsItsNotice(calls, 3000);
            Assert.Equal(12, calls.Count(c => !c.Apply));
        }
        finally
        {
            sim.SetPreDebitClock(null);
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ContractTerminatedByTheLearnerInWeChat_MandateRevoked_NoFurtherDeduction_SubscriptionUnpaid_AccessEndsAfterGrace(Db db)
    {
        var server = await servers.Get(db);
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        sim.SetPreDebitClock(NoonInBeijing);
        try
        {
            var m = await server.NewMerchantAsync();
            var (sub, mandateId, clockId) = await SignedUpAsync(m, T0);
            var code = WeChatPayProvider.ContractCode(mandateId);
            var contractId = sim.InspectContract(code)!.Value.ContractId!;

            var terminated = await server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/contracts/{code}/terminate", null);
            Assert.True(terminated.IsSuccessStatusCode, await terminated.Content.ReadAsStringAsync());
            var mandate = await WaitForMandateAsync(m, mandateId, "revoked");
            Assert.Equal("user", (string?)mandate["revoked_reason"]);
            Assert.Equal(mandateId, (string?)Assert.Single(await EventDataAsync(server, m, "mandate.revoked"))["id"]);

            // The renewal finds the agreement revoked: no notice, no deduction, the invoice fails once (not retried), unpaid.
            var renewal = Monthly.PeriodStart(T0, 1);
            await AdvanceAsync(m, clockId, renewal);
            var calls = Deductions(server, contractId);
            Assert.Single(calls, c => c.Apply);
            Assert.Single(calls, c => !c.Apply);
            var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
            Assert.Equal("unpaid", (string?)after["status"]);
            var invoice = after["latest_invoice"]!;
            Assert.Equal(("open", "mandate_revoked"), ((string?)invoice["status"], (string?)invoice["last_failure_code"]));
            Assert.Null(invoice["next_payment_attempt"]);
            Assert.Equal(["active", "unpaid"], (await EventDataAsync(server, m, "customer.subscription.updated")).Select(e => (string?)e["status"]));
            Assert.Single(await EventDataAsync(server, m, "invoice.payment_failed"));
            var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
            Assert.Equal(renewal.AddDays(3), entitlement.ExpiresAt);   // Billing:GraceDays
            Assert.Null(entitlement.RevokedAt);

            // Months later: access revoked after the grace days, and still nothing charged.
            await AdvanceAsync(m, clockId, Monthly.PeriodStart(T0, 4));
            entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
            Assert.Equal(renewal.AddDays(3), entitlement.RevokedAt);
            Assert.Single(await EventDataAsync(server, m, "entitlement.revoked"));
            Assert.Single(Deductions(server, contractId), c => c.Apply);
            Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));
            Assert.Equal(2, await server.QueryAsync(d => d.Invoices.CountAsync(i => i.MerchantId == m.MerchantId)));
            Assert.Null(await server.QueryAsync(d => d.Subscriptions.Where(x => x.Id == (string)sub["id"]!).Select(x => x.NextActionAt).SingleAsync()));
        }
        finally
        {
            sim.SetPreDebitClock(null);
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PreDebitNoticeOutsideBeijingDaytime_IsNotADecline_TheChargeWaitsForSixOClock(Db db)
    {
        var server = await servers.Get(db);
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        var start = new DateTime(2028, 3, 15, 15, 0, 0, DateTimeKind.Utc);   // 23:00 Beijing time
        string? clockId = null;
        // The sandbox judges the window by the test clock's time, as WeChat would on that day.
        sim.SetPreDebitClock(() => clockId is null ? new DateTimeOffset(start)
            : new DateTimeOffset(DateTime.SpecifyKind(server.QueryAsync(d => d.TestClocks.Where(c => c.Id == clockId).Select(c => c.FrozenTime).SingleAsync())
                .GetAwaiter().GetResult(), DateTimeKind.Utc)));
        try
        {
            var m = await server.NewMerchantAsync();
            var (sub, mandateId, id) = await SubscribedAsync(m, start);
            clockId = id;
            await SignAsync(m, mandateId);
            var opens = WeChatPayProvider.PreDebitWindowOpensAt(new DateTimeOffset(start)).UtcDateTime;
            Assert.Equal(new DateTimeOffset(2028, 3, 16, 6, 0, 0, Beijing).UtcDateTime, opens);

            await AdvanceAsync(m, id, start);
            var waiting = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
            Assert.Equal("incomplete", (string?)waiting["status"]);
            var invoice = waiting["latest_invoice"]!;
            Assert.Equal("open", (string?)invoice["status"]);
            Assert.Null(invoice["last_failure_code"]);
            Assert.Equal(opens, (DateTime)invoice["next_payment_attempt"]!);
            Assert.Empty(await EventDataAsync(server, m, "invoice.payment_failed"));
            var contractId = sim.InspectContract(WeChatPayProvider.ContractCode(mandateId))!.Value.ContractId!;
            Assert.DoesNotContain(Deductions(server, contractId), c => c.Apply);

            await AdvanceAsync(m, id, opens.AddMinutes(1));
            var active = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
            Assert.Equal("active", (string?)active["status"]);
            Assert.Equal("paid", (string?)active["latest_invoice"]!["status"]);
            Assert.Equal(1, (int)active["latest_invoice"]!["attempt_count"]!);
            var calls = Deductions(server, contractId);
            AssertEachApplyFollowsItsNotice(calls, 3000);
            Assert.Single(calls, c => c.Apply);
            Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));
        }
        finally
        {
            sim.SetPreDebitClock(null);
        }
    }

    static DateTimeOffset NoonInBeijing() => new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddHours(4);

    /// <summary>A 30.00 CNY monthly column on a test clock at <paramref name="start"/>, renewed by WeChat Pay, signed by the learner, first invoice paid.</summary>
    static async Task<(JsonObject Subscription, string MandateId, string ClockId)> SignedUpAsync(MerchantClient m, DateTime start)
    {
        var (sub, mandateId, clockId) = await SubscribedAsync(m, start);
        await SignAsync(m, mandateId);
        await AdvanceAsync(m, clockId, start);
        var active = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("paid", (string?)active["latest_invoice"]!["status"]);
        return (active, mandateId, clockId);
    }

    static async Task<(JsonObject Subscription, string MandateId, string ClockId)> SubscribedAsync(MerchantClient m, DateTime start)
    {
        var priceId = await PriceAsync(m, 3000);
        var clockId = await ClockAsync(m, start);
        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..8], price_id = priceId,
            collection_method = "charge_automatically", provider = "wechatpay", method = "qr", test_clock = clockId,
        }, idempotencyKey: Guid.NewGuid().ToString());
        Assert.Equal("incomplete", (string?)sub["status"]);
        var mandateId = (string)sub["pending_mandate"]!["id"]!;
        Assert.Contains("/wechatpay/papay/sign/", (string?)sub["pending_mandate"]!["next_action"]!["redirect_url"]);
        return (sub, mandateId, clockId);
    }

    /// <summary>The learner signs in WeChat (the sandbox's buyer side); ENTRUST.SIGN activates the mandate.</summary>
    static async Task SignAsync(MerchantClient m, string mandateId)
    {
        var signed = await m.Server.Anonymous.PostAsync($"/sandbox/wechatpay/buyer/contracts/{WeChatPayProvider.ContractCode(mandateId)}/sign", null);
        Assert.True(signed.IsSuccessStatusCode, await signed.Content.ReadAsStringAsync());
        await WaitForMandateAsync(m, mandateId, "active");
    }

    sealed record Deduction(bool Apply, long Amount, string? OutTradeNo);

    [GeneratedRegex(@"^wechatpay papay (notify|apply) signature verified contract_id=(\d+)(?: out_trade_no=(\S+))? (?:estimated_amount|total)=(\d+) CNY$")]
    private static partial Regex VerifiedCall();

    /// <summary>The pre-debit notices and deductions the sandbox verified (merchant signature checked) under one contract, in order.</summary>
    static List<Deduction> Deductions(KnowPayServer server, string contractId) =>
        server.Services.GetRequiredService<SandboxRequestLog>().Snapshot()
            .Select(line => VerifiedCall().Match(line))
            .Where(x => x.Success && x.Groups[2].Value == contractId)
            .Select(x => new Deduction(x.Groups[1].Value == "apply", long.Parse(x.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture),
                x.Groups[3].Success ? x.Groups[3].Value : null))
            .ToList();

    /// <summary>Each deduction comes right after a notice of at least its amount (and of <paramref name="amount"/>).</summary>
    static void AssertEachApplyFollowsItsNotice(List<Deduction> calls, long amount)
    {
        long? notice = null;
        foreach (var call in calls)
        {
            if (!call.Apply) notice = call.Amount;
            else
            {
                Assert.NotNull(notice);
                Assert.True(call.Amount <= notice, $"deduction {call.OutTradeNo} of {call.Amount} above the notice of {notice}");
                Assert.Equal(amount, call.Amount);
                notice = null;   // a notice covers one deduction: a second one under it is a charge the learner was not told of
            }
        }
    }
}
