
namespace KnowPay.Sandbox;

public enum BillEntryKind { Payment, Refund }

/// <summary>
/// One row a simulator's bill carries, before the simulator writes it in its provider's format: the trade it comes from
/// (<paramref name="Source"/>, for the format's other columns), the merchant's trade key, the amounts in minor units and
/// the instant the provider books it. <paramref name="Extra"/> marks a row the provider has and the merchant never sent;
/// <paramref name="Currency"/>, when set, is the currency the bill states instead of the trade's; <paramref name="Pending"/>
/// books the row as still in progress (where the format has a row status).
/// </summary>
public sealed record BillEntry<TSource>(
    BillEntryKind Kind, TSource Source, string OutTradeNo, string? OutRefundNo, long Amount, long Fee, DateTimeOffset At, bool Extra = false,
    string? Currency = null, bool Pending = false);

/// <summary>
/// The bill faults of <see cref="SandboxFaults"/> as every simulator applies them to its day's rows, so that the
/// discrepancies a reconciliation must find are made once for all providers: a trade left off, an extra trade (a copy
/// of a real one under another out_trade_no), an amount or a fee off, another currency, a row still in progress, a
/// refund booked on the next day or giving back a fee other than none. A payment row takes its trade's faults; a refund
/// row takes those set on its out_refund_no (and its trade's next-day booking and refund fee).
/// </summary>
public sealed class SandboxBills(SandboxFaults faults, SandboxOptions options)
{
    /// <summary>
    /// The rows of <paramref name="day"/> (cut at midnight of <paramref name="offset"/>) from every candidate row, faults
    /// applied. Candidates are all rows the simulator remembers; each is billed on the day of its instant.
    /// </summary>
    public List<BillEntry<T>> Day<T>(DateOnly day, TimeSpan offset, IEnumerable<BillEntry<T>> candidates) =>
        Between(candidates, at => DateOnly.FromDateTime(at.ToOffset(offset).DateTime) == day);

    /// <summary>The rows whose instant (a refund's moved a day later by its fault) <paramref name="inRange"/> takes, faults applied.</summary>
    public List<BillEntry<T>> Between<T>(IEnumerable<BillEntry<T>> candidates, Func<DateTimeOffset, bool> inRange)
    {
        var rows = new List<BillEntry<T>>();
        foreach (var candidate in candidates)
        {
            var fault = faults.For(candidate.OutTradeNo);
            var entry = candidate;
            if (entry.Kind == BillEntryKind.Refund)
                entry = entry with { At = fault.BillRefundNextDay ? entry.At.AddDays(1) : entry.At, Fee = entry.Fee + fault.BillRefundFeeDelta };
            if (!inRange(entry.At)) continue;
            if (entry.Kind == BillEntryKind.Payment && fault.BillExtraTrade is { Length: > 0 } extra) rows.Add(entry with { OutTradeNo = extra, Extra = true });
            var row = entry.Kind == BillEntryKind.Payment ? fault : faults.Only(entry.OutRefundNo!);
            if (row is not null)
            {
                if (row.BillOmits) continue;
                entry = entry with
                {
                    Amount = entry.Amount + row.BillAmountDelta, Fee = entry.Fee + row.BillFeeDelta, Currency = row.BillCurrency ?? entry.Currency,
                    Pending = entry.Pending || row.BillPending,
                };
            }
            rows.Add(entry);
        }
        return rows;
    }

    /// <summary>The fault key of one bill of a day (e.g. wechatpay, fundflowbill), for BillNotReady and BillCorrupt.</summary>
    public static string FaultKey(string provider, string bill, DateOnly day) => $"bill:{provider}:{bill}:{day:yyyy-MM-dd}";

    /// <summary>The faults set for one bill of a day (<see cref="FaultKey"/>), else the global ones.</summary>
    public FaultSettings BillFaults(string provider, string bill, DateOnly day) => faults.For(FaultKey(provider, bill, day));

    /// <summary>The fee the provider charges on a payment: what <see cref="SandboxOptions.Fees"/> says for it (none by default).</summary>
    public long Fee(string provider, long amount) => options.Fees.TryGetValue(provider, out var fee)
        ? Math.Min(amount, fee.Fixed + (long)Math.Round((decimal)amount * fee.BasisPoints / 10_000m, MidpointRounding.AwayFromZero))
        : 0;
}
