using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Reconciliation.BillDiscrepancyTests;

namespace KnowPay.Tests.Reconciliation;

/// <summary>
/// A refund line's fee on the bill is the fee the provider gave back; the ledger's refund journal gives none back. A bill
/// that says otherwise is a fee_mismatch of the refund, trued up by one journal so the ledger carries the real fee.
/// </summary>
[Collection("server")]
public sealed class RefundFeeTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite, "sandbox")]
    [InlineData(Db.Sqlite, "paypal")]
    [InlineData(Db.Postgres, "sandbox")]
    [InlineData(Db.Postgres, "paypal")]
    public async Task RefundLine_GivingBackAFee_IsOneFeeMismatchOfTheRefund_TruedUpOnce_AndTheBooksBalance(Db db, string provider)
    {
        var server = await servers.Get(db);
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var paid = await PaidAsync(server, m, provider, Price);
        var refund = await RefundAsync(m, paid, 2345);
        var day = await DayOfAsync(server, provider, paid);
        var currency = provider == "paypal" ? "USD" : "CNY";
        var feesBefore = await FeesAsync(server, m, provider, currency);
        // Left set: the day's bill stays as the provider issued it for every later run of this shared server's day.
        faults.Set(paid, new FaultSettings(BillRefundFeeDelta: 29));
        for (var i = 0; i < 2; i++)
        {
            var run = await m.PostOkAsync("/v1/reconciliation/runs", new { provider, date = Date(day) });
            Assert.True((string?)run["status"] == "completed", (string?)run["reason"]);
            var item = Assert.Single(await MineAsync(m, [run], [paid], []));   // no ledger difference once trued up
            Assert.Equal(("fee_mismatch", "refund:" + refund, refund, "trued_up", 0L, 29L),
                ((string?)item["kind"], (string?)item["line_key"], (string?)item["refund_id"], (string?)item["resolution"],
                 (long)item["expected_amount"]!, (long)item["bill_amount"]!));
            var journal = await m.GetOkAsync($"/v1/ledger/journals/{item["journal_id"]}");
            Assert.Equal(("fee_true_up", refund, paid), ((string?)journal["source_type"], (string?)journal["source_id"], (string?)journal["payment_id"]));
            // The fee given back lowers the fee the merchant bears, and the platform's revenue carries it.
            Assert.Equal([($"platform:revenue:{currency}", -29L), ($"provider:{provider}:fees:{currency}", 29L)],
                journal["entries"]!.AsArray().Select(e => ((string)e!["account"]!, (long)e["amount"]!)).Order());
        }
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "fee_true_up")));
        Assert.Equal(feesBefore + 29, await FeesAsync(server, m, provider, currency));
        var trial = await m.GetOkAsync("/v1/ledger/trial-balance");
        Assert.True((bool)trial["balanced"]!);
        Assert.All(trial["currencies"]!.AsArray(), c => Assert.Equal(0, (long)c!["total"]!));
    }

    static Task<long> FeesAsync(KnowPayServer server, MerchantClient m, string provider, string currency) =>
        server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account == $"provider:{provider}:fees:{currency}")
            .SumAsync(e => e.Amount));
}
