using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Ledger;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// The fee a bill line's journals carry against the fee the provider billed. A payment's net fee is what it costs
/// (positive), a refund's is minus what the provider gave back. A difference is trued up by one journal per payment or
/// refund (source fee_true_up, unique per source id in the database), so the ledger carries the real fee.
/// </summary>
public static class FeeTrueUps
{
    public const string SourceType = CloseReport.FeeTrueUpKind;

    /// <summary>The net fee the bill states for a line, in minor units.</summary>
    public static long Billed(BillLine line) => line.Kind == BillLineKind.Payment ? line.Fee : -line.Fee;

    /// <summary>The net fee posted per bill line key (absent: 0), and the keys whose fee was already trued up once.</summary>
    public sealed record Posted(Dictionary<string, long> Net, HashSet<string> TruedUp);

    /// <summary>
    /// The net fee posted for each bill line key (payment:… / refund:…) of these payments: their payment_confirmed,
    /// refund and fee_true_up journals' postings to the provider's fees account. A line with no fee posted is absent (0).
    /// </summary>
    public static async Task<Posted> PostedAsync(KnowPayDb db, string provider, IEnumerable<string> paymentIds, CancellationToken ct)
    {
        var fees = $"provider:{provider}:fees:";
        var posted = new Dictionary<string, long>(StringComparer.Ordinal);
        var truedUp = new HashSet<string>(StringComparer.Ordinal);
        foreach (var chunk in paymentIds.Distinct().Chunk(500))
        {
            var rows = await db.Journals
                .Where(j => chunk.Contains(j.PaymentId!) && (j.SourceType == "payment_confirmed" || j.SourceType == "refund" || j.SourceType == SourceType))
                .Join(db.LedgerEntries.Where(e => e.Account.StartsWith(fees)), j => j.Id, e => e.JournalId, (j, e) => new { j.SourceType, j.SourceId, j.PaymentId, e.Amount })
                .GroupBy(x => new { x.SourceType, x.SourceId, x.PaymentId })
                .Select(g => new { g.Key.SourceType, g.Key.SourceId, g.Key.PaymentId, Sum = g.Sum(x => x.Amount) })
                .ToListAsync(ct);
            foreach (var r in rows)
            {
                var key = r.SourceType == "payment_confirmed" || r.SourceId == r.PaymentId ? "payment:" + r.PaymentId : "refund:" + r.SourceId;
                posted[key] = posted.GetValueOrDefault(key) - r.Sum;   // fees are credits: a fee owed is a negative posting
                if (r.SourceType == SourceType) truedUp.Add(key);
            }
        }
        return new Posted(posted, truedUp);
    }

    /// <summary>The balanced journal moving the posted net fee to the billed one, referencing the payment and the run.</summary>
    public static LedgerJournal Journal(ReconciliationRun run, Payment payment, Refund? refund, long posted, long billed, DateTime now) =>
        Journals.Build(payment.MerchantId, SourceType, refund?.Id ?? payment.Id,
            $"Fee true-up of {(refund is null ? "payment " + payment.Id : "refund " + refund.Id)} to the {run.Provider} bill of {run.Day:yyyy-MM-dd} (reconciliation run {run.Id})",
            Postings.FeeTrueUp(run.Provider, payment.Currency, posted, billed), now, paymentId: payment.Id);
}
