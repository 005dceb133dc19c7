using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>send_invoice subscriptions on a test clock: each invoice paid by the learner through its hosted checkout over HTTP
/// (the SandboxPay buyer pays), and an invoice left unpaid past its due date dunned as a declined charge.</summary>
[Collection("server")]
public sealed class SendInvoiceTests(Servers servers)
{
    static readonly DateTime T0 = new(2028, 3, 1, 10, 0, 0, DateTimeKind.Utc);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SendInvoice_LearnerPaysEachInvoiceAtTheCheckout_ThenAnUnpaidInvoiceIsDunnedAfterItsDueDate_AndAccessRevoked(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var clockId = await ClockAsync(m, T0);
        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..8], price_id = await PriceAsync(m, 3000),
            collection_method = "send_invoice", provider = "sandbox", test_clock = clockId,
        }, idempotencyKey: Guid.NewGuid().ToString());
        var id = (string)sub["id"]!;
        Assert.Equal("incomplete", (string?)sub["status"]);
        Assert.Null(sub["pending_mandate"]);
        Assert.Equal("open", (string?)sub["latest_invoice"]!["status"]);

        await PayAtCheckoutAsync(m, id);
        var active = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal("paid", (string?)active["latest_invoice"]!["status"]);
        Assert.Equal(3000, (long)active["latest_invoice"]!["amount_paid"]!);
        var march = new DateTime(2028, 4, 1, 10, 0, 0, DateTimeKind.Utc);
        Assert.Equal(march, (DateTime)active["current_period_end"]!);
        Assert.Equal(march, (await EntitlementAsync(server, m)).ExpiresAt);

        // The renewal: an open invoice, no charge; access lasts until it is due (Billing:DaysUntilDue = 7), then the learner pays it.
        await AdvanceAsync(m, clockId, march);
        var renewal = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal("active", (string?)renewal["status"]);
        Assert.Equal("open", (string?)renewal["latest_invoice"]!["status"]);
        Assert.Equal(0, (int)renewal["latest_invoice"]!["attempt_count"]!);
        Assert.Equal(march.AddDays(7), (await EntitlementAsync(server, m)).ExpiresAt);
        await AdvanceAsync(m, clockId, march.AddDays(2));
        await PayAtCheckoutAsync(m, id);
        var april = new DateTime(2028, 5, 1, 10, 0, 0, DateTimeKind.Utc);
        var paid = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal("active", (string?)paid["status"]);
        Assert.Equal(april, (DateTime)paid["current_period_end"]!);
        Assert.Equal(april, (await EntitlementAsync(server, m)).ExpiresAt);

        // The next invoice is never paid: past_due on its due date, reminders on the retry days, then unpaid and access revoked.
        await AdvanceAsync(m, clockId, april.AddDays(7));
        var pastDue = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal("past_due", (string?)pastDue["status"]);
        Assert.Equal("invoice_past_due", (string?)pastDue["latest_invoice"]!["last_failure_code"]);
        Assert.Equal(april.AddDays(8), (DateTime)pastDue["latest_invoice"]!["next_payment_attempt"]!);
        await AdvanceAsync(m, clockId, april.AddDays(14));
        var unpaid = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal("unpaid", (string?)unpaid["status"]);
        Assert.Equal(5, (int)unpaid["latest_invoice"]!["attempt_count"]!);
        Assert.Equal(april.AddDays(17), (await EntitlementAsync(server, m)).ExpiresAt);   // Billing:GraceDays = 3
        await AdvanceAsync(m, clockId, april.AddDays(17));
        Assert.Equal(april.AddDays(17), (await EntitlementAsync(server, m)).RevokedAt);
        Assert.Equal(2, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "payment_confirmed")));
        Assert.Equal(5, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "invoice.payment_failed")));
        Assert.Equal(0, await server.QueryAsync(d => d.Mandates.CountAsync(x => x.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PayPal_IsSendInvoiceOnly_ChargeAutomaticallyIsRefused_SendInvoiceHasACheckoutLink(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var price = await PriceAsync(m, 3000);
        var refused = await m.PostAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-pp", price_id = price, collection_method = "charge_automatically", provider = "paypal",
        });
        var text = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("provider_unsupported", (string?)JsonNode.Parse(text)!["code"]);
        Assert.Contains("send_invoice", text);
        Assert.Equal(0, await server.QueryAsync(d => d.Subscriptions.CountAsync(x => x.MerchantId == m.MerchantId)));

        var sub = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-pp", price_id = price, collection_method = "send_invoice", provider = "paypal",
        }, idempotencyKey: Guid.NewGuid().ToString());
        Assert.Equal("incomplete", (string?)sub["status"]);
        Assert.StartsWith(server.BaseUrl + "/checkout/", (string?)sub["latest_invoice"]!["hosted_invoice_url"]);
    }
}
