namespace KnowPay.Sandbox.PayPal;

/// <summary>
/// PayPal's settlement report (STL) as its SFTP drop holds it, served here over HTTP at /paypal/reports/STL-yyyymmdd.01.008.CSV
/// (one file a day, sequence 01, report version 008). UTF-8; varchar fields double-quoted, amounts unquoted, unsigned, in
/// minor units with no separator (12345 is 123.45 USD, 500 is 500 JPY) and a debit/credit column; each row starts with
/// its record type: RH report header, FH file header, SH section header, CH column names, SB one transaction (T0006 a
/// captured payment, T1107 a refund), SF/SC a section's per-currency totals and row count, RF/RC the report's per-currency
/// totals with beginning and ending balances and its row count, FF/FC the file's footer and count. The day is cut at UTC
/// midnight; the bill faults of <see cref="SandboxBills"/> apply, and BillNotReady is a 404 (not on the drop yet). Like the
/// other simulators' bills, the day's file is there at once, as it stands.
/// </summary>
public sealed partial class PayPalSimulator
{
    public const string AccountId = "SANDBOXMERCHANT1";
    public const string StlColumns = "\"CH\",\"Transaction ID\",\"Invoice ID\",\"PayPal Reference ID\",\"PayPal Reference ID Type\",\"Transaction Event Code\"," +
        "\"Transaction Initiation Date\",\"Transaction Completion Date\",\"Transaction Debit or Credit\",\"Gross Transaction Amount\"," +
        "\"Gross Transaction Currency\",\"Fee Debit or Credit\",\"Fee Amount\",\"Fee Currency\",\"Custom Field\",\"Consumer ID\",\"Payment Tracking ID\",\"Store ID\"";

    /// <summary>One billed capture or refund: the order it belongs to and the refund object, if a refund.</summary>
    sealed record StlSource(PayPalOrder Order, JsonObject? Refund);

    IResult SettlementReport(string file)
    {
        if (!file.StartsWith("STL-", StringComparison.Ordinal) || !file.EndsWith(".01.008.CSV", StringComparison.Ordinal) ||
            !DateOnly.TryParseExact(file[4..12], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return Results.NotFound();
        var faults = billing.BillFaults("paypal", "stl", day);
        if (faults.BillNotReady) return Results.NotFound();
        var entries = Entries();
        var before = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var text = Stl(day, billing.Day(day, TimeSpan.Zero, entries), billing.Between(entries, at => at < before));
        // A corrupt file is one cut short mid-row, as a transfer that broke off leaves it.
        if (faults.BillCorrupt) text = text[..((text.IndexOf("\"SF\"", StringComparison.Ordinal) is >= 0 and var sf ? sf : text.IndexOf("\"SC\"", StringComparison.Ordinal)) - 7)];
        return Results.Bytes(Encoding.UTF8.GetBytes(text), "text/csv; charset=utf-8");
    }

    /// <summary>Every completed capture (when it was captured) and refund (when it was made) the simulator remembers.</summary>
    List<BillEntry<StlSource>> Entries()
    {
        var entries = new List<BillEntry<StlSource>>();
        foreach (var o in orders.Values)
            lock (o)
            {
                if (o.Capture is not { } capture || (string?)capture["status"] is "DECLINED" or "FAILED") continue;
                var amount = Minor(o.Value, o.CurrencyCode);
                entries.Add(new(BillEntryKind.Payment, new(o, null), o.TradeKey, null, amount, billing.Fee("paypal", amount), Time(capture)));
                foreach (var r in o.Refunds.Where(r => (string?)r["status"] == "COMPLETED"))
                    entries.Add(new(BillEntryKind.Refund, new(o, r), o.TradeKey, (string?)r["invoice_id"] ?? (string)r["id"]!,
                        Minor((string)r["amount"]!["value"]!, o.CurrencyCode), 0, Time(r)));
            }
        return entries;

        static DateTimeOffset Time(JsonObject o) => DateTimeOffset.Parse((string)o["create_time"]!, CultureInfo.InvariantCulture);
    }

    static string Stl(DateOnly day, List<BillEntry<StlSource>> rows, List<BillEntry<StlSource>> earlier)
    {
        var sb = new StringBuilder();
        void Row(params object[] fields) => sb.AppendJoin(',', fields.Select(f => f switch
        {
            long n => n.ToString(CultureInfo.InvariantCulture),
            int n => n.ToString(CultureInfo.InvariantCulture),
            Unquoted u => u.Text,
            _ => "\"" + Convert.ToString(f, CultureInfo.InvariantCulture)!.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"",
        })).Append("\r\n");
        Row("RH", new Unquoted(Stamp(new DateTimeOffset(day.AddDays(1).ToDateTime(new TimeOnly(4, 0)), TimeSpan.Zero))), "A", AccountId, new Unquoted("008"));
        Row("FH", new Unquoted("01"));
        Row("SH", new Unquoted(Stamp(new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero))),
            new Unquoted(Stamp(new DateTimeOffset(day.ToDateTime(new TimeOnly(23, 59, 59)), TimeSpan.Zero))), AccountId, "");
        sb.Append(StlColumns).Append("\r\n");
        var totals = new SortedDictionary<string, (long GrossCr, long GrossDr, long FeeCr, long FeeDr)>(StringComparer.Ordinal);
        foreach (var e in rows.OrderBy(e => e.At))
        {
            var (order, refund) = e.Source;
            string currency, captureId;
            lock (order) (currency, captureId) = (order.CurrencyCode, (string)order.Capture!["id"]!);
            var t = totals.GetValueOrDefault(currency);
            var stamp = new Unquoted(Stamp(e.At));
            if (e.Kind == BillEntryKind.Payment)
            {
                totals[currency] = t with { GrossCr = t.GrossCr + e.Amount, FeeDr = t.FeeDr + e.Fee };
                // An extra trade is a copy of a real one under another custom field, with a transaction id of its own.
                Row("SB", e.Extra ? "9X" + captureId[2..] : captureId, e.OutTradeNo, order.Id, "ODR", "T0006", stamp, stamp, "CR", e.Amount, currency,
                    "DR", e.Fee, currency, e.OutTradeNo, "buyer@example.com", "", "");
            }
            else
            {
                totals[currency] = t with { GrossDr = t.GrossDr + e.Amount, FeeCr = t.FeeCr + e.Fee };
                Row("SB", (string)refund!["id"]!, e.OutRefundNo!, captureId, "TXN", "T1107", stamp, stamp, "DR", e.Amount, currency,
                    "CR", e.Fee, currency, e.OutTradeNo, "buyer@example.com", "", "");
            }
        }
        foreach (var (currency, t) in totals) Row("SF", currency, t.GrossCr, t.GrossDr, t.FeeCr, t.FeeDr);
        Row("SC", rows.Count);
        foreach (var (currency, t) in totals)
        {
            var opening = earlier.Where(e => e.Source.Order.CurrencyCode == currency)
                .Sum(e => e.Kind == BillEntryKind.Payment ? e.Amount - e.Fee : e.Fee - e.Amount);
            var closing = opening + t.GrossCr - t.GrossDr + t.FeeCr - t.FeeDr;
            Row("RF", currency, t.GrossCr, t.GrossDr, t.FeeCr, t.FeeDr, opening < 0 ? "DR" : "CR", Math.Abs(opening), closing < 0 ? "DR" : "CR", Math.Abs(closing));
        }
        if (totals.Count == 0) Row("RF", "USD", 0L, 0L, 0L, 0L, "CR", 0L, "CR", 0L);
        Row("RC", rows.Count);
        Row("FF");
        Row("FC", rows.Count);
        return sb.ToString();

        static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy'/'MM'/'dd HH:mm:ss '+0000'", CultureInfo.InvariantCulture);
    }

    /// <summary>PayPal's decimal string in minor units: JPY (and PayPal's other zero-decimal currencies) in whole units.</summary>
    static long Minor(string value, string currency) =>
        (long)(decimal.Parse(value, CultureInfo.InvariantCulture) * (PayPalWire.ZeroDecimal.Contains(currency) ? 1 : 100));

    readonly record struct Unquoted(string Text);
}
