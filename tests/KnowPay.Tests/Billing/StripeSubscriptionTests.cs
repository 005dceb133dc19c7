using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>
/// Subscriptions renewed on a saved Stripe card (SetupIntent, then off-session PaymentIntents), through the public API and
/// the Stripe sandbox over HTTP, on a test clock, on both databases.
/// </summary>
[Collection("server")]
public sealed class StripeSubscriptionTests(Servers servers)
{
    static readonly BillingSchedule Monthly = new(BillingInterval.Month, 1);
    static readonly DateTime T0 = new(2027, 5, 10, 12, 0, 0, DateTimeKind.Utc);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SaveACardAtStripe_ThenTwelveMonths_TwelvePaidInvoices_BalancedJournals_EntitlementMoves_TwelveOffSessionIntents(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (sub, mandateId, clockId) = await SignedUpAsync(m, StripeSimulator.CardSucceeds);
        Assert.Equal("active", (string?)sub["status"]);

        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = Monthly.PeriodStart(T0, 11) });

        var after = await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}");
        Assert.Equal("active", (string?)after["status"]);
        Assert.Equal(Monthly.PeriodEnd(T0, 11), (DateTime)after["current_period_end"]!);
        var invoices = (await m.GetOkAsync($"/v1/invoices?subscription={sub["id"]}&limit=100"))["data"]!.AsArray().Reverse().ToList();
        Assert.Equal(12, invoices.Count);
        Assert.All(invoices, i => Assert.Equal(("paid", 3000L), ((string?)i!["status"], (long)i!["amount_paid"]!)));
        Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodStart(T0, n)), invoices.Select(i => (DateTime)i!["period_start"]!));

        await AssertPaymentJournalsBalancedAsync(server, m, 12);
        Assert.Equal(-12 * 2100, await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.StartsWith("creator:"))
            .SumAsync(e => e.Amount)));

        var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Equal(Monthly.PeriodEnd(T0, 11), entitlement.ExpiresAt);
        var granted = await EventDataAsync(server, m, "entitlement.granted");
        Assert.Equal(Enumerable.Range(0, 12).Select(n => Monthly.PeriodEnd(T0, n)), granted.Select(g => (DateTime)g["expires_at"]!));

        // Each renewal: one PaymentIntent at Stripe on the saved card of the mandate's Customer, succeeded, for a paid payment.
        var mandate = await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == mandateId));
        Assert.StartsWith("cus_", mandate.ProviderCustomerRef);
        var stripe = server.Services.GetRequiredService<StripeSimulator>();
        var intents = stripe.IntentsOfCustomer(mandate.ProviderCustomerRef!);
        Assert.Equal(12, intents.Count);
        // Charged with the learner away: every renewal confirmed off_session=true, as a saved card's charge must be.
        Assert.Equal(intents.Select(i => (string)i["id"]!).Order(), stripe.OffSessionIntentsOfCustomer(mandate.ProviderCustomerRef!).Order());
        Assert.All(intents, i => Assert.Equal(("succeeded", mandate.ProviderMandateId, 3000L), ((string?)i["status"], (string?)i["payment_method"], (long)i["amount"]!)));
        var paymentIds = await server.QueryAsync(d => d.Payments.Where(p => p.MerchantId == m.MerchantId && p.Status == PaymentStatus.Succeeded)
            .Select(p => p.Id).ToListAsync());
        Assert.Equal(paymentIds.Order(), intents.Select(i => (string)i["metadata"]!["payment_id"]!).Order());
        var log = server.Services.GetRequiredService<SandboxRequestLog>().Snapshot();
        Assert.Contains(log, e => e.StartsWith("POST /sandbox/stripe/v1/setup_intents/", StringComparison.Ordinal) && e.EndsWith("/confirm", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RenewalNeedsAuthentication_InvoiceStaysOpenWithACheckoutLinkForTheLearner(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        // 4000002760003184 authenticates on every payment: the learner does so when saving it; off-session, nobody can.
        var (sub, _, clockId) = await SignedUpAsync(m, StripeSimulator.CardAlwaysAuthenticate);
        Assert.Equal("incomplete", (string?)sub["status"]);
        var first = sub["latest_invoice"]!;
        Assert.Equal(("open", "authentication_required"), ((string?)first["status"], (string?)first["last_failure_code"]));
        Assert.StartsWith(server.BaseUrl + "/checkout/", (string?)first["hosted_invoice_url"]);

        var failed = await EventDataAsync(server, m, "invoice.payment_failed");
        var data = Assert.Single(failed);
        Assert.Equal(("authentication_required", (string?)first["hosted_invoice_url"]), ((string?)data["last_failure_code"], (string?)data["hosted_invoice_url"]));
        await m.PostOkAsync($"/v1/test_clocks/{clockId}/advance", new { frozen_time = T0.AddHours(1) });
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
    }

    /// <summary>A 30.00 USD monthly column, a test clock at <see cref="T0"/>, a subscription whose card the learner saves at Stripe, its first invoice charged.</summary>
    static async Task<(JsonObject Subscription, string MandateId, string ClockId)> SignedUpAsync(MerchantClient m, string card)
    {
        var priceId = await PriceAsync(m, 3000, currency: "USD");
        var clockId = await ClockAsync(m, T0);
        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..8], price_id = priceId,
            collection_method = "charge_automatically", provider = "stripe", test_clock = clockId,
        }, idempotencyKey: Guid.NewGuid().ToString());
        Assert.Equal("incomplete", (string?)sub["status"]);
        var mandateId = (string)sub["pending_mandate"]!["id"]!;
        var secret = (string)sub["pending_mandate"]!["next_action"]!["client_secret"]!;

        // The learner confirms the SetupIntent as Stripe.js would (a second confirm completes a 3-D Secure challenge).
        var setupId = secret[..secret.IndexOf("_secret_", StringComparison.Ordinal)];
        for (var i = 0; i < 2; i++)
        {
            var confirmed = await m.Server.Anonymous.PostAsync($"/sandbox/stripe/v1/setup_intents/{setupId}/confirm", new FormUrlEncodedContent(
                [new("client_secret", secret), new("payment_method_data[card][number]", card)]));
            var text = await confirmed.Content.ReadAsStringAsync();
            Assert.True(confirmed.IsSuccessStatusCode, text);
            if ((string?)JsonNode.Parse(text)!["status"] == "succeeded") break;
        }
        await WaitForMandateAsync(m, mandateId, "active");
        await AdvanceAsync(m, clockId, T0);
        return (await m.GetOkAsync($"/v1/subscriptions/{sub["id"]}"), mandateId, clockId);
    }
}
