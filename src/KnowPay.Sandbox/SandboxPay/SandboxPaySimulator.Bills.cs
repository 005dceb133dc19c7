
namespace KnowPay.Sandbox.SandboxPay;

/// <summary>
/// SandboxPay's daily bill, <c>GET /v1/bills/{yyyy-MM-dd}</c> (a signed request; the answer is signed like any other):
/// UTF-8 CSV, RFC 4180 quoting, one header row then one row per payment (on the UTC day it was paid) and per refund (on
/// the UTC day it was accepted), columns
/// <c>type,trade_no,out_trade_no,refund_no,out_refund_no,currency,amount,fee,completed_at</c>: <c>type</c> is
/// <c>payment</c> or <c>refund</c>, <c>amount</c> and <c>fee</c> are unsigned minor units of <c>currency</c> (ISO 4217,
/// upper case), <c>completed_at</c> is ISO 8601 UTC. An empty day is the header alone. The bill faults of
/// <see cref="SandboxBills"/> apply.
/// </summary>
public sealed partial class SandboxPaySimulator
{
    public const string BillHeader = "type,trade_no,out_trade_no,refund_no,out_refund_no,currency,amount,fee,completed_at";

    async Task<IResult> Bill(HttpContext http, string day)
    {
        var (ok, _, refusal) = await wire.VerifyRequestAsync(http);
        if (!ok) return refusal!;
        if (!DateOnly.TryParseExact(day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            return Error(400, "invalid_request", "the day is yyyy-MM-dd");
        if (gate.Failing(null)) return SandboxPayWire.Unavailable();
        var candidates = new List<BillEntry<Trade>>();
        foreach (var t in trades.Values)
            lock (t)
            {
                if (t.PaidAt is { } paid) candidates.Add(new(BillEntryKind.Payment, t, t.OutTradeNo, null, t.Amount, billing.Fee("sandbox", t.Amount), paid));
                foreach (var r in t.Refunds.Values.Where(r => r.Status == "SUCCESS"))
                    candidates.Add(new(BillEntryKind.Refund, t, t.OutTradeNo, r.OutRefundNo, r.Amount, 0, r.At));
            }
        var csv = new StringBuilder(BillHeader).Append("\r\n");
        foreach (var e in billing.Day(date, TimeSpan.Zero, candidates).OrderBy(e => e.At))
        {
            string tradeNo, refundNo = "";
            lock (e.Source)
            {
                // An extra trade is a copy of a real one under another out_trade_no, with a trade number of its own.
                tradeNo = e.Extra ? "sbx_e" + e.Source.TradeNo[5..] : e.Source.TradeNo;
                if (e.OutRefundNo is { } outRefundNo) refundNo = e.Source.Refunds[outRefundNo].RefundNo;
            }
            csv.AppendJoin(',', e.Kind == BillEntryKind.Payment ? "payment" : "refund", tradeNo, Quoted(e.OutTradeNo), refundNo, Quoted(e.OutRefundNo ?? ""),
                    e.Currency ?? e.Source.Currency, e.Amount.ToString(CultureInfo.InvariantCulture), e.Fee.ToString(CultureInfo.InvariantCulture),
                    e.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))
                .Append("\r\n");
        }
        return wire.SignedText(csv.ToString(), "text/csv; charset=utf-8");
    }

    /// <summary>The merchant's ids are free text: quoted when they hold a comma, a quote or a line break.</summary>
    static string Quoted(string value) => value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
