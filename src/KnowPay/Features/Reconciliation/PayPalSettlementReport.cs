using CsvHelper;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// PayPal's settlement report (STL-yyyymmdd.seq.ver.CSV): UTF-8, double-quoted text, every row led by its record type
/// (RH/FH/SH report, file and section headers, CH the column names, SB a transaction, SF/SC/RF/RC/FF/FC footers and
/// counts). Amounts are unsigned minor units with a debit/credit column (JPY in whole yen); a section's per-currency totals
/// (SF: gross credit, gross debit, fee credit, fee debit) and row count (SC) are checked against its rows, so a truncated
/// file is an error; T-codes classify rows (T00xx payments, T11xx
/// refunds; others — transfers, holds — are not matched). KnowPay's payment id is the Custom Field, its refund id the Invoice ID,
/// its PayPal trade number the order id a payment row references (type ODR).
/// </summary>
public static class PayPalSettlementReport
{
    const string TransactionId = "Transaction ID", InvoiceId = "Invoice ID", ReferenceId = "PayPal Reference ID", ReferenceIdType = "PayPal Reference ID Type", EventCode = "Transaction Event Code",
        CompletedAt = "Transaction Completion Date", DebitOrCredit = "Transaction Debit or Credit", Gross = "Gross Transaction Amount",
        Currency = "Gross Transaction Currency", Fee = "Fee Amount", FeeDebitOrCredit = "Fee Debit or Credit", CustomField = "Custom Field";

    public static IReadOnlyList<BillLine> Parse(string text)
    {
        using var reader = CsvReader.FromText(text.TrimStart('\uFEFF'), new CsvReaderOptions
        {
            HasHeader = false, TrimWhitespace = true, TrackLineNumbers = true, SkipEmptyLines = true, MalformedData = CsvMalformedDataHandling.Throw,
        });
        Dictionary<string, int>? columns = null;
        var lines = new List<BillLine>();
        var footer = false;
        // Per currency: gross credit, gross debit, fee credit, fee debit of the section's rows, checked against its SF footer.
        var totals = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var sectionRows = 0;
        foreach (var line in BillCsv.Records(reader))
        {
            switch (reader.GetString(0))
            {
                case "CH":
                    columns = Enumerable.Range(1, reader.FieldCount - 1).ToDictionary(i => reader.GetString(i), i => i, StringComparer.Ordinal);
                    foreach (var name in new[] { TransactionId, InvoiceId, EventCode, DebitOrCredit, Gross, Currency, Fee, CustomField })
                        if (!columns.ContainsKey(name)) throw new BillFormatException($"missing column {name}", line);
                    break;
                case "SH":
                    totals.Clear();
                    sectionRows = 0;
                    break;
                case "SB":
                    if (columns is null) throw new BillFormatException("a transaction row before the column header (CH)", line);
                    if (reader.FieldCount < columns.Count + 1) throw new BillFormatException($"{reader.FieldCount} fields, the header has {columns.Count + 1}", line);
                    string Field(string name) => columns.TryGetValue(name, out var i) && i < reader.FieldCount ? reader.GetString(i) : "";
                    var currency = Field(Currency);
                    var amount = MinorUnits(Field(Gross), currency, line, Gross);
                    var fee = MinorUnits(Field(Fee) is { Length: > 0 } f ? f : "0", currency, line, Fee);
                    var sums = totals.TryGetValue(currency, out var s) ? s : totals[currency] = new long[4];
                    sums[Field(DebitOrCredit) == "CR" ? 0 : 1] += amount;
                    sums[Field(FeeDebitOrCredit) == "CR" ? 2 : 3] += fee;
                    sectionRows++;
                    var code = Field(EventCode);
                    var kind = code.StartsWith("T00", StringComparison.Ordinal) ? BillLineKind.Payment
                        : code.StartsWith("T11", StringComparison.Ordinal) ? BillLineKind.Refund : (BillLineKind?)null;
                    if (kind is null) break;
                    var (expected, expectedFee) = kind == BillLineKind.Payment ? ("CR", "DR") : ("DR", "CR");
                    if (Field(DebitOrCredit) != expected)
                        throw new BillFormatException($"{code} is {Field(DebitOrCredit)}, expected {expected}", line);
                    // A payment's fee is charged (DR), a refund's is given back (CR): the line carries it unsigned.
                    if (fee != 0 && columns.ContainsKey(FeeDebitOrCredit) && Field(FeeDebitOrCredit) != expectedFee)
                        throw new BillFormatException($"{code}'s fee is {Field(FeeDebitOrCredit)}, expected {expectedFee}", line);
                    DateTime? at = DateTimeOffset.TryParse(Field(CompletedAt), System.Globalization.CultureInfo.InvariantCulture,
                        System.Globalization.DateTimeStyles.None, out var t) ? t.UtcDateTime : null;
                    var custom = Field(CustomField);
                    if (custom.Length == 0) throw new BillFormatException($"column {CustomField} is empty", line);
                    lines.Add(kind == BillLineKind.Payment
                        // KnowPay knows a PayPal payment by its order id: the capture's reference of type ODR.
                        ? new BillLine(line, BillLineKind.Payment, custom, Field(ReferenceIdType) == "ODR" ? Field(ReferenceId) : null, null, null, amount,
                            currency, fee, BillLineStatus.Succeeded, at)
                        : new BillLine(line, BillLineKind.Refund, custom, Field(ReferenceId), Field(InvoiceId) is { Length: > 0 } inv ? inv : Field(TransactionId),
                            Field(TransactionId), amount, currency, fee, BillLineStatus.Succeeded, at));
                    break;
                case "SF" when reader.FieldCount >= 6:
                {
                    var currency2 = reader.GetString(1);
                    var stated = Enumerable.Range(2, 4).Select(i => MinorUnits(reader.GetString(i), currency2, line, "SF")).ToArray();
                    if (!stated.SequenceEqual(totals.GetValueOrDefault(currency2) ?? new long[4]))
                        throw new BillFormatException($"the {currency2} section totals ({string.Join('/', stated)}) do not add up its rows", line);
                    break;
                }
                case "SC" when reader.FieldCount >= 2:
                    if (reader.GetString(1) != sectionRows.ToString(System.Globalization.CultureInfo.InvariantCulture))
                        throw new BillFormatException($"the section count {reader.GetString(1)} ≠ {sectionRows} rows: the file is truncated", line);
                    break;
                case "RF":
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
