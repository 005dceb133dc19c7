using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>Subscriptions end to end over HTTP with SandboxPay agreements and a test clock, on both databases.</summary>
[Collection("server")]
public sealed class SubscriptionTests(Servers servers)
{
    static readonly DateTime T0 = new(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);
    static readonly BillingSchedule Monthly = new(BillingInterval.Month, 1);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SignUp_ThenTwelveMonthsOnATestClock_TwelvePaidInvoices_TwelveBalancedJournals_EntitlementMovesEachPeriod(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (sub, mandateId, clockId) = await SignedUpAsync(m, T0);
        Assert.Equal("active", (string?)sub["status"]);
        Assert.Equal(Monthly.PeriodEnd(T0, 0), (DateTime)sub["current_period_end"]!);

        await AdvanceAsync(m, clockId, Monthly.PeriodStart(T0, 11));

        var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("active", (string?)after["status"]);
        await AssertPeriodEndAsync(server, after, new DateTime(2029, 1, 31, 10, 0, 0, DateTimeKind.Utc));
        var invoices = (await m.GetOkAsync($"/v1/invoices?subscription={sub["id"]}&limit=100"))["data"]!.AsArray().Reverse().ToList();
        Assert.Equal(12, invoices.Count);
        Assert.All(invoices, i => Assert.Equal("paid", (string?)i!["status"]));
        Assert.All(invoices, i => Assert.Equal(3000, (long)i!["amount_paid"]!));
        Assert.Equal(["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31", "2028-06-30", "2028-07-31", "2028-08-31",
            "2028-09-30", "2028-10-31", "2028-11-30", "2028-12-31"], invoices.Select(i => ((DateTime)i!["period_start"]!).ToString("yyyy-MM-dd")));

        await AssertPaymentJournalsBalancedAsync(server, m, 12);
        var creatorPending = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.StartsWith("creator:"))
            .SumAsync(e => e.Amount));
        Assert.Equal(-12 * 2100, creatorPending);   // 70 % of 30.00 CNY, twelve times

        var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Equal(Monthly.PeriodEnd(T0, 11), entitlement.ExpiresAt);
        var granted = await EventDataAsync(server, m, "entitlement.granted");
        Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodEnd(T0, n)), granted.Select(g => (DateTime)g["expires_at"]!));
        Assert.All(granted, g => Assert.Equal(entitlement.Id, (string?)g["id"]));

        var agreement = await SandboxAgreementAsync(server, mandateId);
        Assert.Equal(12, agreement["deductions"]!.AsArray().Count);
        Assert.Equal(12, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "invoice.paid")));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RenewalDeclinedTwice_IsPastDueOnTheRetrySchedule_ThenActiveWhenTheThirdTryPays(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (sub, mandateId, clockId) = await SignedUpAsync(m, T0);
        await DeclineNextAsync(server, mandateId, 2);
        var renewal = Monthly.PeriodStart(T0, 1);

        await AdvanceAsync(m, clockId, renewal);
        var pastDue = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("past_due", (string?)pastDue["status"]);
        var invoice = pastDue["latest_invoice"]!;
        Assert.Equal("open", (string?)invoice["status"]);
        Assert.Equal("card_declined", (string?)invoice["last_failure_code"]);
        Assert.Equal(renewal.AddDays(1), (DateTime)invoice["next_payment_attempt"]!);
        Assert.StartsWith(server.BaseUrl + "/checkout/", (string?)invoice["hosted_invoice_url"]);

        await AdvanceAsync(m, clockId, renewal.AddDays(1).AddHours(1));
        invoice = (await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}"))["latest_invoice"]!;
        Assert.Equal(2, (int)invoice["attempt_count"]!);
        Assert.Equal(renewal.AddDays(3), (DateTime)invoice["next_payment_attempt"]!);

        await AdvanceAsync(m, clockId, renewal.AddDays(3));
        var active = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("active", (string?)active["status"]);
        Assert.Equal("paid", (string?)active["latest_invoice"]!["status"]);
        Assert.Equal(3, (int)active["latest_invoice"]!["attempt_count"]!);
        Assert.Equal(Monthly.PeriodEnd(T0, 1), (DateTime)active["current_period_end"]!);
        var statuses = (await EventDataAsync(server, m, "customer.subscription.updated")).Select(e => (string?)e["status"]).ToList();
        Assert.Equal(["active", "past_due", "active"], statuses);
        Assert.Equal(2, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "invoice.payment_failed")));
        Assert.Equal(4, (await SandboxAgreementAsync(server, mandateId))["deductions"]!.AsArray().Count);
        var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Equal(Monthly.PeriodEnd(T0, 1), entitlement.ExpiresAt);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RenewalDeclinedAlways_EndsUnpaidAfterTheLastRetry_AndAccessIsRevokedAfterTheGraceDays(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (sub, mandateId, clockId) = await SignedUpAsync(m, T0);
        await DeclineNextAsync(server, mandateId, 50);
        var renewal = Monthly.PeriodStart(T0, 1);

        await AdvanceAsync(m, clockId, renewal.AddDays(7));
        var unpaid = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("unpaid", (string?)unpaid["status"]);
        Assert.Equal(5, (int)unpaid["latest_invoice"]!["attempt_count"]!);   // the renewal, then retries on days 1, 3, 5, 7
        Assert.Equal("open", (string?)unpaid["latest_invoice"]!["status"]);
        var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Null(entitlement.RevokedAt);
        Assert.Equal(renewal.AddDays(10), entitlement.ExpiresAt);   // Billing:GraceDays = 3 after the last retry

        await AdvanceAsync(m, clockId, renewal.AddDays(10));
        entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Equal(renewal.AddDays(10), entitlement.RevokedAt);
        Assert.Single(await EventDataAsync(server, m, "entitlement.revoked"));
        var check = await m.GetOkAsync($"/v1/customers/{sub["customer_id"]}/entitlements/{sub["product_id"]}");
        Assert.False((bool)check["active"]!);
        Assert.Equal(6, (await SandboxAgreementAsync(server, mandateId))["deductions"]!.AsArray().Count);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AgreementCancelledByTheBuyerAtTheProvider_MandateRevokedEvent_AndNoFurtherCharge(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (sub, mandateId, clockId) = await SignedUpAsync(m, T0);

        var cancel = await server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/agreements/{mandateId}/buyer-cancel", null);
        Assert.True(cancel.IsSuccessStatusCode);
        var mandate = await WaitForMandateAsync(m, mandateId, "revoked");
        Assert.Equal("user", (string?)mandate["revoked_reason"]);
        Assert.Single(await EventDataAsync(server, m, "mandate.revoked"));

        await AdvanceAsync(m, clockId, Monthly.PeriodStart(T0, 2));
        Assert.Single((await SandboxAgreementAsync(server, mandateId))["deductions"]!.AsArray());
        var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("unpaid", (string?)after["status"]);
        Assert.Equal("mandate_revoked", (string?)after["latest_invoice"]!["last_failure_code"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task BadInput_IsRefusedWithStableCodes_AndWritesNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Creator" });
        foreach (var (recurring, code) in new (object, string)[]
                 {
                     (new { interval = "month", interval_count = 0 }, "recurring_interval_count_invalid"),
                     (new { interval = "fortnight", interval_count = 1 }, "recurring_interval_invalid"),
                 })
        {
            var bad = await m.PostAsync("/v1/products", new
            {
                creator_id = (string)creator["id"]!, name = "Column", kind = "column", creator_share_bps = 7000,
                prices = new[] { new { amount = 3000, currency = "CNY", recurring } },
            });
            await AssertProblemAsync(bad, HttpStatusCode.BadRequest, code);
        }
        Assert.Equal(0, await server.QueryAsync(d => d.Products.CountAsync(p => p.MerchantId == m.MerchantId)));

        var (_, oneTimeProduct) = await m.CourseAsync(7000, (9900, "CNY"));
        var oneTimePrice = (string)(await m.GetOkAsync($"/v1/products/{oneTimeProduct}"))["prices"]![0]!["id"]!;
        await AssertProblemAsync(await m.PostAsync("/v1/subscriptions", new { customer_external_id = "x", price_id = oneTimePrice, provider = "sandbox" }),
            HttpStatusCode.BadRequest, "price_not_recurring");
        var price = await PriceAsync(m, 3000);
        await AssertProblemAsync(await m.PostAsync("/v1/subscriptions", new { customer_external_id = "x", price_id = price, provider = "sandbox", currency = "USD" }),
            HttpStatusCode.BadRequest, "currency_unsupported");
        await AssertProblemAsync(await m.PostAsync("/v1/subscriptions", new { customer_external_id = "x", price_id = price, provider = "paypal" }),
            HttpStatusCode.BadRequest, "provider_unsupported");
        Assert.Equal(0, await server.QueryAsync(d => d.Subscriptions.CountAsync(x => x.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Mandates.CountAsync(x => x.MerchantId == m.MerchantId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Orders.CountAsync(x => x.MerchantId == m.MerchantId)));

        var (sub, mandateId, clockId) = await SignedUpAsync(m, T0);
        var dearer = await PriceAsync(m, 9000);
        await AssertProblemAsync(await m.PostAsync("/v1/subscriptions", new
        {
            customer_id = (string)sub["customer_id"]!, price_id = dearer, provider = "sandbox", mandate_id = mandateId, test_clock = clockId,
        }), HttpStatusCode.Conflict, "mandate_amount_exceeded");
        await AssertProblemAsync(await m.PostAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = T0.AddDays(-1) }),
            HttpStatusCode.BadRequest, "test_clock_backwards");
        Assert.Equal(T0, (DateTime)(await m.GetOkAsync($"/v1/test_clocks/{clockId}"))["frozen_time"]!);

        var canceled = await m.PostOkAsync($"/v1/subscriptions/{sub["id"]}/cancel", new { at_period_end = false });
        Assert.Equal("canceled", (string?)canceled["status"]);
        var events = await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId));
        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{sub["id"]}/cancel", new { at_period_end = true }), HttpStatusCode.Conflict, "subscription_ended");
        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{sub["id"]}/resume", new { }), HttpStatusCode.Conflict, "subscription_ended");
        Assert.Equal(1, await server.QueryAsync(d => d.Subscriptions.CountAsync(x => x.MerchantId == m.MerchantId)));
        Assert.Equal(events, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));
    }

    [SkippableFact]
    public async Task AdvanceWhileAnotherTransactionHoldsTheSubscriptionRow_WaitsForIt_AndRenewsEveryPeriod()
    {
        var server = await servers.Get(Db.Postgres);
        var m = await server.NewMerchantAsync();
        var (sub, _, clockId) = await SignedUpAsync(m, T0);

        // As a provider's notification confirming the last charge does: the claim's SKIP LOCKED passes the row by.
        await using var holder = new Npgsql.NpgsqlConnection(server.App.Configuration["ConnectionStrings:KnowPay"]);
        await holder.OpenAsync();
        await using var lockHeld = await holder.BeginTransactionAsync();
        await using (var take = new Npgsql.NpgsqlCommand("SELECT 1 FROM subscriptions WHERE id = @id FOR NO KEY UPDATE", holder, lockHeld))
        {
            take.Parameters.AddWithValue("id", (string)sub["id"]!);
            await take.ExecuteNonQueryAsync();
        }
        var advance = AdvanceAsync(m, clockId, Monthly.PeriodStart(T0, 3));
        await Task.Delay(500);
        Assert.False(advance.IsCompleted, "the advance returned while a due renewal's row was locked");
        await lockHeld.CommitAsync();
        await advance;

        var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        await AssertPeriodEndAsync(server, after, Monthly.PeriodEnd(T0, 3));
        var invoices = (await m.GetOkAsync($"/v1/invoices?subscription={sub["id"]}&limit=100"))["data"]!.AsArray();
        Assert.Equal(4, invoices.Count);
        Assert.All(invoices, i => Assert.Equal("paid", (string?)i!["status"]));
    }

    /// <summary>A 30.00 CNY monthly column, a test clock at <paramref name="start"/>, a subscription signed by the buyer and its first invoice paid.</summary>
    static async Task<(JsonObject Subscription, string MandateId, string ClockId)> SignedUpAsync(MerchantClient m, DateTime start)
    {
        var price = await PriceAsync(m, 3000);
        var clockId = await ClockAsync(m, start);
        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..8], price_id = price, collection_method = "charge_automatically",
            provider = "sandbox", method = "page", test_clock = clockId,
        }, idempotencyKey: Guid.NewGuid().ToString());
        Assert.Equal("incomplete", (string?)sub["status"]);
        Assert.Equal("open", (string?)sub["latest_invoice"]!["status"]);
        var mandateId = (string)sub["pending_mandate"]!["id"]!;
        Assert.Contains("/sandboxpay/sign/" + mandateId, (string?)sub["pending_mandate"]!["next_action"]!["redirect_url"]);

        var signed = await m.Server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/agreements/{mandateId}/sign", null);
        Assert.True(signed.IsSuccessStatusCode);
        await WaitForMandateAsync(m, mandateId, "active");
        await AdvanceAsync(m, clockId, start);
        return (await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}"), mandateId, clockId);
    }
}
