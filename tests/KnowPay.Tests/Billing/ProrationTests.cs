using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Features.Billing;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>
/// Plan changes over HTTP with SandboxPay agreements and a test clock, on both databases: a 30-day period (interval day × 30)
/// changed at exactly its middle, so every proration line is half a price, computed by hand below.
/// </summary>
[Collection("server")]
public sealed class ProrationTests(Servers servers)
{
    static readonly DateTime T0 = new(2028, 3, 1, 8, 0, 0, DateTimeKind.Utc);
    static readonly DateTime Middle = T0.AddDays(15);
    static readonly DateTime PeriodEnd = T0.AddDays(30);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Upgrade30To90AtTheMiddle_CreateProrations_LinesOnTheRenewalInvoice_MinusHalfOld_PlusHalfNew_LedgerBalanced(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var s = await SubscribedAsync(m, amount: 3000, agreementCap: 12000);
        await AdvanceAsync(m, s.ClockId, Middle);
        var to90 = await NewPriceAsync(m, s.ProductId, 9000);

        var changed = await m.PostOkAsync($"/v1/subscriptions/{s.Id}", new { price_id = to90, proration_behavior = "create_prorations" });
        Assert.Equal(9000, (long)changed["amount"]!);
        Assert.Equal(to90, (string?)changed["price_id"]);
        var draft = (await InvoicesAsync(m, s.Id)).Single(i => (string?)i["status"] == "draft");
        Assert.Equal(PeriodEnd, (DateTime)draft["period_start"]!);
        // unused half of 30.00 credited, remaining half of 90.00 charged: 3000 × 15/30 = 1500, 9000 × 15/30 = 4500
        Assert.Equal([-1500, 4500], Lines(draft).Select(l => (long)l["amount"]!));
        Assert.All(Lines(draft), l => Assert.True((bool)l["proration"]!));
        Assert.Single((await SandboxAgreementAsync(server, s.MandateId))["deductions"]!.AsArray());

        await AdvanceAsync(m, s.ClockId, PeriodEnd);

        var renewal = (await InvoicesAsync(m, s.Id)).Single(i => (DateTime)i["period_start"]! == PeriodEnd);
        Assert.Equal("paid", (string?)renewal["status"]);
        Assert.Equal(draft["id"]!.ToString(), (string?)renewal["id"]);
        Assert.Equal([-1500, 4500, 9000], Lines(renewal).Select(l => (long)l["amount"]!));
        Assert.Equal(12000, (long)renewal["amount_paid"]!);   // 9000 for the new period + 4500 − 1500
        var deductions = (await SandboxAgreementAsync(server, s.MandateId))["deductions"]!.AsArray();
        Assert.Equal(2, deductions.Count);
        Assert.Equal(-(3000 + 12000) * 70 / 100, await BalanceAsync(server, m, "creator:"));
        await AssertLedgerBalancedAsync(server, m);
        var sub = await m.GetOkAsync($"/v1/subscriptions/{s.Id}");
        Assert.Equal(("active", PeriodEnd.AddDays(30)), ((string?)sub["status"], (DateTime)sub["current_period_end"]!));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Downgrade90To30AtTheMiddle_Credit3000BecomesTheCreditBalance_AndPaysTheNextInvoiceWithoutTheProvider(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var s = await SubscribedAsync(m, amount: 9000, agreementCap: 9000);
        await AdvanceAsync(m, s.ClockId, Middle);
        var to30 = await NewPriceAsync(m, s.ProductId, 3000);

        await m.PostOkAsync($"/v1/subscriptions/{s.Id}", new { price_id = to30 });   // create_prorations by default

        // credit 9000 × 15/30 = 4500, charge 3000 × 15/30 = 1500: a net credit of 3000, invoiced at once and paid at 0
        var update = (await InvoicesAsync(m, s.Id)).Single(i => (string?)i["billing_reason"] == "subscription_update");
        Assert.Equal([-4500, 1500], Lines(update).Select(l => (long)l["amount"]!));
        Assert.Equal(("paid", 0L, 0L), ((string?)update["status"], (long)update["amount_due"]!, (long)update["amount_paid"]!));
        Assert.Equal(Middle, (DateTime)update["period_start"]!);
        var credit = Accounts.CustomerCredit(s.CustomerId, "CNY");
        Assert.Equal(-3000, await BalanceAsync(server, m, credit));
        Assert.Equal(-(6300 - 2100), await BalanceAsync(server, m, "creator:"));   // 70 % of the 3000 credited back
        await AssertLedgerBalancedAsync(server, m);
        var sub = await m.GetOkAsync($"/v1/subscriptions/{s.Id}");
        Assert.Equal((T0, PeriodEnd), ((DateTime)sub["current_period_start"]!, (DateTime)sub["current_period_end"]!));

        await AdvanceAsync(m, s.ClockId, PeriodEnd);

        // the next period at 30.00, less the 30.00 of credit: 3000 − 3000 = 0, paid from the balance, nothing charged at the provider
        var renewal = (await InvoicesAsync(m, s.Id)).Single(i => (DateTime)i["period_start"]! == PeriodEnd);
        Assert.Equal([-3000, 3000], Lines(renewal).Select(l => (long)l["amount"]!));
        Assert.Equal(("paid", 0L), ((string?)renewal["status"], (long)renewal["amount_due"]!));
        Assert.Single((await SandboxAgreementAsync(server, s.MandateId))["deductions"]!.AsArray());
        Assert.Equal(0, await BalanceAsync(server, m, credit));
        Assert.Equal(-6300, await BalanceAsync(server, m, "creator:"));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "credit_applied")));
        await AssertLedgerBalancedAsync(server, m);
        sub = await m.GetOkAsync($"/v1/subscriptions/{s.Id}");
        Assert.Equal(("active", PeriodEnd.AddDays(30)), ((string?)sub["status"], (DateTime)sub["current_period_end"]!));
        var entitlement = Assert.Single(await server.QueryAsync(d => d.Entitlements.Where(e => e.MerchantId == m.MerchantId).ToListAsync()));
        Assert.Equal(PeriodEnd.AddDays(30), entitlement.ExpiresAt);
    }

    /// <summary>
    /// Two subscriptions of one customer renewed at the same instant by two transactions (as two nodes would), each able to spend the
    /// customer's 3000 of credit. A trigger holds every invoice insert until both renewals are in flight, so without the customer's
    /// lock both read the full balance before either commits.
    /// </summary>
    [SkippableFact]
    public async Task CreditBalance_SpentByTwoRenewalsAtOnceOnPostgres_IsSpentExactlyOnce_AndTheLedgerBalances()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Postgres);
        var m = await server.NewMerchantAsync();
        var a = await SubscribedAsync(m, amount: 9000, agreementCap: 9000);
        var price90 = (string)(await m.GetOkAsync($"/v1/subscriptions/{a.Id}"))["price_id"]!;
        var b = (string)(await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_id = a.CustomerId, price_id = price90, collection_method = "charge_automatically", provider = "sandbox", method = "page",
            mandate_id = a.MandateId, test_clock = a.ClockId,
        }, idempotencyKey: Guid.NewGuid().ToString()))["id"]!;
        await AdvanceAsync(m, a.ClockId, Middle);   // b's first period T0 – PeriodEnd paid too
        await m.PostOkAsync($"/v1/subscriptions/{a.Id}", new { price_id = await NewPriceAsync(m, a.ProductId, 3000) });
        var credit = Accounts.CustomerCredit(a.CustomerId, "CNY");
        Assert.Equal(-3000, await BalanceAsync(server, m, credit));

        await using var holder = new Npgsql.NpgsqlConnection(server.App.Configuration["ConnectionStrings:KnowPay"]);
        await holder.OpenAsync();
        await Sql(holder, """
            CREATE FUNCTION hold_invoice_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN PERFORM pg_advisory_xact_lock_shared(2020); RETURN NEW; END $$;
            CREATE TRIGGER hold_invoice_inserts BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION hold_invoice_inserts();
            SELECT pg_advisory_lock(2020);
            """);
        var renewals = new[] { a.Id, b }.Select(id => Task.Run(async () =>
        {
            await using var scope = server.App.Services.CreateAsyncScope();
            return await Renewals.StepAsync(BillingServices.From(scope.ServiceProvider), id, PeriodEnd, CancellationToken.None);
        })).ToList();
        // Both renewals wait: on the held insert, or (with the customer's lock) one of them on the other's lock.
        var waiting = 0L;
        for (var i = 0; i < 600 && waiting < 2; i++)
        {
            await Task.Delay(100);
            await using var count = new Npgsql.NpgsqlCommand(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", holder);
            waiting = (long)(await count.ExecuteScalarAsync())!;
        }
        await Sql(holder, "SELECT pg_advisory_unlock(2020)");
        var stepped = await Task.WhenAll(renewals);
        await Sql(holder, "DROP TRIGGER hold_invoice_inserts ON invoices; DROP FUNCTION hold_invoice_inserts()");
        Assert.True(waiting >= 2, $"{waiting} renewals waited");
        Assert.All(stepped, Assert.True);

        // 3000 of credit spent once, on one of the two renewal invoices: 9000 + 3000 billed, 3000 of it from the balance
        var renewed = (await InvoicesAsync(m, a.Id)).Concat(await InvoicesAsync(m, b)).Where(i => (DateTime)i["period_start"]! == PeriodEnd).ToList();
        Assert.Equal(2, renewed.Count);
        Assert.Equal(-3000, renewed.SelectMany(Lines).Where(l => (string?)l["description"] == "Applied credit balance").Sum(l => (long)l["amount"]!));
        Assert.Equal(12000 - 3000, renewed.Sum(i => (long)i["amount_due"]!));
        Assert.Equal(0, await BalanceAsync(server, m, credit));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "credit_applied")));
        await AssertLedgerBalancedAsync(server, m);

        static async Task Sql(Npgsql.NpgsqlConnection connection, string sql)
        {
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Upgrade30To90AtTheMiddle_AlwaysInvoice_Charges3000Now_AndThePeriodStays(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var s = await SubscribedAsync(m, amount: 3000, agreementCap: 12000);
        await AdvanceAsync(m, s.ClockId, Middle);
        var to90 = await NewPriceAsync(m, s.ProductId, 9000);

        var changed = await m.PostOkAsync($"/v1/subscriptions/{s.Id}", new { price_id = to90, proration_behavior = "always_invoice" });

        var update = (await InvoicesAsync(m, s.Id)).Single(i => (string?)i["billing_reason"] == "subscription_update");
        Assert.Equal([-1500, 4500], Lines(update).Select(l => (long)l["amount"]!));
        Assert.Equal(("paid", 3000L), ((string?)update["status"], (long)update["amount_paid"]!));
        var deductions = (await SandboxAgreementAsync(server, s.MandateId))["deductions"]!.AsArray();
        Assert.Equal(2, deductions.Count);
        Assert.Equal(("active", T0, PeriodEnd), ((string?)changed["status"], (DateTime)changed["current_period_start"]!, (DateTime)changed["current_period_end"]!));
        await AssertLedgerBalancedAsync(server, m);

        // A second invoiced change at the same instant: refused, nothing written (it was a 500).
        var to60 = await NewPriceAsync(m, s.ProductId, 6000);
        var invoicesBefore = (await InvoicesAsync(m, s.Id)).Count;
        var again = await m.PostAsync($"/v1/subscriptions/{s.Id}", new { price_id = to60, proration_behavior = "always_invoice" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("subscription_change_conflict", (string?)Json.Parse(await again.Content.ReadAsStringAsync())["code"]);
        Assert.Equal(invoicesBefore, (await InvoicesAsync(m, s.Id)).Count);

        await AdvanceAsync(m, s.ClockId, PeriodEnd);
        var renewal = (await InvoicesAsync(m, s.Id)).Single(i => (DateTime)i["period_start"]! == PeriodEnd);
        Assert.Equal(("paid", 9000L), ((string?)renewal["status"], (long)renewal["amount_paid"]!));
        Assert.Equal([9000], Lines(renewal).Select(l => (long)l["amount"]!));
        Assert.Equal(-(3000 + 3000 + 9000) * 70 / 100, await BalanceAsync(server, m, "creator:"));
        await AssertLedgerBalancedAsync(server, m);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ProrationNone_ChangesNothingUntilTheRenewal_ThenBillsTheNewPrice(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var s = await SubscribedAsync(m, amount: 3000, agreementCap: 12000);
        await AdvanceAsync(m, s.ClockId, Middle);
        var to90 = await NewPriceAsync(m, s.ProductId, 9000);
        var journals = await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId));

        await m.PostOkAsync($"/v1/subscriptions/{s.Id}", new { price_id = to90, proration_behavior = "none" });

        Assert.Single(await InvoicesAsync(m, s.Id));
        Assert.Equal(journals, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Single((await SandboxAgreementAsync(server, s.MandateId))["deductions"]!.AsArray());

        await AdvanceAsync(m, s.ClockId, PeriodEnd);
        var renewal = (await InvoicesAsync(m, s.Id)).Single(i => (DateTime)i["period_start"]! == PeriodEnd);
        Assert.Equal(("paid", 9000L), ((string?)renewal["status"], (long)renewal["amount_paid"]!));
        Assert.Equal([9000], Lines(renewal).Select(l => (long)l["amount"]!));
        await AssertLedgerBalancedAsync(server, m);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task BadChanges_AreRefusedWithStableCodes_AndWriteNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var s = await SubscribedAsync(m, amount: 3000, agreementCap: 3000);
        await AdvanceAsync(m, s.ClockId, Middle);
        var usd = await m.PostOkAsync($"/v1/products/{s.ProductId}", new
        {
            prices = new[] { new { amount = 900L, currency = "USD", recurring = new { interval = "day", interval_count = 30 } } },
        });
        var usdPrice = (string)usd["prices"]!.AsArray().Single(p => (string?)p!["currency"] == "USD")!["id"]!;
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Creator " + Guid.NewGuid().ToString("N")[..6] });
        var oneTime = await m.PostOkAsync("/v1/products", new
        {
            creator_id = (string)creator["id"]!, name = "A course", kind = "course", creator_share_bps = 7000,
            prices = new[] { new { amount = 9000L, currency = "CNY" } },
        });
        var to90 = await NewPriceAsync(m, s.ProductId, 9000);
        var before = await CountsAsync(server, m);

        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{s.Id}", new { price_id = "price_unknown" }), HttpStatusCode.NotFound, "price_not_found");
        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{s.Id}", new { price_id = usdPrice }), HttpStatusCode.BadRequest, "price_currency_mismatch");
        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{s.Id}", new { price_id = (string)oneTime["prices"]![0]!["id"]! }),
            HttpStatusCode.BadRequest, "price_not_recurring");
        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{s.Id}", new { price_id = to90, proration_behavior = "sometimes" }),
            HttpStatusCode.BadRequest, "proration_behavior_invalid");
        // the agreement was signed for at most 30.00 a charge: 90.00 a period would need the buyer to sign again
        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{s.Id}", new { price_id = to90 }), HttpStatusCode.Conflict, "mandate_amount_exceeded");
        Assert.Equal(before, await CountsAsync(server, m));
        Assert.Equal(3000, (long)(await m.GetOkAsync($"/v1/subscriptions/{s.Id}"))["amount"]!);

        await m.PostOkAsync($"/v1/subscriptions/{s.Id}/cancel", new { at_period_end = false });
        before = await CountsAsync(server, m);
        await AssertProblemAsync(await m.PostAsync($"/v1/subscriptions/{s.Id}", new { price_id = to90, proration_behavior = "none" }),
            HttpStatusCode.Conflict, "subscription_ended");
        Assert.Equal(before, await CountsAsync(server, m));
    }

    sealed record Subscribed(string Id, string CustomerId, string ProductId, string MandateId, string ClockId);

    /// <summary>
    /// A column billed every 30 days at <paramref name="amount"/>, a test clock at T0, and an agreement signed for up to
    /// <paramref name="agreementCap"/> a charge (signed through a subscription at that price, canceled before the signing), then the
    /// subscription under it with its first invoice paid.
    /// </summary>
    static async Task<Subscribed> SubscribedAsync(MerchantClient m, long amount, long agreementCap)
    {
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Creator " + Guid.NewGuid().ToString("N")[..6] });
        var product = await m.PostOkAsync("/v1/products", new
        {
            creator_id = (string)creator["id"]!, name = "Column", kind = "column", creator_share_bps = 7000,
            prices = new[] { new { amount = agreementCap, currency = "CNY", recurring = new { interval = "day", interval_count = 30 } } },
        });
        var productId = (string)product["id"]!;
        var clockId = await ClockAsync(m, T0);
        var signing = await m.PostOkAsync("/v1/subscriptions", new
        {
            customer_external_id = "learner-" + Guid.NewGuid().ToString("N")[..8], price_id = (string)product["prices"]![0]!["id"]!,
            collection_method = "charge_automatically", provider = "sandbox", method = "page", test_clock = clockId,
        }, idempotencyKey: Guid.NewGuid().ToString());
        var mandateId = (string)signing["pending_mandate"]!["id"]!;
        var customerId = (string)signing["customer_id"]!;
        if (agreementCap != amount)
            await m.PostOkAsync($"/v1/subscriptions/{signing["id"]}/cancel", new { at_period_end = false });
        var signed = await m.Server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/agreements/{mandateId}/sign", null);
        Assert.True(signed.IsSuccessStatusCode);
        await WaitForMandateAsync(m, mandateId, "active");
        var id = (string)signing["id"]!;
        if (agreementCap != amount)
        {
            var price = await NewPriceAsync(m, productId, amount);
            var sub = await m.PostOkAsync("/v1/subscriptions", new
            {
                customer_id = customerId, price_id = price, collection_method = "charge_automatically", provider = "sandbox", method = "page",
                mandate_id = mandateId, test_clock = clockId,
            }, idempotencyKey: Guid.NewGuid().ToString());
            id = (string)sub["id"]!;
        }
        await AdvanceAsync(m, clockId, T0);
        var paid = await m.GetOkAsync($"/v1/subscriptions/{id}");
        Assert.Equal(("active", amount), ((string?)paid["status"], (long)paid["amount"]!));
        Assert.Equal(PeriodEnd, (DateTime)paid["current_period_end"]!);
        return new Subscribed(id, customerId, productId, mandateId, clockId);
    }

    /// <summary>The product's price in CNY changed to <paramref name="amount"/>: a new version, the one a plan change moves to.</summary>
    static async Task<string> NewPriceAsync(MerchantClient m, string productId, long amount)
    {
        var product = await m.PostOkAsync($"/v1/products/{productId}", new
        {
            prices = new[] { new { amount, currency = "CNY", recurring = new { interval = "day", interval_count = 30 } } },
        });
        return (string)product["prices"]!.AsArray().Single(p => (string?)p!["currency"] == "CNY")!["id"]!;
    }

    static IEnumerable<JsonObject> Lines(JsonObject invoice) =>
        invoice["lines"]!.AsArray().Select(l => l!.AsObject()).OrderBy(l => (long)l["amount"]!);

    /// <summary>The sum of the merchant's entries on accounts starting with <paramref name="accountPrefix"/> (credit-negative).</summary>
    static Task<long> BalanceAsync(KnowPayServer server, MerchantClient m, string accountPrefix) =>
        server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.StartsWith(accountPrefix)).SumAsync(e => e.Amount));

    /// <summary>Every journal balances and the trial balance is zero.</summary>
    static async Task AssertLedgerBalancedAsync(KnowPayServer server, MerchantClient m)
    {
        var sums = await server.QueryAsync(d => d.Journals.Where(j => j.MerchantId == m.MerchantId)
            .Select(j => d.LedgerEntries.Where(e => e.JournalId == j.Id).Sum(e => e.Amount)).ToListAsync());
        Assert.NotEmpty(sums);
        Assert.All(sums, sum => Assert.Equal(0, sum));
        Assert.Equal(0, await BalanceAsync(server, m, ""));
    }

    static async Task<(int, int, int, int)> CountsAsync(KnowPayServer server, MerchantClient m) => await server.QueryAsync(async d => (
        await d.Invoices.CountAsync(i => i.MerchantId == m.MerchantId), await d.InvoiceLines.CountAsync(l => d.Invoices.Any(i => i.Id == l.InvoiceId && i.MerchantId == m.MerchantId)),
        await d.Journals.CountAsync(j => j.MerchantId == m.MerchantId), await d.Events.CountAsync(e => e.MerchantId == m.MerchantId)));
}
