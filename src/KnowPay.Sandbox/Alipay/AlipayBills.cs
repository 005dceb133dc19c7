using System.IO.Compression;

namespace KnowPay.Sandbox.Alipay;

/// <summary>Alipay's trade bill: a zip holding the day's trade detail CSV (GBK) with Alipay's # header and footer lines.</summary>
static class AlipayBills
{
    public const string SellerId = "2088000000000001";

    /// <summary>Every payment and refund the simulator remembers, as bill rows (the service fee from <see cref="SandboxBills.Fee"/>).</summary>
    public static List<BillEntry<AlipayTrade>> Entries(IEnumerable<AlipayTrade> trades, SandboxBills bills)
    {
        var entries = new List<BillEntry<AlipayTrade>>();
        foreach (var t in trades.OrderBy(t => t.CreatedAt))
            lock (t)
            {
                if (t.PaidAt is { } paid)
                    entries.Add(new(BillEntryKind.Payment, t, t.OutTradeNo, null, t.TotalFen, bills.Fee("alipay", t.TotalFen), paid));
                foreach (var (requestNo, refund) in t.Refunds)
                    entries.Add(new(BillEntryKind.Refund, t, t.OutTradeNo, requestNo, refund.Fen, 0, refund.At));
            }
        return entries;
    }

    public static IResult Zip(DateOnly day, IEnumerable<BillEntry<AlipayTrade>> rows)
    {
        var gbk = CodePagesEncodingProvider.Instance.GetEncoding("GBK") ?? Encoding.UTF8;
        var csv = new StringBuilder();
        csv.Append("#支付宝业务明细查询\r\n#账号：[").Append(SellerId).Append("0156]\r\n");
        csv.Append("#起始日期：[").Append(day.ToString("yyyy年MM月dd日", CultureInfo.InvariantCulture)).Append(" 00:00:00]   终止日期：[")
            .Append(day.AddDays(1).ToString("yyyy年MM月dd日", CultureInfo.InvariantCulture)).Append(" 00:00:00]\r\n");
        csv.Append("#-----------------------------------------业务明细列表----------------------------------------\r\n");
        csv.Append("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n");
        int paidCount = 0, refundCount = 0;
        foreach (var row in rows)
        {
            if (row.Kind == BillEntryKind.Payment) paidCount++;
            else refundCount++;
            csv.Append(row.Kind == BillEntryKind.Payment ? Row(row, "交易", row.Amount, row.Fee, "") : Row(row, "退款", -row.Amount, -row.Fee, row.OutRefundNo!));
        }
        csv.Append("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
        csv.Append("#交易合计：").Append(paidCount).Append("笔，退款合计：").Append(refundCount).Append("笔\r\n");
        csv.Append("#导出时间：[").Append(SandboxRsa.Beijing(DateTimeOffset.UtcNow)).Append(']');
        var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            var entry = archive.CreateEntry($"{SellerId}0156_{day:yyyyMMdd}_业务明细.csv");
            using var stream = entry.Open();
            stream.Write(gbk.GetBytes(csv.ToString()));
        }
        return Results.File(zip.ToArray(), "application/zip", $"{SellerId}0156_{day:yyyyMMdd}.csv.zip");

        static string Row(BillEntry<AlipayTrade> row, string type, long fen, long feeFen, string requestNo)
        {
            var t = row.Source;
            // An extra trade is a copy of a real one under another out_trade_no, with a trade number of its own.
            var tradeNo = row.Extra ? "2099" + t.TradeNo[4..] : t.TradeNo;
            return string.Join(",", tradeNo + "\t", row.OutTradeNo + "\t", type, t.Subject.Replace(',', '，'), SandboxRsa.Beijing(t.CreatedAt),
                SandboxRsa.Beijing(row.At), "", "", "", "", "lea***@example.com", Yuan(fen), Yuan(fen), "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00",
                "0.00", requestNo, Yuan(feeFen), "0.00", "") + "\r\n";
        }

        static string Yuan(long fen) => fen < 0 ? "-" + SandboxRsa.Yuan(-fen) : SandboxRsa.Yuan(fen);
    }
}
