using System.Security.Cryptography;
using System.Text;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// WeChat Pay's trade bill (GET /v3/bill/tradebill): UTF-8 with a BOM; a header row, detail rows whose every field starts
/// with a backtick, then the totals header (总交易单数,…) and its row. Columns differ by bill type (ALL, SUCCESS, REFUND),
/// so they are mapped by name; the totals are checked against the rows, so a truncated file is an error.
/// </summary>
public static class WeChatPayBill
{
    const string Time = "交易时间", TransactionId = "微信订单号", OutTradeNo = "商户订单号", State = "交易状态", Currency = "货币种类",
        OrderAmount = "订单金额", Fee = "手续费", RefundId = "微信退款单号", OutRefundNo = "商户退款单号", RefundAmount = "退款金额",
        RefundState = "退款状态", TotalCount = "总交易单数", TotalRefunded = "退款总金额", TotalOrders = "订单总金额";

    /// <summary>The download is not signed; the SHA1 from the signed answer vouches for it.</summary>
    public static void VerifySha1(byte[] file, string? hashType, string? hashValue)
    {
        if (hashType != "SHA1" || hashValue is null ||
            !string.Equals(Convert.ToHexStringLower(SHA1.HashData(file)), hashValue, StringComparison.OrdinalIgnoreCase))
            throw new BillFormatException("the file does not match the signed SHA1 hash_value");
    }

    /// <summary>Parses the file's bytes (UTF-8, BOM or not) after <see cref="VerifySha1"/>.</summary>
    public static IReadOnlyList<BillLine> Parse(byte[] file, string? hashType, string? hashValue)
    {
        VerifySha1(file, hashType, hashValue);
        string text;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(file); }
        catch (DecoderFallbackException) { throw new BillFormatException("the file is not UTF-8 text"); }
        return Parse(text);
    }

    public static IReadOnlyList<BillLine> Parse(string text)
    {
        text = text.TrimStart('\uFEFF');
        if (string.IsNullOrWhiteSpace(text)) return [];
        var lines = text.Split('\n');
        var totalsAt = Array.FindIndex(lines, l => l.TrimStart().StartsWith(TotalCount, StringComparison.Ordinal));
        if (totalsAt < 1) throw new BillFormatException($"no totals ({TotalCount}…): the file is truncated");
        var details = string.Join('\n', lines[..totalsAt]).Replace("`", "", StringComparison.Ordinal);
        var totals = string.Join('\n', lines[totalsAt..]).Replace("`", "", StringComparison.Ordinal);

        var result = new List<BillLine>();
        long orders = 0, refunded = 0;
        using (var reader = BillCsv.Open(details))
        {
            var c = BillCsv.Columns(reader, [Time, TransactionId, OutTradeNo, State, Currency, OrderAmount, Fee]);
            int? Optional(string name) => reader.TryGetFieldIndex(name, out var i) ? i : null;
            var refundColumns = (Id: Optional(RefundId), Out: Optional(OutRefundNo), Amount: Optional(RefundAmount), State: Optional(RefundState));
            foreach (var line in BillCsv.Records(reader))
            {
                string Field(string name) => reader.GetString(c[name]);
                var currency = Field(Currency);
                var at = BillAmounts.ChinaTime(Field(Time));
                var fee = Math.Abs(BillAmounts.MinorUnits(Field(Fee), currency, line, Fee));
                var outTradeNo = Field(OutTradeNo);
                if (outTradeNo.Length == 0) throw new BillFormatException($"column {OutTradeNo} is empty", line);
                switch (Field(State))
                {
                    case "SUCCESS":
                        var amount = BillAmounts.MinorUnits(Field(OrderAmount), currency, line, OrderAmount);
                        orders += amount;
                        result.Add(new BillLine(line, BillLineKind.Payment, outTradeNo, Field(TransactionId), null, null, amount, currency, fee,
                            BillLineStatus.Succeeded, at));
                        break;
                    case "REFUND":
                        if (refundColumns is not { Id: { } id, Out: { } outNo, Amount: { } amountAt, State: { } stateAt })
                            throw new BillFormatException("a refund row in a bill without the refund columns", line);
                        var refund = BillAmounts.MinorUnits(reader.GetString(amountAt), currency, line, RefundAmount);
                        refunded += refund;
                        result.Add(new BillLine(line, BillLineKind.Refund, outTradeNo, Field(TransactionId), reader.GetString(outNo), reader.GetString(id),
                            refund, currency, fee, reader.GetString(stateAt) switch
                            {
                                "SUCCESS" => BillLineStatus.Succeeded,
                                "PROCESSING" => BillLineStatus.Pending,
                                _ => BillLineStatus.Failed,
                            }, at));
                        break;
                    case var other:
                        throw new BillFormatException($"unknown {State} '{other}'", line);
                }
            }
        }
        using (var reader = BillCsv.Open(totals))
        {
            var c = BillCsv.Columns(reader, [TotalCount, TotalOrders]);
            if (!reader.Read()) throw new BillFormatException("the totals row is missing: the file is truncated", totalsAt + 1);
            var line = totalsAt + (int)reader.LineNumber;
            if (!int.TryParse(reader.GetString(c[TotalCount]), out var count) || count != result.Count)
                throw new BillFormatException($"{TotalCount} {reader.GetString(c[TotalCount])} ≠ {result.Count} rows: the file is truncated", line);
            var currency = result.FirstOrDefault()?.Currency ?? "CNY";
            if (BillAmounts.MinorUnits(reader.GetString(c[TotalOrders]), currency, line, TotalOrders) != orders)
                throw new BillFormatException($"{TotalOrders} does not add up the rows", line);
            if (reader.TryGetFieldIndex(TotalRefunded, out var r) && BillAmounts.MinorUnits(reader.GetString(r), currency, line, TotalRefunded) != refunded)
                throw new BillFormatException($"{TotalRefunded} does not add up the rows", line);
        }
        return result;
    }
}

/// <summary>One money movement of a WeChat Pay fund-flow bill, in fen: income (收入) or expense (支出), of a business type.</summary>
public sealed record FundFlowLine(int LineNumber, string FlowNo, string BusinessNo, string BusinessType, bool Income, long Amount, string Voucher, DateTime? At);

/// <summary>
/// WeChat Pay's fund-flow bill (GET /v3/bill/fundflowbill): UTF-8 with a BOM, a header row, detail rows whose every field
/// starts with a backtick (记账时间, 微信支付业务单号, 资金流水单号, 业务名称, 业务类型, 收支类型, 收支金额（元）, 账户结余（元）,
/// 资金变更提交申请人, 备注, 业务凭证号), then the summary header (资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额) and its
/// row, checked against the rows so that a truncated file is an error. Columns are mapped by name; the amount's brackets
/// may be full-width or ASCII.
/// </summary>
public static class WeChatPayFundFlow
{
    const string Time = "记账时间", BusinessNo = "微信支付业务单号", FlowNo = "资金流水单号", BusinessType = "业务类型", Direction = "收支类型",
        Amount = "收支金额（元）", Voucher = "业务凭证号", TotalCount = "资金流水总笔数", IncomeCount = "收入笔数", IncomeAmount = "收入金额",
        ExpenseCount = "支出笔数", ExpenseAmount = "支出金额";

    public static IReadOnlyList<FundFlowLine> Parse(string text)
    {
        text = text.TrimStart('\uFEFF').Replace("收支金额(元)", Amount, StringComparison.Ordinal);
        if (string.IsNullOrWhiteSpace(text)) return [];
        var lines = text.Split('\n');
        var totalsAt = Array.FindIndex(lines, l => l.TrimStart().StartsWith(TotalCount, StringComparison.Ordinal));
        if (totalsAt < 1) throw new BillFormatException($"no summary ({TotalCount}…): the file is truncated");
        var result = new List<FundFlowLine>();
        using (var reader = BillCsv.Open(string.Join('\n', lines[..totalsAt]).Replace("`", "", StringComparison.Ordinal)))
        {
            var c = BillCsv.Columns(reader, [Time, BusinessNo, FlowNo, BusinessType, Direction, Amount, Voucher]);
            foreach (var line in BillCsv.Records(reader))
            {
                string Field(string name) => reader.GetString(c[name]);
                var income = Field(Direction) switch
                {
                    "收入" => true,
                    "支出" => false,
                    var other => throw new BillFormatException($"unknown {Direction} '{other}'", line),
                };
                result.Add(new FundFlowLine(line, Field(FlowNo), Field(BusinessNo), Field(BusinessType), income,
                    BillAmounts.MinorUnits(Field(Amount), "CNY", line, Amount), Field(Voucher), BillAmounts.ChinaTime(Field(Time))));
            }
        }
        using (var reader = BillCsv.Open(string.Join('\n', lines[totalsAt..]).Replace("`", "", StringComparison.Ordinal)))
        {
            var c = BillCsv.Columns(reader, [TotalCount, IncomeCount, IncomeAmount, ExpenseCount, ExpenseAmount]);
            if (!reader.Read()) throw new BillFormatException("the summary row is missing: the file is truncated", totalsAt + 1);
            var line = totalsAt + (int)reader.LineNumber;
            string Field(string name) => reader.GetString(c[name]);
            var (incomes, expenses) = (result.Where(r => r.Income).ToList(), result.Where(r => !r.Income).ToList());
            if (Field(TotalCount) != result.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) ||
                Field(IncomeCount) != incomes.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) ||
                Field(ExpenseCount) != expenses.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))
                throw new BillFormatException($"the summary counts {Field(TotalCount)}/{Field(IncomeCount)}/{Field(ExpenseCount)} ≠ the rows': the file is truncated", line);
            if (BillAmounts.MinorUnits(Field(IncomeAmount), "CNY", line, IncomeAmount) != incomes.Sum(r => r.Amount) ||
                BillAmounts.MinorUnits(Field(ExpenseAmount), "CNY", line, ExpenseAmount) != expenses.Sum(r => r.Amount))
                throw new BillFormatException("the summary amounts do not add up the rows", line);
        }
        return result;
    }
}
