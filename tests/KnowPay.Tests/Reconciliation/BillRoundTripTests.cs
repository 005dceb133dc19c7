using System.Globalization;
using System.IO.Compression;
using System.Text;
using CsCheck;
using KnowPay.Domain;
using KnowPay.Features.Reconciliation;

namespace KnowPay.Tests.Reconciliation;

/// <summary>Amounts written into a bill the way each provider writes them come back as the same minor units.</summary>
public sealed class BillRoundTripTests
{
    static readonly string[] Currencies = ["CNY", "USD", "JPY", "KWD"];

    static string Major(long minor, string currency) =>
        new Money(minor, Currency.Of(currency)).ToDecimal().ToString("F" + Currency.Of(currency).MinorUnits, CultureInfo.InvariantCulture);

    [Fact]
    public void MajorUnitText_ParsesBackToTheSameMinorUnits_ForCnyUsdJpyKwd() =>
        Gen.Select(Gen.Long[0, 999_999_999_999], Gen.Int[0, 3]).Sample((minor, c) =>
            BillAmounts.MinorUnits(Major(minor, Currencies[c]), Currencies[c], 1, "x") == minor);

    [Fact]
    public void AlipayBill_OfRandomYuanAmounts_RoundTrips() =>
        Gen.Long[1, 99_999_999_999].Array[1, 20].Sample(amounts =>
        {
            var gbk = CodePagesEncodingProvider.Instance.GetEncoding("GBK")!;
            var csv = new StringBuilder("#支付宝业务明细查询\r\n支付宝交易号,商户订单号,业务类型,完成时间,订单金额（元）,服务费（元）,退款批次号/请求号\r\n");
            for (var i = 0; i < amounts.Length; i++)
                csv.Append(CultureInfo.InvariantCulture, $"2026{i}\t,pay_{i}\t,交易,2026-12-02 10:00:00,{Major(amounts[i], "CNY")},0.00,\r\n");
            csv.Append("#导出时间：[2026年12月03日 09:00:00]");
            var zip = new MemoryStream();
            using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
            using (var s = archive.CreateEntry("x_20261202_业务明细.csv").Open()) s.Write(gbk.GetBytes(csv.ToString()));
            return AlipayBill.ParseZip(zip.ToArray()).Select(l => l.Amount).SequenceEqual(amounts);
        });

    [Fact]
    public void WeChatPayBill_OfRandomYuanAmounts_RoundTrips_WithItsTotals() =>
        Gen.Long[1, 99_999_999_999].Array[1, 20].Sample(amounts =>
        {
            var text = new StringBuilder("\uFEFF交易时间,微信订单号,商户订单号,交易状态,货币种类,应结订单金额,手续费,订单金额\r\n");
            for (var i = 0; i < amounts.Length; i++)
                text.Append(CultureInfo.InvariantCulture, $"`2026-12-02 10:00:00,`42{i},`pay_{i},`SUCCESS,`CNY,`{Major(amounts[i], "CNY")},`0.00,`{Major(amounts[i], "CNY")}\r\n");
            text.Append("总交易单数,应结订单总金额,手续费总金额,订单总金额\r\n")
                .Append(CultureInfo.InvariantCulture, $"`{amounts.Length},`{Major(amounts.Sum(), "CNY")},`0.00,`{Major(amounts.Sum(), "CNY")}\r\n");
            return WeChatPayBill.Parse(text.ToString()).Select(l => l.Amount).SequenceEqual(amounts);
        });

    const string StlColumns = "\"CH\",\"Transaction ID\",\"Invoice ID\",\"PayPal Reference ID\",\"PayPal Reference ID Type\",\"Transaction Event Code\",\"Transaction Initiation Date\",\"Transaction Completion Date\",\"Transaction Debit or Credit\",\"Gross Transaction Amount\",\"Gross Transaction Currency\",\"Fee Debit or Credit\",\"Fee Amount\",\"Fee Currency\",\"Custom Field\",\"Consumer ID\"";

    static string Stl(params string[] rows) =>
        "\"RH\",2026/12/03 04:00:00 -0800,\"A\",\"MERCHANT123\",008\r\n\"FH\",01\r\n\"SH\",2026/12/02 00:00:00 -0800,2026/12/02 23:59:59 -0800,\"MERCHANT123\",\"\"\r\n" +
        StlColumns + "\r\n" + string.Concat(rows.Select(r => r + "\r\n")) +
        $"\"SF\",\"USD\"\r\n\"SC\",{rows.Length}\r\n\"RF\",\"USD\"\r\n\"RC\",{rows.Length}\r\n\"FF\"\r\n\"FC\",{rows.Length}\r\n";

    static string StlRow(string txn, string invoice, string reference, string code, string dc, long gross, string currency, long fee, string custom) =>
        $"\"SB\",\"{txn}\",\"{invoice}\",\"{reference}\",\"TXN\",\"{code}\",\"2026/12/02 10:00:00 -0800\",\"2026/12/02 10:00:01 -0800\",\"{dc}\",\"{gross}\",\"{currency}\",\"DR\",\"{fee}\",\"{currency}\",\"{custom}\",\"buyer@example.com\"";

    [Fact]
    public void PayPalStl_PaymentAndRefund_UnsignedMinorUnits_ByTCode()
    {
        var lines = PayPalSettlementReport.Parse(Stl(
            StlRow("8MC585209K746392H", "", "", "T0006", "CR", 12345, "USD", 389, "pay_01"),
            StlRow("1JU08902781691411", "re_01", "8MC585209K746392H", "T1107", "DR", 2345, "USD", 0, "pay_01"),
            StlRow("9XY", "", "", "T0400", "DR", 10000, "USD", 0, "withdrawal"),
            StlRow("2AB", "", "", "T0006", "CR", 500, "JPY", 0, "pay_02")));
        Assert.Equal(3, lines.Count);
        Assert.Equal((BillLineKind.Payment, "pay_01", (string?)null, 12345L, 389L, "USD"),   // no order (ODR) reference to compare
            (lines[0].Kind, lines[0].OutTradeNo, lines[0].ProviderTradeNo, lines[0].Amount, lines[0].Fee, lines[0].Currency));
        Assert.Equal((BillLineKind.Refund, "re_01", 2345L), (lines[1].Kind, lines[1].OutRefundNo, lines[1].Amount));
        Assert.Equal((500L, "JPY"), (lines[2].Amount, lines[2].Currency));
        Assert.Equal(new DateTime(2026, 12, 2, 18, 0, 1, DateTimeKind.Utc), lines[0].At);
    }

    [Fact]
    public void PayPalStl_TruncatedFile_DecimalAmount_MissingColumn_AreErrors()
    {
        var good = Stl(StlRow("8MC", "", "", "T0006", "CR", 12345, "USD", 0, "pay_01"));
        Assert.Contains("truncated", Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good[..good.IndexOf("\"SF\"", StringComparison.Ordinal)])).Reason);
        Assert.Equal(5, Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good.Replace("\"12345\"", "\"123.45\"", StringComparison.Ordinal))).Line);
        Assert.Contains("Custom Field", Assert.Throws<BillFormatException>(() => PayPalSettlementReport.Parse(good.Replace("\"Custom Field\"", "\"Custom\"", StringComparison.Ordinal))).Reason);
    }

    [Fact]
    public void SandboxPayBill_OfRandomAmountsInCnyUsdJpyKwd_RoundTrips() =>
        Gen.Select(Gen.Long[1, 999_999_999_999], Gen.Long[0, 99_999], Gen.Int[0, 3], Gen.Bool).Array[1, 20].Sample(rows =>
        {
            var csv = new StringBuilder("type,trade_no,out_trade_no,refund_no,out_refund_no,currency,amount,fee,completed_at\r\n");
            for (var i = 0; i < rows.Length; i++)
            {
                var (amount, fee, c, refund) = rows[i];
                csv.Append(refund
                    ? FormattableString.Invariant($"refund,sbx_{i},pay_{i},sbr_{i},re_{i},{Currencies[c]},{amount},{fee},2026-12-02T10:00:00Z\r\n")
                    : FormattableString.Invariant($"payment,sbx_{i},pay_{i},,,{Currencies[c]},{amount},{fee},2026-12-02T10:00:00Z\r\n"));
            }
            return SandboxPayBill.Parse(csv.ToString()).Select(l => (l.Amount, l.Fee, l.Currency, l.Kind == BillLineKind.Refund))
                .SequenceEqual(rows.Select(r => (r.Item1, r.Item2, Currencies[r.Item3], r.Item4)));
        });

    [Fact]
    public void StripeBalanceTransactions_OfRandomAmountsInCnyUsdJpyKwd_RoundTrip() =>
        Gen.Select(Gen.Long[1, 999_999_999_999], Gen.Long[0, 99_999], Gen.Int[0, 3], Gen.Bool).Sample((amount, fee, c, refund) =>
        {
            var transaction = new System.Text.Json.Nodes.JsonObject
            {
                ["id"] = "txn_1", ["object"] = "balance_transaction", ["type"] = refund ? "refund" : "charge", ["amount"] = refund ? -amount : amount,
                ["fee"] = fee, ["net"] = (refund ? -amount : amount) - fee, ["currency"] = Currencies[c].ToLowerInvariant(), ["created"] = 1_764_700_000L,
                ["source"] = refund
                    ? new System.Text.Json.Nodes.JsonObject { ["id"] = "re_1", ["object"] = "refund", ["payment_intent"] = "pi_1", ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["refund_id"] = "ref_1", ["payment_id"] = "pay_1" } }
                    : new System.Text.Json.Nodes.JsonObject { ["id"] = "ch_1", ["object"] = "charge", ["payment_intent"] = "pi_1", ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["payment_id"] = "pay_1" } },
            };
            var line = StripeBalanceTransactions.Line(transaction, 1)!;
            return (line.Amount, line.Fee, line.Currency, line.Kind, line.OutTradeNo, line.OutRefundNo)
                == (amount, fee, Currencies[c], refund ? BillLineKind.Refund : BillLineKind.Payment, "pay_1", refund ? "ref_1" : null);
        });

    [Fact]
    public void SandboxPayBill_AndStripeTransactions_Malformed_AreErrorsWithTheLine()
    {
        const string header = "type,trade_no,out_trade_no,refund_no,out_refund_no,currency,amount,fee,completed_at\r\n";
        Assert.Equal(2, Assert.Throws<BillFormatException>(() => SandboxPayBill.Parse(header + "payment,sbx_1,pay_1,,,CNY,123.45,0,2026-12-02T10:00:00Z\r\n")).Line);
        Assert.Contains("currency", Assert.Throws<BillFormatException>(() => SandboxPayBill.Parse(header + "payment,sbx_1,pay_1,,,XXX,12345,0,2026-12-02T10:00:00Z\r\n")).Reason);
        Assert.Contains("missing column fee", Assert.Throws<BillFormatException>(() => SandboxPayBill.Parse(header.Replace(",fee,", ",charge,", StringComparison.Ordinal))).Reason);
        Assert.Empty(SandboxPayBill.Parse(header));
        var notExpanded = new System.Text.Json.Nodes.JsonObject { ["type"] = "charge", ["amount"] = 100, ["fee"] = 0, ["currency"] = "usd", ["source"] = "ch_1" };
        Assert.Equal(7, Assert.Throws<BillFormatException>(() => StripeBalanceTransactions.Line(notExpanded, 7)).Line);
        Assert.Null(StripeBalanceTransactions.Line(new System.Text.Json.Nodes.JsonObject { ["type"] = "payout", ["amount"] = -100 }, 1));
    }
}
