using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Infrastructure;
using KnowPay.Sandbox;
using KnowPay.Sandbox.SandboxPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Ledger;

[Collection("server")]
public sealed class LedgerApiTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PaymentsHoldReleaseAndPayout_BalancesStatementTrialBalanceAndInvariants_AgreeWithTheEntries(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        await PaidAsync(m, productId, "learner-1");
        await PaidAsync(m, productId, "learner-2");

        await AssertBalancesAsync(m, creatorId, pending: 13860, available: 0);
        Assert.True(await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(6)) >= 0);
        await AssertBalancesAsync(m, creatorId, pending: 13860, available: 0);   // the refund window is not over
        Assert.True(await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8)) >= 2);
        await AssertBalancesAsync(m, creatorId, pending: 0, available: 13860);
        Assert.Equal(0, await ReleasesOfAsync(server, m) - 2);
        await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(9));   // idempotent: one journal per payment
        Assert.Equal(2, await ReleasesOfAsync(server, m));

        var batch = await m.PostOkAsync("/v1/payouts/batches", new { currency = "CNY", minimum_amount = 100 }, "batch-" + Guid.NewGuid());
        var payout = Assert.Single(batch["payouts"]!.AsArray())!.AsObject();
        Assert.Equal(13860, (long)payout["amount"]!);
        Assert.Equal(creatorId, (string?)payout["creator_id"]);
        var payoutId = (string)payout["id"]!;
        Assert.StartsWith("po_", payoutId);
        var paid = await WaitForPayoutAsync(m, payoutId, "paid");
        Assert.NotNull((string?)paid["provider_transfer_no"]);
        await AssertBalancesAsync(m, creatorId, pending: 0, available: 0);

        // Statement: every creator entry, newest first, paged by cursor; sums and running balances match the balances.
        var lines = new List<JsonObject>();
        string? cursor = null;
        do
        {
            var page = await m.GetOkAsync($"/v1/creators/{creatorId}/statement?limit=3" + (cursor is null ? "" : $"&starting_after={cursor}"));
            lines.AddRange(page["data"]!.AsArray().Select(x => x!.AsObject()));
            cursor = (bool)page["has_more"]! ? (string?)page["next_cursor"] : null;
        } while (cursor is not null);
        Assert.Equal(7, lines.Count);   // 2 payments, 2 releases × 2 lines, 1 payout
        Assert.Equal(lines.Count, lines.Select(l => (string?)l["id"]).Distinct().Count());
        Assert.Equal(0, lines.Where(l => (string?)l["balance"] == "pending").Sum(l => (long)l["amount"]!));
        Assert.Equal(0, lines.Where(l => (string?)l["balance"] == "available").Sum(l => (long)l["amount"]!));
        Assert.Equal("payout", (string?)lines[0]["source_type"]);
        Assert.Equal(-13860, (long)lines[0]["amount"]!);
        Assert.Equal(0, (long)lines[0]["balance_after"]!);
        Assert.Equal(13860, (long)lines.First(l => (string?)l["balance"] == "available" && (string?)l["source_type"] == "hold_release")["balance_after"]!);
        var creatorEntries = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account.StartsWith($"creator:{creatorId}:")).ToListAsync());
        Assert.Equal(creatorEntries.Select(e => -e.Amount).Order(), lines.Select(l => (long)l["amount"]!).Order());

        // Trial balance: every account, zero per currency; the payout was paid out of the provider's clearing.
        var trial = await m.GetOkAsync("/v1/ledger/trial-balance");
        Assert.True((bool)trial["balanced"]!);
        var cny = Assert.Single(trial["currencies"]!.AsArray())!;
        Assert.Equal(0, (long)cny["total"]!);
        var accounts = cny["accounts"]!.AsArray().ToDictionary(a => (string)a!["account"]!, a => (long)a!["amount"]!);
        Assert.Equal(19800 - 13860, accounts["provider:sandbox:clearing:CNY"]);
        Assert.Equal(-5940, accounts["platform:revenue:CNY"]);
        Assert.Equal(0, accounts["payouts:in_transit:CNY"]);
        Assert.Equal(0, accounts[$"creator:{creatorId}:pending:CNY"]);
        Assert.Equal(0, accounts[$"creator:{creatorId}:available:CNY"]);
        var all = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        Assert.Equal(all.GroupBy(e => e.Account).ToDictionary(g => g.Key, g => g.Sum(e => e.Amount)), accounts);

        // The payout's journals, by id.
        var journalIds = await server.QueryAsync(d => d.Journals.Where(j => j.MerchantId == m.MerchantId && j.SourceId == payoutId)
            .OrderBy(j => j.Id).Select(j => j.Id).ToListAsync());
        Assert.Equal(2, journalIds.Count);
        var started = await m.GetOkAsync($"/v1/ledger/journals/{journalIds[0]}");
        Assert.Equal("payout", (string?)started["source_type"]);
        Assert.Equal(new Dictionary<string, long> { [$"creator:{creatorId}:available:CNY"] = 13860, ["payouts:in_transit:CNY"] = -13860 },
            started["entries"]!.AsArray().ToDictionary(e => (string)e!["account"]!, e => (long)e!["amount"]!));
        var settled = await m.GetOkAsync($"/v1/ledger/journals/{journalIds[1]}");
        Assert.Equal("payout_paid", (string?)settled["source_type"]);
        Assert.Equal(new Dictionary<string, long> { ["payouts:in_transit:CNY"] = 13860, ["provider:sandbox:clearing:CNY"] = -13860 },
            settled["entries"]!.AsArray().ToDictionary(e => (string)e!["account"]!, e => (long)e!["amount"]!));

        var check = await m.PostOkAsync("/v1/ledger/invariants/check", new { });
        Assert.True((bool)check["passed"]!, check.ToJsonString());
        Assert.Equal(["journals_balance", "trial_balance_zero", "balances_in_range", "payment_clearing_matches", "payment_split_sums"],
            check["checks"]!.AsArray().Select(c => (string)c!["name"]!).ToArray());
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "payout.paid")));
        var listed = await m.GetOkAsync($"/v1/payouts?batch_id={batch["id"]}");
        Assert.Equal(payoutId, (string?)Assert.Single(listed["data"]!.AsArray())!["id"]);

        // A second batch finds nothing left to pay.
        var again = await m.PostOkAsync("/v1/payouts/batches", new { currency = "CNY", minimum_amount = 1 }, "batch-" + Guid.NewGuid());
        Assert.Empty(again["payouts"]!.AsArray());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ReplayedPayoutNotification_PostsNothingNew_AndAForgedOneIsRefused(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(5000, (2000, "JPY"));
        await PaidAsync(m, productId, "learner-1", "JPY");
        await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8));
        var batch = await m.PostOkAsync("/v1/payouts/batches", new { currency = "JPY" }, "batch-" + Guid.NewGuid());
        var payout = Assert.Single(batch["payouts"]!.AsArray())!.AsObject();
        var payoutId = (string)payout["id"]!;
        Assert.Equal(1000, (long)payout["amount"]!);
        var paid = await WaitForPayoutAsync(m, payoutId, "paid");
        await Task.Delay(200);   // let the sandbox's own notification land too
        var journals = await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId));
        var entries = await server.QueryAsync(d => d.LedgerEntries.CountAsync(e => e.MerchantId == m.MerchantId));

        var success = TransferNotification("transfer.succeeded", payoutId, (string)paid["provider_transfer_no"]!, "SUCCESS", 1000, "JPY");
        var replies = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => server.PostSandboxPayAsync("/v1/notify/sandbox-transfers", success)));
        Assert.All(replies, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var failure = TransferNotification("transfer.failed", payoutId, (string)paid["provider_transfer_no"]!, "FAILED", 1000, "JPY");
        Assert.Equal(HttpStatusCode.OK, (await server.PostSandboxPayAsync("/v1/notify/sandbox-transfers", failure)).StatusCode);
        var forged = await server.PostSandboxPayAsync("/v1/notify/sandbox-transfers", failure, HmacSignature.Sign("not-the-secret", failure, DateTimeOffset.UtcNow));
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        var wrongAmount = TransferNotification("transfer.failed", payoutId, "x", "FAILED", 999, "JPY");
        Assert.Equal(HttpStatusCode.BadRequest, (await server.PostSandboxPayAsync("/v1/notify/sandbox-transfers", wrongAmount)).StatusCode);

        Assert.Equal(journals, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(entries, await server.QueryAsync(d => d.LedgerEntries.CountAsync(e => e.MerchantId == m.MerchantId)));
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/payouts/{payoutId}"))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type.StartsWith("payout."))));
        await AssertBalancesAsync(m, creatorId, pending: 0, available: 0, "JPY");
        Assert.True((bool)(await m.PostOkAsync("/v1/ledger/invariants/check", new { }))["passed"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task FailedTransfer_ReturnsTheMoneyToAvailable_OnceAndEmitsPayoutFailed(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (1500, "USD"));
        await PaidAsync(m, productId, "learner-1", "USD");
        await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8));
        server.Services.GetRequiredService<SandboxPayTransfers>().FailPayee(creatorId, "payee_account_closed");
        var batch = await m.PostOkAsync("/v1/payouts/batches", new { currency = "USD", minimum_amount = 1000 }, "batch-" + Guid.NewGuid());
        var payoutId = (string)Assert.Single(batch["payouts"]!.AsArray())!["id"]!;
        var failed = await WaitForPayoutAsync(m, payoutId, "failed");
        Assert.Equal("payee_account_closed", (string?)failed["failure_code"]);
        await AssertBalancesAsync(m, creatorId, pending: 0, available: 1050, "USD");

        // The sync job asks again (the sandbox answers FAILED again): nothing more is posted.
        var journals = await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId));
        await server.RunJobAsync("payout_sync", DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(journals, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "payout.failed")));
        Assert.True((bool)(await m.PostOkAsync("/v1/ledger/invariants/check", new { }))["passed"]!);

        // Below the threshold nobody is paid; bad input is a 4xx.
        var none = await m.PostOkAsync("/v1/payouts/batches", new { currency = "USD", minimum_amount = 5000 }, "batch-" + Guid.NewGuid());
        Assert.Empty(none["payouts"]!.AsArray());
        var bad = await m.PostAsync("/v1/payouts/batches", new { currency = "XXX1", minimum_amount = 1 }, "batch-" + Guid.NewGuid());
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task LedgerEntriesAndJournals_UpdateAndDelete_AreRefusedByTheDatabase(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        await PaidAsync(m, productId, "learner-1");
        var merchant = m.MerchantId;

        async Task Refused(Func<KnowPayDb, Task<int>> statement)
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(() => server.QueryAsync(statement));
            Assert.Contains("ledger is append-only", e.Message);
        }
        await Refused(d => d.Database.ExecuteSqlAsync($"UPDATE ledger_entries SET amount = amount + 1 WHERE merchant_id = {merchant}"));
        await Refused(d => d.Database.ExecuteSqlAsync($"DELETE FROM ledger_entries WHERE merchant_id = {merchant}"));
        await Refused(d => d.Database.ExecuteSqlAsync($"UPDATE ledger_journals SET description = 'edited' WHERE merchant_id = {merchant}"));
        await Refused(d => d.Database.ExecuteSqlAsync($"DELETE FROM ledger_journals WHERE merchant_id = {merchant}"));
        if (db == Db.Postgres) await Refused(d => d.Database.ExecuteSqlRawAsync("TRUNCATE ledger_entries"));

        var entries = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == merchant).ToListAsync());
        Assert.Equal(3, entries.Count);
        Assert.Equal(0, entries.Sum(e => e.Amount));
        Assert.Contains(entries, e => e.Amount == 9900);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == merchant && j.Description != "edited")));
    }

    static async Task<string> PaidAsync(MerchantClient m, string productId, string customer, string currency = "CNY")
    {
        var order = await m.OrderAsync(productId, currency, customer);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return (string)payment["id"]!;
    }

    static async Task AssertBalancesAsync(MerchantClient m, string creatorId, long pending, long available, string currency = "CNY")
    {
        var view = await m.GetOkAsync($"/v1/creators/{creatorId}/balances");
        var balance = view["balances"]!.AsArray().Single(b => (string?)b!["currency"] == currency)!;
        Assert.Equal((pending, available), ((long)balance["pending"]!, (long)balance["available"]!));
        var entries = await m.Server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Currency == currency).ToListAsync());
        Assert.Equal(pending, -entries.Where(e => e.Account == $"creator:{creatorId}:pending:{currency}").Sum(e => e.Amount));
        Assert.Equal(available, -entries.Where(e => e.Account == $"creator:{creatorId}:available:{currency}").Sum(e => e.Amount));
    }

    static Task<int> ReleasesOfAsync(KnowPayServer server, MerchantClient m) =>
        server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "hold_release"));

    static async Task<JsonObject> WaitForPayoutAsync(MerchantClient m, string payoutId, string status, int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        JsonObject payout;
        do
        {
            payout = await m.GetOkAsync($"/v1/payouts/{payoutId}");
            if ((string?)payout["status"] == status) return payout;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"payout {payoutId} is {(string?)payout["status"]}, not {status}, after {timeoutMs} ms");
        return payout;
    }

    static string TransferNotification(string type, string payoutId, string transferNo, string status, long amount, string currency) =>
        System.Text.Json.JsonSerializer.Serialize(new
        {
            id = "ntf_replay", type,
            data = new { transfer_no = transferNo, out_transfer_no = payoutId, status, amount, currency, failure_code = status == "FAILED" ? "x" : null },
        });
}
