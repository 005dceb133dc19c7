
namespace KnowPay.Sandbox.WeChatPay;

static class WeChatPayBills
{
    /// <summary>Every payment (on the day it succeeded) and refund (on the day it was accepted) the simulator remembers, as bill rows.</summary>
    public static List<BillEntry<WeChatTrade>> Entries(IEnumerable<WeChatTrade> trades, SandboxBills bills)
    {
        var entries = new List<BillEntry<WeChatTrade>>();
        foreach (var t in trades.OrderBy(t => t.CreatedAt))
            lock (t)
            {
                if (t.PaidAt is { } paid)
                    entries.Add(new(BillEntryKind.Payment, t, t.OutTradeNo, null, t.Total, bills.Fee("wechatpay", t.Total), paid));
                foreach (var r in t.Refunds.Values.OrderBy(r => r.CreatedAt))
                    entries.Add(new(BillEntryKind.Refund, t, t.OutTradeNo, r.OutRefundNo, r.Amount, 0, r.CreatedAt));
            }
        return entries;
    }

    /// <summary>
    /// WeChat's trade bill (交易账单文件格式说明): the detail header row, detail rows whose every field starts with a
    /// backtick, then the totals header and the totals row (backticked too). Payments are billed on the day they succeeded,
    /// refunds on the day they were accepted, with their status as of the download (a snapshot). ALL, SUCCESS and REFUND
    /// differ in their columns and in which rows they hold.
    /// </summary>
    public static string Text(DateOnly day, string billType, SandboxOptions options, IEnumerable<BillEntry<WeChatTrade>> entries)
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
        Dictionary<string, string> Row(BillEntry<WeChatTrade> e, string state)
        {
            var t = e.Source;
            return new()
            {
                ["交易时间"] = Cst(e.At), ["公众账号ID"] = options.WeChatAppId, ["商户号"] = options.WeChatMchId, ["特约商户号"] = "0", ["设备号"] = "",
                // An extra trade is a copy of a real one under another out_trade_no, with a transaction id of its own.
                ["微信订单号"] = e.Extra ? "4299" + t.TransactionId[4..] : t.TransactionId, ["商户订单号"] = e.OutTradeNo,
                ["用户标识"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", ["交易类型"] = "NATIVE",
                ["交易状态"] = state, ["付款银行"] = "OTHERS", ["货币种类"] = e.Currency ?? t.Currency, ["代金券金额"] = "0.00",
                ["商品名称"] = t.Description.Replace(',', '，'), ["商户数据包"] = "", ["手续费"] = SandboxRsa.Yuan(e.Fee), ["费率"] = "0.60%", ["费率备注"] = "",
            };
        }
        long fees = 0;
        foreach (var e in entries)
        {
            if (e.Kind == BillEntryKind.Payment && billType != "REFUND")
            {
                paid += e.Amount;
                fees += e.Fee;
                var row = Row(e, "SUCCESS");
                row["应结订单金额"] = row["订单金额"] = SandboxRsa.Yuan(e.Amount);
                row["微信退款单号"] = row["商户退款单号"] = "0";
                row["退款金额"] = row["充值券退款金额"] = row["申请退款金额"] = "0.00";
                row["退款类型"] = row["退款状态"] = "";
                rows.Add(row);
            }
            else if (e.Kind == BillEntryKind.Refund && billType != "SUCCESS")
            {
                WeChatRefund r;
                lock (e.Source) r = e.Source.Refunds[e.OutRefundNo!];
                refunded += e.Amount;
                var row = Row(e, "REFUND");
                row["应结订单金额"] = row["订单金额"] = "0.00";
                row["退款申请时间"] = Cst(e.At);
                row["退款成功时间"] = r.SucceededAt is { } s ? Cst(s) : "";
                row["微信退款单号"] = r.RefundId;
                row["商户退款单号"] = r.OutRefundNo;
                row["退款金额"] = row["申请退款金额"] = SandboxRsa.Yuan(e.Amount);
                row["充值券退款金额"] = "0.00";
                row["退款类型"] = "ORIGINAL";
                row["退款状态"] = e.Pending ? "PROCESSING" : r.Status;
                rows.Add(row);
            }
        }
        var totals = new Dictionary<string, string>
        {
            ["总交易单数"] = rows.Count.ToString(CultureInfo.InvariantCulture), ["应结订单总金额"] = SandboxRsa.Yuan(paid), ["退款总金额"] = SandboxRsa.Yuan(refunded),
            ["充值券退款总金额"] = "0.00", ["手续费总金额"] = SandboxRsa.Yuan(fees), ["订单总金额"] = SandboxRsa.Yuan(paid), ["申请退款总金额"] = SandboxRsa.Yuan(refunded),
        };
        var sb = new StringBuilder().Append(string.Join(",", columns)).Append("\r\n");
        foreach (var row in rows) sb.Append(string.Join(",", columns.Select(c => "`" + row[c]))).Append("\r\n");
        sb.Append(string.Join(",", totalColumns)).Append("\r\n");
        sb.Append(string.Join(",", totalColumns.Select(c => "`" + totals[c]))).Append("\r\n");
        return sb.ToString();

        static string Cst(DateTimeOffset t) => t.ToOffset(WeChatPayWire.CstOffset).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// WeChat's fund-flow bill of the BASIC account (资金账单): the detail header, one backticked row per money movement — a
/// payment's income (交易), its fee (扣除交易手续费), a refund's expense (退款), a fee given back (退还交易手续费) — with
/// the running balance, then the summary header (资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额) and its row.
/// </summary>
static class WeChatPayFundFlow
{
    public static readonly string[] Columns =
        ["记账时间", "微信支付业务单号", "资金流水单号", "业务名称", "业务类型", "收支类型", "收支金额（元）", "账户结余（元）", "资金变更提交申请人", "备注", "业务凭证号"];

    public static string Text(IEnumerable<BillEntry<WeChatTrade>> entries)
    {
        var sb = new StringBuilder().Append(string.Join(",", Columns)).Append("\r\n");
        long balance = 0, income = 0, expense = 0;
        int incomes = 0, expenses = 0, flow = 0;
        void Row(BillEntry<WeChatTrade> e, string businessNo, string name, string type, bool isIncome, long amount, string voucher)
        {
            if (amount == 0) return;
            balance += isIncome ? amount : -amount;
            if (isIncome) { incomes++; income += amount; }
            else { expenses++; expense += amount; }
            flow++;
            string[] fields = [e.At.ToOffset(WeChatPayWire.CstOffset).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), businessNo,
                "5000" + e.At.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) + flow.ToString("D6", CultureInfo.InvariantCulture),
                name, type, isIncome ? "收入" : "支出", SandboxRsa.Yuan(amount), SandboxRsa.Yuan(Math.Abs(balance)), "system", "", voucher];
            sb.Append(string.Join(",", fields.Select(f => "`" + f))).Append("\r\n");
        }
        foreach (var e in entries.OrderBy(e => e.At))
        {
            string transactionId;
            lock (e.Source) transactionId = e.Extra ? "4299" + e.Source.TransactionId[4..] : e.Source.TransactionId;
            if (e.Kind == BillEntryKind.Payment)
            {
                Row(e, transactionId, "交易", "交易", true, e.Amount, e.OutTradeNo);
                Row(e, transactionId, "交易", "扣除交易手续费", false, e.Fee, e.OutTradeNo);
            }
            else
            {
                string refundId, status;
                lock (e.Source) (refundId, status) = (e.Source.Refunds[e.OutRefundNo!].RefundId, e.Source.Refunds[e.OutRefundNo!].Status);
                if (status != "SUCCESS") continue;   // money moves when the refund succeeds
                Row(e, refundId, "退款", "退款", false, e.Amount, e.OutRefundNo!);
                Row(e, refundId, "退款", "退还交易手续费", true, e.Fee, e.OutRefundNo!);
            }
        }
        sb.Append("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n");
        sb.Append(string.Join(",", new[] { flow.ToString(CultureInfo.InvariantCulture), incomes.ToString(CultureInfo.InvariantCulture), SandboxRsa.Yuan(income),
            expenses.ToString(CultureInfo.InvariantCulture), SandboxRsa.Yuan(expense) }.Select(f => "`" + f))).Append("\r\n");
        return flow == 0 ? "" : sb.ToString();
    }
}
