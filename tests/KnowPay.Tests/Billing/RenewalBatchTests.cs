using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Billing;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>
/// A claimed batch's renewal invoices written in one transaction on PostgreSQL (<see cref="InvoiceWriter.EnsureBatchAsync"/>), and
/// what it leaves to each subscription's own step: a batch whose transaction fails, a customer with a credit balance.
/// </summary>
[Collection("server")]
public sealed class RenewalBatchTests
{
    static readonly DateTime T0 = new(2028, 3, 1, 8, 0, 0, DateTimeKind.Utc);
    static readonly DateTime Middle = T0.AddDays(15);
    static readonly DateTime PeriodEnd = T0.AddDays(30);

    [SkippableFact]
    public async Task BatchTransactionFailing_EachRenewalIsWrittenInItsOwnStep_OnePaidInvoiceAndOneChargePerPeriod()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Postgres);
        var (m, clock, subs) = await SubscribedAsync(server, 3);

        // The first invoice insert after this fails as a period written meanwhile would: the whole batch's transaction.
        await using var db = new Npgsql.NpgsqlConnection(server.App.Configuration["ConnectionStrings:KnowPay"]);
        await db.OpenAsync();
        await SqlAsync(db, """
            CREATE SEQUENCE invoice_inserts;
            CREATE FUNCTION fail_first_invoice_insert() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN IF nextval('invoice_inserts') = 1 THEN RAISE EXCEPTION 'period written meanwhile' USING ERRCODE = 'unique_violation'; END IF;
              RETURN NEW; END $$;
            CREATE TRIGGER fail_first_invoice_insert BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION fail_first_invoice_insert();
            """);

        await AdvanceAsync(m, clock, PeriodEnd);

        // One failed insert (the batch), then one per subscription in its own step.
        Assert.Equal(4L, await SqlAsync(db, "SELECT last_value FROM invoice_inserts"));
        await AssertBothPeriodsPaidOnceAsync(server, subs);
        var check = JsonNode.Parse(await m.Http.GetStringAsync("/v1/ledger/invariants/check"))!;
        Assert.True((bool?)check["passed"] == true, check.ToJsonString());
    }

    [SkippableFact]
    public async Task PaidRenewals_ConfirmedAsOneGroup_AndOneByOneWhenTheGroupFails_EachPaidOnce()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Postgres);
        var (m, clock, subs) = await SubscribedAsync(server, 6);
        // Without SandboxPay's notifications only the engine's answers confirm: every renewal reaches the group.
        (await server.Anonymous.PostAsJsonAsync("/sandbox/faults", new { drop_notifications = true })).EnsureSuccessStatusCode();

        // The first statement that writes more than one journal (the group's) fails: its transaction rolls back whole.
        await using var db = new Npgsql.NpgsqlConnection(server.App.Configuration["ConnectionStrings:KnowPay"]);
        await db.OpenAsync();
        await SqlAsync(db, """
            CREATE SEQUENCE journal_groups;
            CREATE FUNCTION fail_first_journal_group() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN
                IF (SELECT count(*) FROM added) > 1 THEN
                  IF nextval('journal_groups') = 1 THEN RAISE EXCEPTION 'the group fails'; END IF;
                END IF;
                RETURN NULL;
              END $$;
            CREATE TRIGGER fail_first_journal_group AFTER INSERT ON ledger_journals REFERENCING NEW TABLE AS added
              FOR EACH STATEMENT EXECUTE FUNCTION fail_first_journal_group();
            """);

        await AdvanceAsync(m, clock, PeriodEnd);

        await AssertBothPeriodsPaidOnceAsync(server, subs);
        // The group was tried (and failed) once; its payments were then confirmed one by one, each once.
        Assert.Equal(1L, await SqlAsync(db, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM journal_groups"));
        Assert.Equal(12, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "payment_confirmed")));
        var check = JsonNode.Parse(await m.Http.GetStringAsync("/v1/ledger/invariants/check"))!;
        Assert.True((bool?)check["passed"] == true, check.ToJsonString());
    }

    [SkippableFact]
    public async Task CustomerWithCredit_RenewedWithABatch_SpendsTheCreditInItsOwnStep_TheOtherIsCharged()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Postgres);
        var m = await server.NewMerchantAsync();
        var clock = await ClockAsync(m, T0);
        var (withCredit, creditMandate) = await SubscribeAsync(m, clock, await PriceAsync(m, 9000, "day", 30), T0);
        var (plain, plainMandate) = await SubscribeAsync(m, clock, await PriceAsync(m, 9000, "day", 30), T0);
        await AdvanceAsync(m, clock, Middle);
        var sub = await m.GetOkAsync($"/v1/subscriptions/{withCredit}");
        var product = await m.PostOkAsync($"/v1/products/{(string)sub["product_id"]!}", new
        {
            prices = new[] { new { amount = 3000L, currency = "CNY", recurring = new { interval = "day", interval_count = 30 } } },
        });
        var to30 = (string)product["prices"]!.AsArray().Single(p => (long)p!["amount"]! == 3000)!["id"]!;
        await m.PostOkAsync($"/v1/subscriptions/{withCredit}", new { price_id = to30 });   // a net credit of 3000 to the balance
        var credit = Accounts.CustomerCredit((string)sub["customer_id"]!, "CNY");
        Assert.Equal(-3000, await BalanceAsync(server, m, credit));

        await AdvanceAsync(m, clock, PeriodEnd);

        // 3000 − 3000 of credit: paid at 0 without the provider; the other renewal charged in full.
        var spent = await RenewalAsync(server, withCredit);
        Assert.Equal((InvoiceStatus.Paid, 0L), (spent.Status, spent.Amount));
        Assert.Equal([-3000, 3000], spent.Lines.Select(l => l.Amount).Order());
        var charged = await RenewalAsync(server, plain);
        Assert.Equal((InvoiceStatus.Paid, 9000L), (charged.Status, charged.Amount));
        Assert.Single((await SandboxAgreementAsync(server, creditMandate))["deductions"]!.AsArray());
        Assert.Equal(2, (await SandboxAgreementAsync(server, plainMandate))["deductions"]!.AsArray().Count);
        Assert.Equal(0, await BalanceAsync(server, m, credit));
        Assert.Equal(0, await BalanceAsync(server, m, ""));
        var check = JsonNode.Parse(await m.Http.GetStringAsync("/v1/ledger/invariants/check"))!;
        Assert.True((bool?)check["passed"] == true, check.ToJsonString());
    }

    /// <summary>A new merchant with <paramref name="count"/> subscriptions of 30.00 CNY every 30 days, started at T0 on one test clock.</summary>
    static async Task<(MerchantClient M, string Clock, List<(string Id, string MandateId)> Subs)> SubscribedAsync(KnowPayServer server, int count)
    {
        var m = await server.NewMerchantAsync();
        var price = await PriceAsync(m, 3000, "day", 30);
        var clock = await ClockAsync(m, T0);
        var subs = new List<(string Id, string MandateId)>();
        for (var i = 0; i < count; i++) subs.Add(await SubscribeAsync(m, clock, price, T0));
        return (m, clock, subs);
    }

    /// <summary>Each subscription's first and second periods paid, each deducted once at SandboxPay.</summary>
    static async Task AssertBothPeriodsPaidOnceAsync(KnowPayServer server, List<(string Id, string MandateId)> subs)
    {
        foreach (var (id, mandateId) in subs)
        {
            var invoices = await server.QueryAsync(d => d.Invoices.Where(i => i.SubscriptionId == id).OrderBy(i => i.PeriodStart).ToListAsync());
            Assert.Equal([(T0, InvoiceStatus.Paid), (PeriodEnd, InvoiceStatus.Paid)], invoices.Select(i => (i.PeriodStart, i.Status)));
            Assert.Equal(2, (await SandboxAgreementAsync(server, mandateId))["deductions"]!.AsArray().Count);
        }
    }

    static Task<Invoice> RenewalAsync(KnowPayServer server, string subscriptionId) =>
        server.QueryAsync(d => d.Invoices.Include(i => i.Lines).SingleAsync(i => i.SubscriptionId == subscriptionId && i.PeriodStart == PeriodEnd));

    static Task<long> BalanceAsync(KnowPayServer server, MerchantClient m, string accountPrefix) =>
        server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.StartsWith(accountPrefix)).SumAsync(e => e.Amount));

    static async Task<object?> SqlAsync(Npgsql.NpgsqlConnection connection, string sql)
    {
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
