using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Ledger;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Xunit.Abstractions;

namespace KnowPay.Tests.Reconciliation;

/// <summary>
/// Resolving differences and closing ledger days, over the real server on both databases. Runs and items of the kinds a
/// run produces are written as a run would leave them; each close test has a server of its own, since runs are shared
/// by every merchant of a day.
/// </summary>
[Collection("server")]
public sealed partial class ReconciliationCloseTests(Servers servers, ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Resolve_GrantRestoresAccess_RevokeRemovesIt_AcknowledgeRecordsWho_AndActionsThatDoNotFitAreRefused(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (orderA, paymentA) = await PaidSandboxOrderAsync(m, "learner-a");
        var (orderB, _) = await PaidSandboxOrderAsync(m, "learner-b");
        var entitlementB = await server.QueryAsync(d => d.Entitlements.Where(e => e.OrderId == orderB).Select(e => e.Id).SingleAsync());
        // A's access went missing (revoked with no refund); B's access is to be found without payment.
        await server.QueryAsync(d => d.Entitlements.Where(e => e.OrderId == orderA)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.RevokedAt, DateTime.UtcNow).SetProperty(e => e.RevokedReason, "drift")));
        var run = await AddRunAsync(server, "wechatpay", RandomPastDay(), "completed");
        var missing = await AddItemAsync(server, run, "entitlement_missing", m.MerchantId, orderId: orderA);
        var withoutPayment = await AddItemAsync(server, run, "entitlement_without_payment", m.MerchantId, entitlementId: entitlementB);
        var amountOff = await AddItemAsync(server, run, "amount_mismatch", m.MerchantId, paymentId: paymentA);
        var grantedBefore = await EventsAsync(server, m, "entitlement.granted");

        var granted = await m.PostOkAsync($"/v1/reconciliation/items/{missing}/resolve", new { action = "grant", note = "access restored" });
        Assert.Equal(("grant", "access restored"), ((string?)granted["resolution"], (string?)granted["resolution_note"]));
        Assert.NotNull((string?)granted["resolved_by"]);
        Assert.Null(await server.QueryAsync(d => d.Entitlements.Where(e => e.OrderId == orderA).Select(e => e.RevokedAt).SingleAsync()));
        Assert.Equal(grantedBefore + 1, await EventsAsync(server, m, "entitlement.granted"));
        // The same action again answers the item as it is and grants nothing twice.
        var again = await m.PostOkAsync($"/v1/reconciliation/items/{missing}/resolve", new { action = "grant" });
        Assert.Equal(granted["resolved_at"]!.ToString(), again["resolved_at"]!.ToString());
        Assert.Equal(grantedBefore + 1, await EventsAsync(server, m, "entitlement.granted"));

        var revoked = await m.PostOkAsync($"/v1/reconciliation/items/{withoutPayment}/resolve", new { action = "revoke" });
        Assert.Equal("revoke", (string?)revoked["resolution"]);
        var b = await server.QueryAsync(d => d.Entitlements.SingleAsync(e => e.Id == entitlementB));
        Assert.Equal("reconciliation", b.RevokedReason);
        Assert.NotNull(b.RevokedAt);
        Assert.Equal(1, await EventsAsync(server, m, "entitlement.revoked"));

        await AssertProblemAsync(await m.PostAsync($"/v1/reconciliation/items/{amountOff}/resolve", new { action = "grant" }), 409, "action_not_applicable");
        await AssertProblemAsync(await m.PostAsync($"/v1/reconciliation/items/{amountOff}/resolve", new { action = "revoke" }), 409, "action_not_applicable");
        await AssertProblemAsync(await m.PostAsync($"/v1/reconciliation/items/{amountOff}/resolve", new { action = "fix" }), 400, "action_invalid");
        await AssertProblemAsync(await m.PostAsync($"/v1/reconciliation/items/{amountOff}/resolve", new { action = "acknowledge", note = new string('x', 1001) }), 400, "note_invalid");
        Assert.Null(await server.QueryAsync(d => d.ReconciliationItems.Where(i => i.Id == amountOff).Select(i => i.Resolution).SingleAsync()));
        var other = await server.NewMerchantAsync();
        await AssertProblemAsync(await other.PostAsync($"/v1/reconciliation/items/{amountOff}/resolve", new { action = "acknowledge" }), 404, "reconciliation_item_not_found");

        var acknowledged = await m.PostOkAsync($"/v1/reconciliation/items/{amountOff}/resolve", new { action = "acknowledge", note = "bank rounding" });
        Assert.Equal(("acknowledge", "bank rounding"), ((string?)acknowledged["resolution"], (string?)acknowledged["resolution_note"]));
        await AssertProblemAsync(await m.PostAsync($"/v1/reconciliation/items/{amountOff}/resolve", new { action = "revoke" }), 409, "item_already_resolved");
        await AssertProblemAsync(await m.PostAsync($"/v1/reconciliation/items/{withoutPayment}/resolve", new { action = "acknowledge" }), 409, "item_already_resolved");
        var listed = await m.GetOkAsync($"/v1/reconciliation/runs/{run}/items?limit=100");
        Assert.All(listed["data"]!.AsArray(), i => Assert.NotNull((string?)i!["resolution"]));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Close_RefusedWhileReconciliationIsOpen_ThenItsReportEqualsTheJournals_AndTheClosedDayRefusesABackdatedJournal(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db);
        var m = await server.NewMerchantAsync();
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var day = today.AddDays(-3);
        await PostHistoryAsync(server, m.MerchantId, day);
        var adjusted = await m.PostOkAsync("/v1/ledger/journals", new
        {
            description = "Bank charge booked late", date = Iso(day),
            entries = new object[] { new { account = "platform:revenue:CNY", currency = "CNY", amount = 77 }, new { account = "provider:alipay:clearing:CNY", currency = "CNY", amount = -77 } },
        });
        Assert.Equal(day, DateOnly.FromDateTime(adjusted["created_at"]!.GetValue<DateTime>().ToUniversalTime()));

        var waiting = await AddRunAsync(server, "alipay", day, "waiting");
        await AssertProblemAsync(await m.PostAsync("/v1/ledger/close", new { date = Iso(day), currency = "CNY" }), 409, "reconciliation_incomplete");
        await server.QueryAsync(d => d.ReconciliationRuns.Where(r => r.Id == waiting).ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, "completed")));
        var missing = await AddItemAsync(server, waiting, "missing_at_provider", m.MerchantId, expected: 5000);
        var open = await m.PostAsync("/v1/ledger/close", new { date = Iso(day), currency = "CNY" });
        var problem = await AssertProblemAsync(open, 409, "reconciliation_items_open");
        Assert.Contains(missing, (string?)problem["detail"]);
        Assert.Equal(0, await server.QueryAsync(d => d.LedgerCloses.CountAsync()));
        await AssertProblemAsync(await m.PostAsync("/v1/ledger/close", new { date = Iso(today), currency = "CNY" }), 409, "day_not_over");

        var csv = await m.Http.GetStringAsync($"/v1/reconciliation/runs/{waiting}/items.csv");
        Assert.StartsWith("id,kind,payment_id", csv);
        Assert.Contains($"{missing},missing_at_provider", csv);

        await m.PostOkAsync($"/v1/reconciliation/items/{missing}/resolve", new { action = "acknowledge", note = "provider confirmed by phone" });
        var closed = await m.PostOkAsync("/v1/ledger/close", new { date = Iso(day) });
        var close = Assert.Single(closed["data"]!.AsArray())!.AsObject();
        Assert.Equal(("ledger_close", "CNY", Iso(day)), ((string?)close["object"], (string?)close["currency"], (string?)close["date"]));

        // The report against sums taken here from the entries and their journals' kinds.
        var expected = await IndependentReportAsync(server, m.MerchantId, day);
        var report = close["accounts"]!.AsArray().Select(a => a!.AsObject()).ToDictionary(a => (string)a["account_class"]!,
            a => new[] { "opening", "payments", "refunds", "fees", "payouts", "other", "closing" }.Select(k => (long)a[k]!).ToArray());
        Assert.Equal(expected.Keys.Order(), report.Keys.Order());
        foreach (var (cls, sums) in expected) Assert.Equal(sums, report[cls]);
        Assert.Equal(0, report.Values.Sum(v => v[6]));   // the closing balances of all classes sum to zero: the day balances
        Assert.All([1, 2, 3, 4, 5], column => Assert.Contains(report.Values, v => v[column] != 0));   // every column carries the day's money

        var closedJournal = await m.PostAsync("/v1/ledger/journals", new
        {
            description = "Backdated", date = Iso(day),
            entries = new object[] { new { account = "platform:revenue:CNY", currency = "CNY", amount = 1 }, new { account = "refunds:CNY", currency = "CNY", amount = -1 } },
        });
        await AssertProblemAsync(closedJournal, 409, "period_closed");
        // Any writer: an entry dated into the closed day is refused by the database itself.
        var direct = await Assert.ThrowsAsync<DbUpdateException>(() => server.QueryAsync(async d =>
        {
            d.Journals.Add(Journals.Build(m.MerchantId, "adjustment", "direct-" + Guid.NewGuid(), "direct",
                [new Posting("platform:revenue:CNY", "CNY", 5), new Posting("refunds:CNY", "CNY", -5)], LedgerPeriods.Start(day).AddHours(20)));
            return await d.SaveChangesAsync();
        }));
        Assert.True(LedgerPeriods.IsPeriodClosed(direct));
        Assert.Equal(expected.Values.Sum(v => v[6]), (await IndependentReportAsync(server, m.MerchantId, day)).Values.Sum(v => v[6]));
        await m.PostOkAsync("/v1/ledger/journals", new
        {
            description = "Correction of the closed day", date = Iso(day.AddDays(1)),
            entries = new object[] { new { account = "platform:revenue:CNY", currency = "CNY", amount = 1 }, new { account = "refunds:CNY", currency = "CNY", amount = -1 } },
        });
        var (at, corrects) = await server.QueryAsync(d => LedgerPeriods.PlaceAsync(d, m.MerchantId, ["CNY"], LedgerPeriods.Start(day).AddHours(9), CancellationToken.None));
        Assert.Equal((LedgerPeriods.Start(day.AddDays(1)), (DateOnly?)day), (at, corrects));

        var again = await m.PostOkAsync("/v1/ledger/close", new { date = Iso(day), currency = "CNY" });
        Assert.Equal((string?)close["id"], (string?)again["data"]![0]!["id"]);
        var byDate = await m.GetOkAsync($"/v1/ledger/closes/{Iso(day)}");
        Assert.Equal((string?)close["id"], (string?)byDate["data"]![0]!["id"]);
        var list = await m.GetOkAsync("/v1/ledger/closes");
        Assert.Equal((string?)close["id"], (string?)list["data"]![0]!["id"]);
        Assert.Equal(1, await server.QueryAsync(d => d.LedgerCloses.CountAsync()));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CloseAndBackdatedAdjustments_Concurrently_EachAdjustmentIsRefusedOrInTheReport_NeverPostedAfterIt(Db db)
    {
        await using var server = await KnowPayServer.StartAsync(db);
        var m = await server.NewMerchantAsync();
        // Oldest first: a day's opening balance is every earlier day's, closed before it.
        var days = Enumerable.Range(3, 6).Select(n => DateOnly.FromDateTime(DateTime.UtcNow).AddDays(-n)).Order().ToList();
        var outcomes = new List<(DateOnly Day, int Status, string? Code)>();
        foreach (var day in days)
        {
            // One close and four adjustments into the day, all at once.
            var adjustments = Enumerable.Range(0, 4).Select(i => m.PostAsync("/v1/ledger/journals", new
            {
                description = $"Late bank charge {i}", date = Iso(day),
                entries = new object[] { new { account = "platform:revenue:CNY", currency = "CNY", amount = 10 + i }, new { account = "provider:alipay:clearing:CNY", currency = "CNY", amount = -(10 + i) } },
            })).ToList();
            var close = m.PostAsync("/v1/ledger/close", new { date = Iso(day), currency = "CNY" });
            Assert.True((await close).IsSuccessStatusCode, await (await close).Content.ReadAsStringAsync());
            foreach (var response in await Task.WhenAll(adjustments))
            {
                var text = await response.Content.ReadAsStringAsync();
                outcomes.Add((day, (int)response.StatusCode, (string?)JsonNode.Parse(text)!["code"]));
            }
        }
        Assert.All(outcomes, o => Assert.True(o is (_, 201, _) or (_, 409, LedgerPeriods.ClosedCode), $"{o.Day}: {o.Status} {o.Code}"));

        // Whatever the order, the report of each closed day holds every entry dated in it.
        foreach (var day in days)
        {
            var report = (await m.GetOkAsync($"/v1/ledger/closes/{Iso(day)}"))["data"]![0]!["accounts"]!.AsArray().Select(a => a!.AsObject())
                .ToDictionary(a => (string)a["account_class"]!, a => new[] { "opening", "payments", "refunds", "fees", "payouts", "other", "closing" }.Select(k => (long)a[k]!).ToArray());
            var expected = await IndependentReportAsync(server, m.MerchantId, day);
            Assert.Equal(expected.Keys.Order(), report.Keys.Order());
            foreach (var (cls, sums) in expected) Assert.Equal(sums, report[cls]);
            var accepted = outcomes.Where(o => o.Day == day && o.Status == 201).Count();
            Assert.Equal(accepted, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.CreatedAt >= LedgerPeriods.Start(day) && j.CreatedAt < LedgerPeriods.Start(day.AddDays(1)))));
        }
        output.WriteLine($"{db}: {outcomes.Count(o => o.Status == 201)} adjustments posted before their day's close, {outcomes.Count(o => o.Status == 409)} refused after it");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Close_OfAUtcDay_WaitsForTheNextChinaBillDay_ThatCoversItsLastEightHours_NotForTheNextUtcBill(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var day = RandomPastDay();
        var china = await AddRunAsync(server, "wechatpay", day.AddDays(1), "waiting");   // [day 16:00, day+1 16:00) UTC
        await AddRunAsync(server, "stripe", day.AddDays(1), "waiting");                  // [day+1 00:00, day+2 00:00) UTC: another day
        var refused = await AssertProblemAsync(await m.PostAsync("/v1/ledger/close", new { date = Iso(day), currency = "CNY" }), 409, "reconciliation_incomplete");
        Assert.Contains(china, (string?)refused["detail"]);
        Assert.DoesNotContain("stripe", (string?)refused["detail"]);
        await server.QueryAsync(d => d.ReconciliationRuns.Where(r => r.Id == china).ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, "completed")));
        Assert.Single((await m.PostOkAsync("/v1/ledger/close", new { date = Iso(day), currency = "CNY" }))["data"]!.AsArray());
    }

    [Fact]
    public void CloseReportColumns_FollowTheJournalKind_NotWordsInItsName()
    {
        Assert.Equal("fees", CloseReport.Column("fee_true_up"));
        Assert.Equal(("payments", "refunds"), (CloseReport.Column("payment_confirmed"), CloseReport.Column("refund")));
        Assert.All(["payout", "payout_paid", "payout_failed"], kind => Assert.Equal("payouts", CloseReport.Column(kind)));
        // Kinds whose names merely hold "fee", "refund" or "payout" are no such movement.
        Assert.All(["fee_waiver_adjustment", "coffee", "adjustment", "hold_release", "credit_granted", "credit_applied", "refund_fee_estimate", "payouts_report"],
            kind => Assert.Equal("other", CloseReport.Column(kind)));
    }

    /// <summary>A day of every kind of journal (and one the day before, one the day after), dated as the ledger dates them.</summary>
    internal static async Task PostHistoryAsync(KnowPayServer server, string merchantId, DateOnly day)
    {
        var at = LedgerPeriods.Start(day);
        var split = RevenueSplit.For(10_000, 7000, new ProviderFee(60, 0));
        var money = new Money(10_000, Currency.Of("CNY"));
        var journals = new[]
        {
            Journals.Build(merchantId, "payment_confirmed", "pay_before", "before", Postings.PaymentConfirmed("alipay", "cre_1", money, split), at.AddHours(-3)),
            Journals.Build(merchantId, "payment_confirmed", "pay_1", "p1", Postings.PaymentConfirmed("alipay", "cre_1", money, split), at.AddHours(1)),
            Journals.Build(merchantId, "payment_confirmed", "pay_2", "p2", Postings.PaymentConfirmed("wechatpay", "cre_2", money, split), at.AddHours(2)),
            Journals.Build(merchantId, "refund", "re_1", "r1", Postings.RefundSucceeded("alipay", "cre_1", "CNY", 3_000, 2_100, -7_000), at.AddHours(3)),
            Journals.Build(merchantId, "hold_release", "pay_before", "h", Postings.HoldReleased("cre_1", "CNY", 1_000), at.AddHours(4)),
            Journals.Build(merchantId, "payout", "po_1", "po", Postings.PayoutStarted("cre_1", "CNY", 500), at.AddHours(5)),
            Journals.Build(merchantId, "payout_paid", "po_1", "pp", Postings.PayoutPaid("alipay", "CNY", 500), at.AddHours(6)),
            Journals.Build(merchantId, "fee_true_up", "pay_1", "fee", [new Posting("provider:alipay:fees:CNY", "CNY", 12), new Posting("platform:revenue:CNY", "CNY", -12)], at.AddHours(7)),
            Journals.Build(merchantId, "payment_confirmed", "pay_after", "after", Postings.PaymentConfirmed("alipay", "cre_1", money, split), at.AddDays(1).AddHours(1)),
        };
        await server.QueryAsync(async d =>
        {
            d.Journals.AddRange(journals);
            return await d.SaveChangesAsync();
        });
    }

    /// <summary>Per account class: opening, payments, refunds, fees, payouts, other, closing — computed from the rows, not the report.</summary>
    static async Task<Dictionary<string, long[]>> IndependentReportAsync(KnowPayServer server, string merchantId, DateOnly day)
    {
        var start = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
        var end = start.AddDays(1);
        var rows = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == merchantId && e.Currency == "CNY")
            .Join(d.Journals, e => e.JournalId, j => j.Id, (e, j) => new { e.Account, e.Amount, e.CreatedAt, j.SourceType }).ToListAsync());
        var result = new Dictionary<string, long[]>();
        foreach (var r in rows.Where(r => r.CreatedAt < end))
        {
            var cls = OwnerId().Replace(r.Account[..r.Account.LastIndexOf(':')], "$1");
            var sums = result.TryGetValue(cls, out var s) ? s : result[cls] = new long[7];
            var column = r.CreatedAt < start ? 0 : r.SourceType switch
            {
                "payment_confirmed" => 1, "refund" => 2, "fee_true_up" => 3, "payout" or "payout_paid" or "payout_failed" => 4, _ => 5,
            };
            sums[column] += r.Amount;
            sums[6] += r.Amount;
        }
        return result;
    }

    [GeneratedRegex("^(creator|customer):[^:]+")]
    private static partial Regex OwnerId();

    static async Task<(string OrderId, string PaymentId)> PaidSandboxOrderAsync(MerchantClient m, string customer)
    {
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, customer: customer);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return ((string)order["id"]!, (string)payment["id"]!);
    }

    internal static async Task<string> AddRunAsync(KnowPayServer server, string provider, DateOnly day, string status)
    {
        var run = new ReconciliationRun { Id = Ids.New("rec"), Provider = provider, Day = day, Status = status, CreatedAt = DateTime.UtcNow, Attempts = 1 };
        await server.QueryAsync(async d => { d.ReconciliationRuns.Add(run); return await d.SaveChangesAsync(); });
        return run.Id;
    }

    internal static async Task<string> AddItemAsync(KnowPayServer server, string runId, string kind, string merchantId, string? paymentId = null,
        string? orderId = null, string? entitlementId = null, long expected = 9900, long bill = 9800)
    {
        var item = new ReconciliationItem
        {
            Id = Ids.New("rci"), RunId = runId, Kind = kind, MerchantId = merchantId, PaymentId = paymentId, OrderId = orderId, EntitlementId = entitlementId,
            LineKey = "payment:" + (paymentId ?? orderId ?? entitlementId ?? Guid.NewGuid().ToString()), ExpectedAmount = expected, BillAmount = bill,
            Currency = "CNY", CreatedAt = DateTime.UtcNow,
        };
        await server.QueryAsync(async d => { d.ReconciliationItems.Add(item); return await d.SaveChangesAsync(); });
        return item.Id;
    }

    static Task<int> EventsAsync(KnowPayServer server, MerchantClient m, string type) =>
        server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == type));

    static async Task<JsonObject> AssertProblemAsync(HttpResponseMessage response, int status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status} {code}, got {(int)response.StatusCode}: {text}");
        var problem = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(code, (string?)problem["code"]);
        return problem;
    }

    static DateOnly RandomPastDay() => new DateOnly(2020, 1, 1).AddDays(Random.Shared.Next(0, 1500));

    internal static string Iso(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
