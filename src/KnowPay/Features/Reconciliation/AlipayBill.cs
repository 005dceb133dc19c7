using System.IO.Compression;
using System.Text;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// Alipay's trade bill (alipay.data.dataservice.bill.downloadurl.query, bill_type=trade): a zip holding GBK CSV files;
/// the detail file (…_业务明细.csv) has <c>#</c> lines above and below the rows, ID-like cells end with a tab, refunds
/// (业务类型 退款) carry negative amounts. Every row is a success: Alipay bills completed trades and refunds only.
/// </summary>
public static class AlipayBill
{
    const string TradeNo = "支付宝交易号", OutTradeNo = "商户订单号", Type = "业务类型", FinishedAt = "完成时间",
        Amount = "订单金额（元）", Fee = "服务费（元）", RefundRequestNo = "退款批次号/请求号";

    static readonly Encoding Gbk = CodePagesEncodingProvider.Instance.GetEncoding("GBK")
        ?? throw new InvalidOperationException("GBK is not available");

    /// <summary>Parses the zip as downloaded; an empty file (EMPTY_DATA_WITH_BILL_FILE) or no detail rows is an empty day.</summary>
    public static IReadOnlyList<BillLine> ParseZip(byte[] zip)
    {
        if (zip.Length == 0) return [];
        string csv;
        try
        {
            using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
            var entry = archive.Entries.FirstOrDefault(e => e.Name.EndsWith("业务明细.csv", StringComparison.Ordinal) && !e.Name.Contains("汇总", StringComparison.Ordinal))
                ?? throw new BillFormatException("the zip holds no 业务明细 detail file");
            using var reader = new StreamReader(entry.Open(), Gbk, detectEncodingFromByteOrderMarks: false);
            csv = reader.ReadToEnd();
        }
        catch (InvalidDataException e)
        {
            throw new BillFormatException("not a readable zip: " + e.Message);
        }
        return ParseCsv(csv);
    }

    /// <summary>Parses the detail file as decoded text.</summary>
    public static IReadOnlyList<BillLine> ParseCsv(string csv)
    {
        if (csv.Contains('\uFFFD')) throw new BillFormatException("the file is not GBK text");
        // No header at all (only # lines): nothing was traded that day.
        if (csv.Split('\n').All(l => l.TrimStart('\uFEFF').StartsWith('#') || string.IsNullOrWhiteSpace(l))) return [];
        using var reader = BillCsv.Open(csv.TrimStart('\uFEFF'), '#');
        var c = BillCsv.Columns(reader, [TradeNo, OutTradeNo, Type, FinishedAt, Amount, Fee, RefundRequestNo]);
        var lines = new List<BillLine>();
        foreach (var line in BillCsv.Records(reader))
        {
            string Field(string name) => reader.GetString(c[name]);
            var amount = BillAmounts.MinorUnits(Field(Amount), "CNY", line, Amount);
            var fee = BillAmounts.MinorUnits(Field(Fee) is { Length: > 0 } f ? f : "0", "CNY", line, Fee);
            var at = BillAmounts.ChinaTime(Field(FinishedAt));
            var tradeNo = Field(TradeNo);
            var outTradeNo = Field(OutTradeNo);
            if (outTradeNo.Length == 0) throw new BillFormatException($"column {OutTradeNo} is empty", line);
            lines.Add(Field(Type) switch
            {
                "交易" => new BillLine(line, BillLineKind.Payment, outTradeNo, tradeNo, null, null, amount, "CNY", fee, BillLineStatus.Succeeded, at),
                "退款" when Field(RefundRequestNo) is { Length: > 0 } requestNo =>
                    new BillLine(line, BillLineKind.Refund, outTradeNo, tradeNo, requestNo, $"{tradeNo}:{requestNo}", Math.Abs(amount), "CNY",
                        Math.Abs(fee), BillLineStatus.Succeeded, at),
                "退款" => throw new BillFormatException($"a refund row without {RefundRequestNo}", line),
                var other => throw new BillFormatException($"unknown {Type} '{other}'", line),
            });
        }
        return lines;
    }
}
