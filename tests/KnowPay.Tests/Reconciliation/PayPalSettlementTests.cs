using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using KnowPay.Features.Reconciliation;
using KnowPay.Sandbox;
using KnowPay.Sandbox.PayPal;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Reconciliation.BillDiscrepancyTests;

namespace KnowPay.Tests.Reconciliation;

/// <summary>
/// PayPal's settlement report end to end: the sandbox's STL file built from its own captures and refunds, fetched over HTTP
/// from the report drop's mirror, parsed and matched; a file cut short or not there yet fails or waits, and is tried again.
/// </summary>
[Collection("server")]
public sealed class PayPalSettlementTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StlFile_OfUsdAndJpyPaymentsAndARefund_IsRealShaped_AndItsDayReconcilesWithNoDifference(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var usd = await PaidAsync(server, m, "paypal", Price);
        var jpy = await PaidInJpyAsync(server, m, 500);
        var refund = await RefundAsync(m, usd, 2345);
        var day = await DayOfAsync(server, "paypal", usd);

        var response = await server.Anonymous.GetAsync($"/sandbox/paypal/reports/STL-{day:yyyyMMdd}.01.008.CSV");
        Assert.Equal("text/csv; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = new UTF8Encoding(false, true).GetString(await response.Content.ReadAsByteArrayAsync());
        var rows = text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["RH", "FH", "SH", "CH", "SB", "SF", "SC", "RF", "RC", "FF", "FC"], rows.Select(r => r.Split(',')[0].Trim('"')).Distinct());
        // Amounts unquoted, unsigned, in minor units: 123.45 USD is 12345, 500 JPY is 500; the refund a debit naming our refund.
        Assert.Contains(rows, r => r.StartsWith("\"SB\"", StringComparison.Ordinal) && r.Contains($",\"T0006\",", StringComparison.Ordinal) &&
            r.Contains($",\"CR\",{Price},\"USD\",\"DR\",", StringComparison.Ordinal) && r.Contains($",\"{usd}\",", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Contains(",\"CR\",500,\"JPY\",", StringComparison.Ordinal) && r.Contains($",\"{jpy}\",", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Contains(",\"T1107\",", StringComparison.Ordinal) && r.Contains(",\"DR\",2345,\"USD\",", StringComparison.Ordinal) &&
            r.Contains($",\"{refund}\",", StringComparison.Ordinal));

        var run = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "paypal", date = Date(day) });
        Assert.True((string?)run["status"] == "completed", (string?)run["reason"]);
        Assert.Empty(await MineAsync(m, [run], [usd, jpy], []));
        Assert.Equal(new[] { ("payment:" + jpy, 500L, "JPY"), ("payment:" + usd, Price, "USD"), ("refund:" + refund, 2345L, "USD") }.OrderBy(l => l.Item1, StringComparer.Ordinal),
            (await server.QueryAsync(d => d.BillLines.Where(l => l.Provider == "paypal" && (l.OutTradeNo == usd || l.OutTradeNo == jpy)).ToListAsync()))
            .Select(l => (l.Key, l.Amount, l.Currency)).OrderBy(l => l.Key, StringComparer.Ordinal));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StlFile_CutShort_FailsTheRunWithReasonAndLine_NotThereYet_Waits_AndBothAreTriedAgain(Db db)
    {
        var server = await servers.Get(db);
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var paid = await PaidAsync(server, m, "paypal", Price);
        var day = await DayOfAsync(server, "paypal", paid);
        var key = SandboxBills.FaultKey("paypal", "stl", day);
        JsonObject failed, waiting;
        string corrupt;
        try
        {
            faults.Set(key, new FaultSettings(BillCorrupt: true));
            corrupt = await server.Anonymous.GetStringAsync($"/sandbox/paypal/reports/STL-{day:yyyyMMdd}.01.008.CSV");
            failed = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "paypal", date = Date(day) });
            faults.Set(key, new FaultSettings(BillNotReady: true));
            waiting = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "paypal", date = Date(day) });
        }
        finally
        {
            faults.Set(key, new FaultSettings());
        }
        // The file ends inside its last transaction row: that row is the line the run names.
        Assert.False(corrupt.EndsWith("\r\n", StringComparison.Ordinal));
        Assert.Equal(("failed", corrupt.Split("\r\n").Length), ((string?)failed["status"], (int?)failed["failed_line"]));
        Assert.Contains("fields", (string?)failed["reason"]);
        Assert.Equal(("waiting", (int?)null), ((string?)waiting["status"], (int?)waiting["failed_line"]));
        Assert.Contains("not on the report drop yet", (string?)waiting["reason"]);

        var retried = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "paypal", date = Date(day) });
        Assert.Equal(((string?)failed["id"], "completed", (int)failed["attempts"]! + 2), ((string?)retried["id"], (string?)retried["status"], (int)retried["attempts"]!));
        Assert.Empty(await MineAsync(m, [retried], [paid], []));
        Assert.Equal(1, await server.QueryAsync(d => d.BillLines.CountAsync(l => l.Provider == "paypal" && l.Key == "payment:" + paid)));
    }

    static readonly string[] Currencies = ["CNY", "USD", "JPY"];

    [Fact]
    public void Stl_OfRandomCnyUsdJpyPaymentsAndRefunds_ParsesBackToTheSameMinorUnits() =>
        Gen.Select(Gen.Long[1, 999_999_999_999], Gen.Long[0, 99_999], Gen.Int[0, 2], Gen.Bool).Array[1, 20].Sample(rows =>
        {
            var lines = PayPalSettlementReport.Parse(Stl(rows.Select((r, i) => StlRow(i, r.Item4, r.Item1, Currencies[r.Item3], r.Item2)).ToArray()));
            return lines.Select(l => (l.Amount, l.Fee, l.Currency, l.Kind == BillLineKind.Refund))
                .SequenceEqual(rows.Select(r => (r.Item1, r.Item2, Currencies[r.Item3], r.Item4)));
        });

    [Fact]
    public void Stl_Malformed_MissingColumn_RowCutShort_TotalsOrCountOff_FeeTheWrongWay_AreErrorsWithTheirLine()
    {
        var good = Stl(StlRow(0, false, 12345, "USD", 389), StlRow(1, true, 2345, "USD", 0));
        Assert.Equal(2, PayPalSettlementReport.Parse(good).Count);

        var missing = Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good.Replace("\"Fee Amount\"", "\"Fee\"", StringComparison.Ordinal)));
        Assert.Equal(("missing column Fee Amount", 4), (missing.Reason, missing.Line));
        var cut = good[..good.IndexOf("\"SF\"", StringComparison.Ordinal)].TrimEnd()[..^6];
        var cutShort = Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(cut));
        Assert.Equal((6, "16 fields, the header has 18"), (cutShort.Line, cutShort.Reason));
        var totals = Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good.Replace("\"SF\",\"USD\",12345,", "\"SF\",\"USD\",12344,", StringComparison.Ordinal)));
        Assert.Equal(7, totals.Line);
        Assert.Contains("do not add up", totals.Reason);
        var count = Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good.Replace("\"SC\",2", "\"SC\",3", StringComparison.Ordinal)));
        Assert.Equal((8, true), (count.Line, count.Reason.Contains("truncated", StringComparison.Ordinal)));
        var fee = Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good.Replace(",\"DR\",389,", ",\"CR\",389,", StringComparison.Ordinal)
            .Replace("\"SF\",\"USD\",12345,2345,0,389", "\"SF\",\"USD\",12345,2345,389,0", StringComparison.Ordinal)));
        Assert.Equal((5, "T0006's fee is CR, expected DR"), (fee.Line, fee.Reason));
        Assert.Contains("truncated", Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good[..good.IndexOf("\"RF\"", StringComparison.Ordinal)])).Reason);
    }

    /// <summary>A report as the sandbox (and PayPal) lays it out: headers, the CH row, the rows, then per-currency totals and counts.</summary>
    static string Stl(params (string Row, string Currency, long GrossCr, long GrossDr, long FeeCr, long FeeDr)[] rows)
    {
        var sb = new StringBuilder("\"RH\",2026/12/03 04:00:00 +0000,\"A\",\"SANDBOXMERCHANT1\",008\r\n\"FH\",01\r\n")
            .Append("\"SH\",2026/12/02 00:00:00 +0000,2026/12/02 23:59:59 +0000,\"SANDBOXMERCHANT1\",\"\"\r\n")
            .Append(PayPalSimulator.StlColumns).Append("\r\n");
        foreach (var r in rows) sb.Append(r.Row).Append("\r\n");
        var totals = rows.GroupBy(r => r.Currency).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        foreach (var g in totals)
            sb.Append(CultureInfo.InvariantCulture, $"\"SF\",\"{g.Key}\",{g.Sum(r => r.GrossCr)},{g.Sum(r => r.GrossDr)},{g.Sum(r => r.FeeCr)},{g.Sum(r => r.FeeDr)}\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"\"SC\",{rows.Length}\r\n");
        foreach (var g in totals)
            sb.Append(CultureInfo.InvariantCulture, $"\"RF\",\"{g.Key}\",{g.Sum(r => r.GrossCr)},{g.Sum(r => r.GrossDr)},{g.Sum(r => r.FeeCr)},{g.Sum(r => r.FeeDr)},\"CR\",0,\"CR\",0\r\n");
        return sb.Append(CultureInfo.InvariantCulture, $"\"RC\",{rows.Length}\r\n\"FF\"\r\n\"FC\",{rows.Length}\r\n").ToString();
    }

    static (string Row, string Currency, long GrossCr, long GrossDr, long FeeCr, long FeeDr) StlRow(int i, bool refund, long amount, string currency, long fee)
    {
        var (code, dc, feeDc, invoice) = refund ? ("T1107", "DR", "CR", $"re_{i}") : ("T0006", "CR", "DR", $"pay_{i}");
        var row = string.Create(CultureInfo.InvariantCulture,
            $"\"SB\",\"{i}TX585209K746392\",\"{invoice}\",\"8MC585209K746392H\",\"TXN\",\"{code}\",2026/12/02 10:00:00 +0000,2026/12/02 10:00:01 +0000,\"{dc}\",{amount},\"{currency}\",\"{feeDc}\",{fee},\"{currency}\",\"pay_{i}\",\"buyer@example.com\",\"\",\"\"");
        return refund ? (row, currency, 0, amount, fee, 0) : (row, currency, amount, 0, 0, fee);
    }

    static async Task<string> PaidInJpyAsync(KnowPayServer server, MerchantClient m, long yen)
    {
        var (_, productId) = await m.CourseAsync(7000, (yen, "JPY"));
        var order = await m.OrderAsync(productId, "JPY");
        var payment = await m.PaymentAsync((string)order["id"]!, "paypal", "page");
        var approved = await server.Anonymous.PostAsync($"/sandbox/paypal/checkoutnow/{payment["provider_trade_no"]}/approve", null);
        Assert.True(approved.IsSuccessStatusCode, await approved.Content.ReadAsStringAsync());
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return (string)payment["id"]!;
    }
}
