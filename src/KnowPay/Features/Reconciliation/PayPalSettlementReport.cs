using CsvHelper;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// PayPal's settlement report (STL-yyyymmdd.seq.ver.CSV): UTF-8, double-quoted text, every row led by its record type
/// (RH/FH/SH report, file and section headers, CH the column names, SB a transaction, SF/SC/RF/RC/FF/FC footers and
/// counts). Amounts are unsigned minor units with a debit/credit column; T-codes classify rows (T00xx payments, T11xx
/// refunds; others — transfers, holds — are not matched). KnowPay's payment id is the Custom Field, its refund id the Invoice ID.
/// </summary>
public static class PayPalSettlementReport
{
    const string TransactionId = "Transaction ID", InvoiceId = "Invoice ID", ReferenceId = "PayPal Reference ID", EventCode = "Transaction Event Code",
        CompletedAt = "Transaction Completion Date", DebitOrCredit = "Transaction Debit or Credit", Gross = "Gross Transaction Amount",
        Currency = "Gross Transaction Currency", Fee = "Fee Amount", CustomField = "Custom Field";

    public static IReadOnlyList<BillLine> Parse(string text)
    {
        using var reader = CsvReader.FromText(text.TrimStart('\uFEFF'), new CsvReaderOptions
        {
            HasHeader = false, TrimWhitespace = true, TrackLineNumbers = true, SkipEmptyLines = true, MalformedData = CsvMalformedDataHandling.Throw,
        });
        Dictionary<string, int>? columns = null;
        var lines = new List<BillLine>();
        var footer = false;
        foreach (var line in BillCsv.Records(reader))
        {
            switch (reader.GetString(0))
            {
                case "CH":
                    columns = Enumerable.Range(1, reader.FieldCount - 1).ToDictionary(i => reader.GetString(i), i => i, StringComparer.Ordinal);
                    foreach (var name in new[] { TransactionId, InvoiceId, EventCode, DebitOrCredit, Gross, Currency, Fee, CustomField })
                        if (!columns.ContainsKey(name)) throw new BillFormatException($"missing column {name}", line);
                    break;
                case "SB":
                    if (columns is null) throw new BillFormatException("a transaction row before the column header (CH)", line);
                    string Field(string name) => columns.TryGetValue(name, out var i) && i < reader.FieldCount ? reader.GetString(i) : "";
                    var code = Field(EventCode);
                    var kind = code.StartsWith("T00", StringComparison.Ordinal) ? BillLineKind.Payment
                        : code.StartsWith("T11", StringComparison.Ordinal) ? BillLineKind.Refund : (BillLineKind?)null;
                    if (kind is null) break;
                    var currency = Field(Currency);
                    var amount = MinorUnits(Field(Gross), currency, line, Gross);
                    var fee = MinorUnits(Field(Fee) is { Length: > 0 } f ? f : "0", currency, line, Fee);
                    var expected = kind == BillLineKind.Payment ? "CR" : "DR";
                    if (Field(DebitOrCredit) != expected)
                        throw new BillFormatException($"{code} is {Field(DebitOrCredit)}, expected {expected}", line);
                    DateTime? at = DateTimeOffset.TryParse(Field(CompletedAt), System.Globalization.CultureInfo.InvariantCulture,
                        System.Globalization.DateTimeStyles.None, out var t) ? t.UtcDateTime : null;
                    var custom = Field(CustomField);
                    if (custom.Length == 0) throw new BillFormatException($"column {CustomField} is empty", line);
                    lines.Add(kind == BillLineKind.Payment
                        ? new BillLine(line, BillLineKind.Payment, custom, Field(TransactionId), null, null, amount, currency, fee, BillLineStatus.Succeeded, at)
                        : new BillLine(line, BillLineKind.Refund, custom, Field(ReferenceId), Field(InvoiceId) is { Length: > 0 } inv ? inv : Field(TransactionId),
                            Field(TransactionId), amount, currency, fee, BillLineStatus.Succeeded, at));
                    break;
                case "RF" or "FF":
                    footer = true;
                    break;
            }
        }
        if (!footer) throw new BillFormatException("no report footer (RF): the file is truncated");
        return lines;
    }

    /// <summary>Unsigned minor units, digits only: PayPal writes 12345 for 123.45 USD and 500 for 500 JPY.</summary>
    static long MinorUnits(string text, string currency, int line, string column)
    {
        if (!Domain.Currency.TryFind(currency, out _)) throw new BillFormatException($"unknown currency '{currency}'", line);
        return text.Length is > 0 and <= 18 && text.All(char.IsAsciiDigit) ? long.Parse(text, System.Globalization.CultureInfo.InvariantCulture)
            : throw new BillFormatException($"column {column}: '{text}' is not an unsigned amount in minor units", line);
    }
}
