using System.Globalization;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// SandboxPay's daily bill (GET /v1/bills/{yyyy-MM-dd}, UTC days): UTF-8 CSV with a header row, columns
/// <c>type,trade_no,out_trade_no,refund_no,out_refund_no,currency,amount,fee,completed_at</c>; amounts are unsigned minor
/// units of the row's currency; every row is a success. The header alone is an empty day.
/// </summary>
public static class SandboxPayBill
{
    const string Type = "type", TradeNo = "trade_no", OutTradeNo = "out_trade_no", RefundNo = "refund_no", OutRefundNo = "out_refund_no",
        Currency = "currency", Amount = "amount", Fee = "fee", CompletedAt = "completed_at";

    public static IReadOnlyList<BillLine> Parse(string text)
    {
        text = text.TrimStart('\uFEFF');
        if (string.IsNullOrWhiteSpace(text)) throw new BillFormatException("the bill has no header row", 1);
        using var reader = BillCsv.Open(text);
        var c = BillCsv.Columns(reader, [Type, TradeNo, OutTradeNo, RefundNo, OutRefundNo, Currency, Amount, Fee, CompletedAt]);
        var lines = new List<BillLine>();
        foreach (var line in BillCsv.Records(reader))
        {
            string Field(string name) => reader.GetString(c[name]);
            var currency = Field(Currency);
            var amount = MinorUnits(Field(Amount), currency, line, Amount);
            var fee = MinorUnits(Field(Fee), currency, line, Fee);
            DateTime? at = DateTimeOffset.TryParse(Field(CompletedAt), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t.UtcDateTime : null;
            var outTradeNo = Field(OutTradeNo);
            if (outTradeNo.Length == 0) throw new BillFormatException($"column {OutTradeNo} is empty", line);
            lines.Add(Field(Type) switch
            {
                "payment" => new BillLine(line, BillLineKind.Payment, outTradeNo, Field(TradeNo), null, null, amount, currency, fee, BillLineStatus.Succeeded, at),
                "refund" when Field(OutRefundNo) is { Length: > 0 } outRefundNo =>
                    new BillLine(line, BillLineKind.Refund, outTradeNo, Field(TradeNo), outRefundNo, Field(RefundNo), amount, currency, fee, BillLineStatus.Succeeded, at),
                "refund" => throw new BillFormatException($"a refund row without {OutRefundNo}", line),
                var other => throw new BillFormatException($"unknown {Type} '{other}'", line),
            });
        }
        return lines;
    }

    /// <summary>Unsigned minor units, digits only, of a currency KnowPay knows.</summary>
    static long MinorUnits(string text, string currency, int line, string column)
    {
        if (!Domain.Currency.TryFind(currency, out _)) throw new BillFormatException($"unknown currency '{currency}'", line);
        return text.Length is > 0 and <= 18 && text.All(char.IsAsciiDigit) ? long.Parse(text, CultureInfo.InvariantCulture)
            : throw new BillFormatException($"column {column}: '{text}' is not an unsigned amount in minor units", line);
    }
}
