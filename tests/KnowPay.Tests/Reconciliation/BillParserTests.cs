using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using KnowPay.Features.Reconciliation;

namespace KnowPay.Tests.Reconciliation;

/// <summary>The bill parsers on files shaped as the providers write them: GBK, BOMs, # lines, tab padding, backticks, totals.</summary>
public sealed class BillParserTests
{
    static readonly Encoding Gbk = CodePagesEncodingProvider.Instance.GetEncoding("GBK")!;

    const string AlipayHeader = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

    static string AlipayCsv(params string[] rows) =>
        "#支付宝业务明细查询\r\n#账号：[20880000000000010156]\r\n#起始日期：[2026年12月02日 00:00:00]   终止日期：[2026年12月03日 00:00:00]\r\n" +
        "#-----------------------------------------业务明细列表----------------------------------------\r\n" +
        AlipayHeader + "\r\n" + string.Concat(rows.Select(r => r + "\r\n")) +
        "#-----------------------------------------业务明细列表结束------------------------------------\r\n" +
        $"#交易合计：{rows.Length}笔，退款合计：0笔\r\n#导出时间：[2026年12月03日 09:00:00]";

    static string AlipayRow(string tradeNo, string outTradeNo, string type, string amount, string requestNo = "", string fee = "0.00") =>
        string.Join(",", tradeNo + "\t", outTradeNo + "\t", type, "Rust 入门课", "2026-12-02 10:00:00", "2026-12-02 10:01:02", "", "", "", "",
            "lea***@example.com", amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", requestNo, fee, "0.00", "");

    static byte[] Zip(string csv, string name = "20880000000000010156_20261202_业务明细.csv")
    {
        var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var summary = archive.CreateEntry("20880000000000010156_20261202_业务明细(汇总).csv").Open()) summary.Write(Gbk.GetBytes("#汇总\r\n"));
            using var stream = archive.CreateEntry(name).Open();
            stream.Write(Gbk.GetBytes(csv));
        }
        return zip.ToArray();
    }

    [Fact]
    public void Alipay_ZipOfGbkCsv_TabPaddedIds_HashLines_PaymentAndNegativeRefund_ToMinorUnits()
    {
        var lines = AlipayBill.ParseZip(Zip(AlipayCsv(
            AlipayRow("2026120222001400001", "pay_01", "交易", "123.45", fee: "0.74"),
            AlipayRow("2026120222001400001", "pay_01", "退款", "-23.45", "ref_01"))));

        Assert.Equal(2, lines.Count);
        var payment = lines[0];
        Assert.Equal(BillLineKind.Payment, payment.Kind);
        Assert.Equal("pay_01", payment.OutTradeNo);
        Assert.Equal("2026120222001400001", payment.ProviderTradeNo);
        Assert.Equal(12345, payment.Amount);
        Assert.Equal(74, payment.Fee);
        Assert.Equal("CNY", payment.Currency);
        Assert.Equal(new DateTime(2026, 12, 2, 2, 1, 2, DateTimeKind.Utc), payment.At);
        Assert.Equal("payment:pay_01", payment.Key);
        var refund = lines[1];
        Assert.Equal(BillLineKind.Refund, refund.Kind);
        Assert.Equal(2345, refund.Amount);
        Assert.Equal("ref_01", refund.OutRefundNo);
        Assert.Equal("refund:ref_01", refund.Key);
        Assert.Equal(7, refund.LineNumber);   // four # lines, the header, the payment
    }

    [Fact]
    public void Alipay_EmptyFile_OrOnlyHashLines_IsAnEmptyDay()
    {
        Assert.Empty(AlipayBill.ParseZip([]));
        Assert.Empty(AlipayBill.ParseZip(Zip("#支付宝业务明细查询\r\n#交易合计：0笔，退款合计：0笔\r\n")));
        Assert.Empty(AlipayBill.ParseZip(Zip(AlipayCsv())));
    }

    [Fact]
    public void Alipay_ThreeDecimalYuan_IsAnError_NotARounding_WithTheLine()
    {
        var e = Assert.Throws<BillFormatException>(() => AlipayBill.ParseZip(Zip(AlipayCsv(
            AlipayRow("1", "pay_01", "交易", "1.00"), AlipayRow("2", "pay_02", "交易", "1.005")))));
        Assert.Equal(7, e.Line);
        Assert.Contains("more decimals", e.Reason);
    }

    [Fact]
    public void Alipay_MissingColumn_TruncatedZip_Utf8InsteadOfGbk_AreErrors()
    {
        var missing = AlipayCsv(AlipayRow("1", "pay_01", "交易", "1.00")).Replace(",服务费（元）", ",其他", StringComparison.Ordinal);
        Assert.Contains("服务费", Assert.Throws<BillFormatException>(() => AlipayBill.ParseZip(Zip(missing))).Reason);
        var zip = Zip(AlipayCsv(AlipayRow("1", "pay_01", "交易", "1.00")));
        Assert.Throws<BillFormatException>(() => AlipayBill.ParseZip(zip[..(zip.Length / 2)]));
        var utf8 = new MemoryStream();
        using (var archive = new ZipArchive(utf8, ZipArchiveMode.Create, leaveOpen: true))
        using (var s = archive.CreateEntry("x_20261202_业务明细.csv").Open()) s.Write(Encoding.UTF8.GetBytes(AlipayCsv(AlipayRow("1", "pay_01", "交易", "1.00"))));
        Assert.Throws<BillFormatException>(() => AlipayBill.ParseZip(utf8.ToArray()));
    }

    const string WeChatHeader = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";

    static string WeChatRow(string state, string transactionId, string outTradeNo, string amount, string refundId = "0", string outRefundNo = "0",
        string refund = "0.00", string refundState = "", string fee = "0.00") =>
        string.Join(",", new[] { "2026-12-02 10:01:02", "wx8888888888888888", "1900000109", "0", "", transactionId, outTradeNo, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "NATIVE", state, "OTHERS", "CNY", state == "SUCCESS" ? amount : "0.00", "0.00", refundId, outRefundNo, refund, "0.00",
            state == "REFUND" ? "ORIGINAL" : "", refundState, "Rust 入门课", "", fee, "0.60%", state == "SUCCESS" ? amount : "0.00", refund, "" }
            .Select(f => "`" + f));

    static string WeChatBill(string totals, params string[] rows) =>
        "\uFEFF" + WeChatHeader + "\r\n" + string.Concat(rows.Select(r => r + "\r\n")) +
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n" + totals + "\r\n";

    [Fact]
    public void WeChatPay_BomBackticksTotals_PaymentAndRefund_ToMinorUnits()
    {
        var text = WeChatBill("`2,`100.01,`0.50,`0.00,`0.60,`100.01,`0.50",
            WeChatRow("SUCCESS", "4200000001", "pay_01", "100.01", fee: "0.60"),
            WeChatRow("REFUND", "4200000001", "pay_01", "0", "50300000001", "ref_01", "0.50", "SUCCESS"));
        var bytes = Encoding.UTF8.GetBytes(text);
        var lines = WeChatPayBill.Parse(bytes, "SHA1", Convert.ToHexStringLower(SHA1.HashData(bytes)));

        Assert.Equal(2, lines.Count);
        Assert.Equal((BillLineKind.Payment, "pay_01", "4200000001", 10001L, 60L), (lines[0].Kind, lines[0].OutTradeNo, lines[0].ProviderTradeNo, lines[0].Amount, lines[0].Fee));
        Assert.Equal((BillLineKind.Refund, "ref_01", "50300000001", 50L, BillLineStatus.Succeeded),
            (lines[1].Kind, lines[1].OutRefundNo, lines[1].ProviderRefundNo, lines[1].Amount, lines[1].Status));
        Assert.Equal(3, lines[1].LineNumber);
    }

    [Fact]
    public void WeChatPay_BadSha1_TruncatedFile_WrongTotals_AreErrors()
    {
        var text = WeChatBill("`1,`1.00,`0.00,`0.00,`0.00,`1.00,`0.00", WeChatRow("SUCCESS", "4200000001", "pay_01", "1.00"));
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Contains("SHA1", Assert.Throws<BillFormatException>(() => WeChatPayBill.Parse(bytes, "SHA1", new string('0', 40))).Reason);
        Assert.Contains("truncated", Assert.Throws<BillFormatException>(() => WeChatPayBill.Parse(text[..text.IndexOf("总交易单数", StringComparison.Ordinal)])).Reason);
        Assert.Throws<BillFormatException>(() => WeChatPayBill.Parse(text.Replace("`1,`1.00", "`2,`1.00", StringComparison.Ordinal)));
        Assert.Throws<BillFormatException>(() => WeChatPayBill.Parse(text.Replace("`1.00,`0.00,`0.00,`0.00,`1.00", "`1.00,`0.00,`0.00,`0.00,`1.01", StringComparison.Ordinal)));
    }

    [Fact]
    public void WeChatPay_SuccessBill_WithoutRefundColumns_MapsByName()
    {
        var text = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注\r\n" +
                   "`2026-12-02 10:01:02,`wx1,`1900000109,`0,`,`4200000009,`pay_09,`o1,`NATIVE,`SUCCESS,`OTHERS,`CNY,`9.90,`0.00,`课,`,`0.06,`0.60%,`9.90,`\r\n" +
                   "总交易单数,应结订单总金额,手续费总金额,订单总金额\r\n`1,`9.90,`0.06,`9.90\r\n";
        var line = Assert.Single(WeChatPayBill.Parse(text));
        Assert.Equal((990L, 6L, "4200000009"), (line.Amount, line.Fee, line.ProviderTradeNo));
    }

    [Theory]
    [InlineData("CNY", "0.01", 1L)]
    [InlineData("USD", "12345678.91", 1234567891L)]
    [InlineData("JPY", "500", 500L)]
    [InlineData("KWD", "1.234", 1234L)]
    public void Amounts_ExactlyToMinorUnits(string currency, string text, long expected) =>
        Assert.Equal(expected, BillAmounts.MinorUnits(text, currency, 1, "x"));

    [Theory]
    [InlineData("JPY", "500.5")]
    [InlineData("CNY", "1.001")]
    [InlineData("KWD", "1.2345")]
    [InlineData("CNY", "1e3")]
    public void Amounts_MoreDecimalsThanTheCurrency_OrNotANumber_AreErrors(string currency, string text) =>
        Assert.Throws<BillFormatException>(() => BillAmounts.MinorUnits(text, currency, 1, "x"));
}
