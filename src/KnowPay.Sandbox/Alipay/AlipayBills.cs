using System.IO.Compression;

namespace KnowPay.Sandbox.Alipay;

/// <summary>Alipay's trade bill: a zip holding the day's trade detail CSV (GBK) with Alipay's # header and footer lines.</summary>
static class AlipayBills
{
    public const string SellerId = "2088000000000001";

    public static IResult Zip(DateOnly day, IEnumerable<AlipayTrade> trades)
    {
        var gbk = CodePagesEncodingProvider.Instance.GetEncoding("GBK") ?? Encoding.UTF8;
        var csv = new StringBuilder();
        csv.Append("#支付宝业务明细查询\r\n#账号：[").Append(SellerId).Append("0156]\r\n");
        csv.Append("#起始日期：[").Append(day.ToString("yyyy年MM月dd日", CultureInfo.InvariantCulture)).Append(" 00:00:00]   终止日期：[")
            .Append(day.AddDays(1).ToString("yyyy年MM月dd日", CultureInfo.InvariantCulture)).Append(" 00:00:00]\r\n");
        csv.Append("#-----------------------------------------业务明细列表----------------------------------------\r\n");
        csv.Append("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n");
        int paidCount = 0, refundCount = 0;
        foreach (var t in trades.OrderBy(t => t.CreatedAt))
        {
            lock (t)
            {
                if (t.PaidAt is { } paid && DateOnly.FromDateTime(paid.ToOffset(TimeSpan.FromHours(8)).DateTime) == day)
                {
                    paidCount++;
                    csv.Append(Row(t, "交易", t.TotalFen, paid, ""));
                }
                foreach (var (requestNo, refund) in t.Refunds)
                    if (DateOnly.FromDateTime(refund.At.ToOffset(TimeSpan.FromHours(8)).DateTime) == day)
                    {
                        refundCount++;
                        csv.Append(Row(t, "退款", -refund.Fen, refund.At, requestNo));
                    }
            }
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

        static string Row(AlipayTrade t, string type, long fen, DateTimeOffset at, string requestNo)
        {
            var amount = fen < 0 ? "-" + SandboxRsa.Yuan(-fen) : SandboxRsa.Yuan(fen);
            return string.Join(",", t.TradeNo + "\t", t.OutTradeNo + "\t", type, t.Subject.Replace(',', '，'), SandboxRsa.Beijing(t.CreatedAt),
                SandboxRsa.Beijing(at), "", "", "", "", "lea***@example.com", amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00",
                "0.00", requestNo, "0.00", "0.00", "") + "\r\n";
        }
    }
}
