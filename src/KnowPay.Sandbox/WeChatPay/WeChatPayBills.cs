
namespace KnowPay.Sandbox.WeChatPay;

static class WeChatPayBills
{
    /// <summary>
    /// WeChat's trade bill (交易账单文件格式说明): the detail header row, detail rows whose every field starts with a
    /// backtick, then the totals header and the totals row (backticked too). Payments are billed on the day they succeeded,
    /// refunds on the day they were accepted, with their status as of the download (a snapshot). ALL, SUCCESS and REFUND
    /// differ in their columns and in which rows they hold.
    /// </summary>
    public static string Text(DateOnly day, string billType, SandboxOptions options, IEnumerable<WeChatTrade> trades, IEnumerable<WeChatRefund> refunds)
    {
        string[] columns = billType switch
        {
            "SUCCESS" => ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "费率备注"],
            "REFUND" => ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "退款申请时间", "退款成功时间", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"],
            _ => ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"],
        };
        string[] totalColumns = billType == "SUCCESS"
            ? ["总交易单数", "应结订单总金额", "手续费总金额", "订单总金额"]
            : ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"];
        var rows = new List<Dictionary<string, string>>();
        long paid = 0, refunded = 0;
        bool OnDay(DateTimeOffset at) => DateOnly.FromDateTime(at.ToOffset(WeChatPayWire.CstOffset).DateTime) == day;
        Dictionary<string, string> Row(WeChatTrade t, DateTimeOffset at, string state) => new()
        {
            ["交易时间"] = Cst(at), ["公众账号ID"] = options.WeChatAppId, ["商户号"] = options.WeChatMchId, ["特约商户号"] = "0", ["设备号"] = "",
            ["微信订单号"] = t.TransactionId, ["商户订单号"] = t.OutTradeNo, ["用户标识"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", ["交易类型"] = "NATIVE",
            ["交易状态"] = state, ["付款银行"] = "OTHERS", ["货币种类"] = t.Currency, ["代金券金额"] = "0.00",
            ["商品名称"] = t.Description.Replace(',', '，'), ["商户数据包"] = "", ["手续费"] = "0.00", ["费率"] = "0.60%", ["费率备注"] = "",
        };
        if (billType != "REFUND")
            foreach (var t in trades.OrderBy(t => t.CreatedAt))
                lock (t)
                {
                    if (t.PaidAt is not { } at || !OnDay(at)) continue;
                    paid += t.Total;
                    var row = Row(t, at, "SUCCESS");
                    row["应结订单金额"] = row["订单金额"] = SandboxRsa.Yuan(t.Total);
                    row["微信退款单号"] = row["商户退款单号"] = "0";
                    row["退款金额"] = row["充值券退款金额"] = row["申请退款金额"] = "0.00";
                    row["退款类型"] = row["退款状态"] = "";
                    rows.Add(row);
                }
        if (billType != "SUCCESS")
            foreach (var r in refunds.OrderBy(r => r.CreatedAt))
                lock (r.Trade)
                {
                    if (!OnDay(r.CreatedAt)) continue;
                    refunded += r.Amount;
                    var row = Row(r.Trade, r.CreatedAt, "REFUND");
                    row["应结订单金额"] = row["订单金额"] = "0.00";
                    row["退款申请时间"] = Cst(r.CreatedAt);
                    row["退款成功时间"] = r.SucceededAt is { } s ? Cst(s) : "";
                    row["微信退款单号"] = r.RefundId;
                    row["商户退款单号"] = r.OutRefundNo;
                    row["退款金额"] = row["申请退款金额"] = SandboxRsa.Yuan(r.Amount);
                    row["充值券退款金额"] = "0.00";
                    row["退款类型"] = "ORIGINAL";
                    row["退款状态"] = r.Status;
                    rows.Add(row);
                }
        var totals = new Dictionary<string, string>
        {
            ["总交易单数"] = rows.Count.ToString(CultureInfo.InvariantCulture), ["应结订单总金额"] = SandboxRsa.Yuan(paid), ["退款总金额"] = SandboxRsa.Yuan(refunded),
            ["充值券退款总金额"] = "0.00", ["手续费总金额"] = "0.00", ["订单总金额"] = SandboxRsa.Yuan(paid), ["申请退款总金额"] = SandboxRsa.Yuan(refunded),
        };
        var sb = new StringBuilder().Append(string.Join(",", columns)).Append("\r\n");
        foreach (var row in rows) sb.Append(string.Join(",", columns.Select(c => "`" + row[c]))).Append("\r\n");
        sb.Append(string.Join(",", totalColumns)).Append("\r\n");
        sb.Append(string.Join(",", totalColumns.Select(c => "`" + totals[c]))).Append("\r\n");
        return sb.ToString();

        static string Cst(DateTimeOffset t) => t.ToOffset(WeChatPayWire.CstOffset).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
    }
}
