using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Alipay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>
/// Subscriptions renewed under Alipay deduction agreements (周期扣款), through the public API and the Alipay sandbox over
/// HTTP, on a test clock, on both databases.
/// </summary>
[Collection("server")]
public sealed class AlipaySubscriptionTests(Servers servers)
{
    static readonly BillingSchedule Monthly = new(BillingInterval.Month, 1);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SignUpAtAlipay_ThenTwelveMonths_TwelvePaidInvoices_BalancedJournals_EntitlementMoves_EachDeductionVerifiedAtAlipay(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var t0 = new DateTime(2027, 3, 15, 2, 0, 0, DateTimeKind.Utc);
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var before = log.Snapshot().Count;
        var (sub, agreementNo, clockId) = await SignedUpAsync(m, t0);
        Assert.Equal("active", (string?)sub["status"]);

        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = Monthly.PeriodStart(t0, 11) });

        var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("active", (string?)after["status"]);
        await AssertPeriodEndAsync(server, after, Monthly.PeriodEnd(t0, 11));
        var invoices = await InvoicesAsync(m, (string)sub["id"]!);
        Assert.Equal(12, invoices.Count);
        Assert.All(invoices, i => Assert.Equal(("paid", 3000L), ((string?)i!["status"], (long)i!["amount_paid"]!)));
        Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodStart(t0, n)), invoices.Select(i => (DateTime)i!["period_start"]!));
        // The first invoice at sign-up; each renewal charged 5 days (Providers:Alipay:DeductionWindowDays) before its period starts.
        Assert.Equal(Enumerable.Range(0, 12).Select(n => n == 0 ? t0 : Monthly.PeriodStart(t0, n).AddDays(-5)),
            invoices.Select(i => (DateTime)i!["created_at"]!));
        AssertInsideDeductionWindows(server, agreementNo, invoices.Select(i => (DateTime)i!["created_at"]!));

        await AssertPaymentJournalsBalancedAsync(server, m, 12);
        Assert.Equal(-12 * 2100, await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.StartsWith("creator:"))
            .SumAsync(e => e.Amount)));

        var entitlement = await EntitlementAsync(server, m);
        Assert.Equal(Monthly.PeriodEnd(t0, 11), entitlement.ExpiresAt);
        var granted = await EventDataAsync(server, m, "entitlement.granted");
        Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodEnd(t0, n)), granted.Select(g => (DateTime)g["expires_at"]!));

        // Each deduction: alipay.trade.pay under the agreement, its signature verified by the sandbox, one per paid payment.
        var deductions = log.Snapshot().Skip(before).Where(e => e.StartsWith("alipay alipay.trade.pay signature verified", StringComparison.Ordinal)).ToList();
        Assert.Equal(12, deductions.Count);
        Assert.All(deductions, e => Assert.Contains($"\"agreement_params\":{{\"agreement_no\":\"{agreementNo}\"}}", e));
        var paymentIds = await server.QueryAsync(d => d.Payments.Where(p => p.MerchantId == m.MerchantId && p.Status == PaymentStatus.Succeeded)
            .Select(p => p.Id).ToListAsync());
        Assert.Equal(12, paymentIds.Count);
        Assert.All(paymentIds, id => Assert.Single(deductions, e => e.Contains($"\"out_trade_no\":\"{id}\"", StringComparison.Ordinal)));
        Assert.Equal(12, server.Services.GetRequiredService<AlipaySimulator>().InspectAgreement(agreementNo)!.Value.Deductions);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AnchoredOnJan31_InALeapYear_IsDeductedInTheWindowBeforeThe28th_WhilePeriodsEndOnFeb29AndMar31(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var t0 = new DateTime(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);   // 18:00 in China
        var (sub, agreementNo, clockId) = await SignedUpAsync(m, t0);

        // The agreement deducts on the 28th or in the 5 days before it: nothing is charged an hour before the window opens
        // on the 23rd; then the next period is.
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = new DateTime(2028, 2, 23, 9, 0, 0, DateTimeKind.Utc) });
        Assert.Single(await InvoicesAsync(m, (string)sub["id"]!));
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = new DateTime(2028, 4, 22, 0, 0, 0, DateTimeKind.Utc) });

        var invoices = await InvoicesAsync(m, (string)sub["id"]!);
        Assert.Equal(3, invoices.Count);
        Assert.All(invoices, i => Assert.Equal("paid", (string?)i!["status"]));
        Assert.Equal(["2028-01-31", "2028-02-29", "2028-03-31"], invoices.Select(i => ((DateTime)i!["period_start"]!).ToString("yyyy-MM-dd")));
        Assert.Equal(["2028-02-29", "2028-03-31", "2028-04-30"], invoices.Select(i => ((DateTime)i!["period_end"]!).ToString("yyyy-MM-dd")));
        Assert.Equal([t0, new DateTime(2028, 2, 23, 10, 0, 0, DateTimeKind.Utc), new DateTime(2028, 3, 23, 10, 0, 0, DateTimeKind.Utc)],
            invoices.Select(i => (DateTime)i!["created_at"]!));
        // The renewals (the sign-up's charge on the 31st follows the agreement's first date, the 28th, as before).
        AssertInsideDeductionWindows(server, agreementNo, invoices.Skip(1).Select(i => (DateTime)i!["created_at"]!));
        var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal(new DateTime(2028, 4, 30, 10, 0, 0, DateTimeKind.Utc), (DateTime)after["current_period_end"]!);
        var entitlement = await EntitlementAsync(server, m);
        Assert.Equal(new DateTime(2028, 4, 30, 10, 0, 0, DateTimeKind.Utc), entitlement.ExpiresAt);
    }

    [SkippableFact]
    public async Task DeclinedAtAlipay_RetriesStayInsideTheDeductionWindow_ThenTheDunningEnds()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var t0 = new DateTime(2027, 3, 15, 2, 0, 0, DateTimeKind.Utc);
        var (sub, agreementNo, clockId) = await SignedUpAsync(m, t0);
        await DeclineDeductionsAsync(server, agreementNo, -1);
        var renewal = Monthly.PeriodStart(t0, 1);

        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = renewal.AddDays(20) });
        var unpaid = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("unpaid", (string?)unpaid["status"]);
        // Charged when the window opens 5 days before the agreement's date, retried on days 1, 3 and 5 of Billing:RetryDays
        // (the last on the date itself); day 7 would be after the date, where Alipay refuses the deduction.
        Assert.Equal(4, (int)unpaid["latest_invoice"]!["attempt_count"]!);
        var attempts = await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId && p.Status == PaymentStatus.Failed));
        Assert.Equal(4, attempts);
        var failedAt = await FailedChargesAtAsync(server, m);
        Assert.Equal([renewal.AddDays(-5), renewal.AddDays(-4), renewal.AddDays(-2), renewal], failedAt);
        AssertInsideDeductionWindows(server, agreementNo, failedAt);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task DeclinedTwiceAtAlipay_IsPastDueInsideTheWindow_ThenActiveWhenTheSecondRetryPaysBeforeTheDate(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var t0 = new DateTime(2027, 3, 15, 2, 0, 0, DateTimeKind.Utc);
        var (sub, agreementNo, clockId) = await SignedUpAsync(m, t0);
        await DeclineDeductionsAsync(server, agreementNo, 2);
        var renewal = Monthly.PeriodStart(t0, 1);

        // Charged when the window opens, 5 days before the agreement's date; declined; retried on day 1 of Billing:RetryDays.
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = renewal.AddDays(-5) });
        var pastDue = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("past_due", (string?)pastDue["status"]);
        Assert.Equal(1, (int)pastDue["latest_invoice"]!["attempt_count"]!);
        Assert.Equal(renewal.AddDays(-4), (DateTime)pastDue["latest_invoice"]!["next_payment_attempt"]!);
        var entitlement = await EntitlementAsync(server, m);
        Assert.Equal(renewal, entitlement.ExpiresAt);   // the learner's paid period still runs

        // Declined again on day 1; the retry on day 3 (two days before the date) pays.
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = renewal.AddDays(1) });
        var active = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("active", (string?)active["status"]);
        var invoice = active["latest_invoice"]!;
        Assert.Equal(("paid", 3), ((string?)invoice["status"], (int)invoice["attempt_count"]!));
        Assert.Equal(renewal.AddDays(-2), (DateTime)invoice["paid_at"]!);
        Assert.Equal(Monthly.PeriodEnd(t0, 1), (DateTime)active["current_period_end"]!);
        var statuses = (await EventDataAsync(server, m, "customer.subscription.updated")).Select(e => (string?)e["status"]).ToList();
        Assert.Equal(["active", "past_due", "active"], statuses);
        var failedAt = await FailedChargesAtAsync(server, m);
        Assert.Equal([renewal.AddDays(-5), renewal.AddDays(-4)], failedAt);
        AssertInsideDeductionWindows(server, agreementNo, [.. failedAt, (DateTime)invoice["paid_at"]!]);
        Assert.Equal(2, server.Services.GetRequiredService<AlipaySimulator>().InspectAgreement(agreementNo)!.Value.Deductions);
        entitlement = await EntitlementAsync(server, m);
        Assert.Equal(Monthly.PeriodEnd(t0, 1), entitlement.ExpiresAt);
    }

    [SkippableFact]
    public async Task PaidThroughTheInvoiceLinkWithAnotherProvider_TheNextRenewalIsStillChargedWhenAlipaysWindowOpens()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var t0 = new DateTime(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);
        var (sub, agreementNo, clockId) = await SignedUpAsync(m, t0);
        await DeclineDeductionsAsync(server, agreementNo, -1);
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = new DateTime(2028, 3, 1, 0, 0, 0, DateTimeKind.Utc) });
        Assert.Equal("unpaid", (string?)(await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}"))["status"]);

        // The learner pays the open invoice through its link with SandboxPay; the balance is back for the next deduction.
        await PayAtCheckoutAsync(m, (string)sub["id"]!);
        var active = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("active", (string?)active["status"]);
        Assert.Equal(new DateTime(2028, 3, 31, 10, 0, 0, DateTimeKind.Utc), (DateTime)active["current_period_end"]!);
        await DeclineDeductionsAsync(server, agreementNo, 0);

        // The period ending Mar 31 renews under the agreement when the window before the 28th opens, not at the period's end.
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = new DateTime(2028, 3, 23, 10, 0, 0, DateTimeKind.Utc) });
        var invoices = await InvoicesAsync(m, (string)sub["id"]!);
        Assert.Equal(3, invoices.Count);
        var renewal = invoices[2]!;
        Assert.Equal(("paid", new DateTime(2028, 3, 23, 10, 0, 0, DateTimeKind.Utc)), ((string?)renewal["status"], (DateTime)renewal["created_at"]!));
        Assert.Equal(new DateTime(2028, 3, 31, 10, 0, 0, DateTimeKind.Utc), (DateTime)renewal["period_start"]!);
        AssertInsideDeductionWindows(server, agreementNo, [(DateTime)renewal["created_at"]!]);
    }

    [SkippableFact]
    public async Task CanceledAtPeriodEnd_ThenResumedInsideTheWindow_IsChargedThen_NotAtThePeriodsEnd()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var t0 = new DateTime(2027, 3, 15, 2, 0, 0, DateTimeKind.Utc);
        var (sub, agreementNo, clockId) = await SignedUpAsync(m, t0);
        var renewal = Monthly.PeriodStart(t0, 1);
        await m.PostOkAsync($"/v1/subscriptions/{sub["id"]}/cancel", new { at_period_end = true });

        // The window opens at −5 days while the subscription is to end: nothing is charged. Resumed at −4 days, it renews then.
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = renewal.AddDays(-4) });
        Assert.Single(await InvoicesAsync(m, (string)sub["id"]!));
        await m.PostOkAsync($"/v1/subscriptions/{sub["id"]}/resume", new { });
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = renewal.AddDays(-4).AddHours(1) });

        var invoices = await InvoicesAsync(m, (string)sub["id"]!);
        Assert.Equal(2, invoices.Count);
        Assert.Equal(("paid", renewal), ((string?)invoices[1]!["status"], (DateTime)invoices[1]!["period_start"]!));
        var chargedAt = (DateTime)invoices[1]!["created_at"]!;
        Assert.InRange(chargedAt, renewal.AddDays(-4), renewal.AddDays(-4).AddHours(1));
        AssertInsideDeductionWindows(server, agreementNo, [chargedAt]);
        Assert.Equal("active", (string?)(await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}"))["status"]);
    }

    /// <summary>
    /// Each deduction falls on a date the agreement at the sandbox schedules (its execute_time, then every period) or in the
    /// 5 days before one (China dates): the deduction window real Alipay enforces.
    /// </summary>
    static void AssertInsideDeductionWindows(KnowPayServer server, string agreementNo, IEnumerable<DateTime> deductedAt)
    {
        var agreement = server.Services.GetRequiredService<AlipaySimulator>().InspectAgreement(agreementNo)!.Value;
        Assert.Equal("MONTH", agreement.PeriodType);
        foreach (var at in deductedAt)
        {
            var date = DateOnly.FromDateTime(at + ProviderProtocol.ChinaStandardTimeOffset);
            var scheduled = Enumerable.Range(0, 100).Select(k => agreement.ExecuteDate.AddMonths(k * agreement.Period)).First(d => d >= date);
            Assert.True(scheduled.DayNumber - date.DayNumber <= 5, $"deducted on {date}, {scheduled.DayNumber - date.DayNumber} days before the scheduled {scheduled}");
        }
    }

    /// <summary>When each charge of the merchant's invoices failed (invoice.payment_failed, at the clock's time), oldest first.</summary>
    static Task<List<DateTime>> FailedChargesAtAsync(KnowPayServer server, MerchantClient m) =>
        server.QueryAsync(d => d.Events.Where(e => e.MerchantId == m.MerchantId && e.Type == "invoice.payment_failed")
            .OrderBy(e => e.Id).Select(e => e.CreatedAt).ToListAsync());

    /// <summary>The learner's balance will not cover the next <paramref name="times"/> deductions at the Alipay sandbox (−1: none; 0: all covered again).</summary>
    static async Task DeclineDeductionsAsync(KnowPayServer server, string agreementNo, int times)
    {
        var declined = await server.Anonymous.PostAsync($"/sandbox/alipay/buyer/agreements/{agreementNo}/decline?times={times}", null);
        Assert.True(declined.IsSuccessStatusCode, await declined.Content.ReadAsStringAsync());
    }

    /// <summary>A 30.00 CNY monthly column, a test clock at <paramref name="start"/>, a subscription whose agreement the buyer signs at Alipay, its first invoice paid.</summary>
    static async Task<(JsonObject Subscription, string AgreementNo, string ClockId)> SignedUpAsync(MerchantClient m, DateTime start)
    {
        var priceId = await PriceAsync(m, 3000);
        var clockId = await ClockAsync(m, start);
        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..8], price_id = priceId,
            collection_method = "charge_automatically", provider = "alipay", method = "page", test_clock = clockId,
        }, idempotencyKey: Guid.NewGuid().ToString());
        Assert.Equal("incomplete", (string?)sub["status"]);
        var mandateId = (string)sub["pending_mandate"]!["id"]!;
        var redirect = (string)sub["pending_mandate"]!["next_action"]!["redirect_url"]!;
        Assert.Contains("alipay.user.agreement.page.sign", Uri.UnescapeDataString(redirect));

        // The learner opens Alipay's sign page (the agreement exists there from then on) and signs.
        Assert.Contains("id=\"sign\"", await m.Server.Anonymous.GetStringAsync(redirect));

        var signed = await m.Server.Anonymous.PostAsync($"/sandbox/alipay/buyer/agreements/{AlipayProvider.ExternalAgreementNo(mandateId)}/sign", null);
        Assert.True(signed.IsSuccessStatusCode, await signed.Content.ReadAsStringAsync());
        await WaitForMandateAsync(m, mandateId, "active");
        await AdvanceAsync(m, clockId, start);
        var agreementNo = await m.Server.QueryAsync(d => d.Mandates.Where(x => x.Id == mandateId).Select(x => x.ProviderMandateId).SingleAsync());
        return (await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}"), agreementNo!, clockId);
    }
}
