using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// The ledger leg: per merchant and currency, the net of a provider's day on its bill (payments − refunds − fees) equals
/// what the ledger moved for the same lines on that provider's clearing and fees accounts (together, what the provider
/// owes the merchant). A line another class already reports is left to that item, so a difference is listed once; a
/// trued-up fee and a repaired missing_in_knowpay are in. One grouped query per side, whatever the size of the day.
/// Days: a bill day is the provider's (China time for Alipay and WeChat Pay: the UTC instants [day−1 16:00, day 16:00),
/// <see cref="BillSources.Window"/>), a ledger day is UTC. The leg never cuts the ledger by day: it takes the journals of
/// the bill's own lines, whenever posted, so both sides cover the same trades and instants, and a China-time day that
/// spans two UTC ledger days is compared whole. The close of a UTC ledger day waits for every run whose bill day overlaps
/// it (for China time, that day's and the next day's bills: <see cref="Ledger.DailyClose"/>).
/// </summary>
public static class LedgerLeg
{
    public static async Task<List<ReconciliationItem>> FindAsync(KnowPayDb db, ReconciliationRun run, DateTime now, CancellationToken ct)
    {
        var lines = db.BillLines.Where(l => l.Provider == run.Provider && l.Day == run.Day && l.Status == "succeeded" &&
            !db.ReconciliationItems.Any(i => i.RunId == run.Id && i.LineKey == l.Key && i.Kind != ItemKinds.FeeMismatch &&
                !(i.Kind == ItemKinds.MissingInKnowPay && i.Resolution == "confirmed")));

        var billed = await lines.Join(db.Payments, l => l.OutTradeNo, p => p.Id,
                (l, p) => new { p.MerchantId, l.Currency, Net = l.Kind == "payment" ? l.Amount - l.Fee : l.Fee - l.Amount })
            .GroupBy(x => new { x.MerchantId, x.Currency })
            .Select(g => new { g.Key.MerchantId, g.Key.Currency, Sum = g.Sum(x => x.Net) })
            .ToListAsync(ct);

        // A payment line carries its payment's journals but not its refunds'; a refund line carries its refund's and its true-up.
        string clearing = $"provider:{run.Provider}:clearing:", fees = $"provider:{run.Provider}:fees:";
        var posted = await lines.Join(db.Journals, l => (string?)l.OutTradeNo, j => j.PaymentId, (l, j) => new { l, j })
            .Where(x => (x.l.Kind == "payment" && x.j.SourceType != "refund" && (x.j.SourceType != FeeTrueUps.SourceType || x.j.SourceId == x.l.OutTradeNo)) ||
                        (x.l.Kind == "refund" && (x.j.SourceType == "refund" || x.j.SourceType == FeeTrueUps.SourceType) && x.j.SourceId == x.l.OutRefundNo))
            .Join(db.LedgerEntries.Where(e => e.Account.StartsWith(clearing) || e.Account.StartsWith(fees)), x => x.j.Id, e => e.JournalId,
                (x, e) => new { x.j.MerchantId, e.Currency, e.Amount })
            .GroupBy(x => new { x.MerchantId, x.Currency })
            .Select(g => new { g.Key.MerchantId, g.Key.Currency, Sum = g.Sum(x => x.Amount) })
            .ToListAsync(ct);

        var bill = billed.ToDictionary(b => (b.MerchantId, b.Currency), b => b.Sum);
        var ledger = posted.ToDictionary(p => (p.MerchantId, p.Currency), p => p.Sum);
        return bill.Keys.Union(ledger.Keys).Order()
            .Select(k => (k.MerchantId, k.Currency, Bill: bill.GetValueOrDefault(k), Ledger: ledger.GetValueOrDefault(k)))
            .Where(x => x.Bill != x.Ledger)
            .Select(x => new ReconciliationItem
            {
                Id = Domain.Ids.New("rci"), RunId = run.Id, Kind = ItemKinds.LedgerDifference, MerchantId = x.MerchantId,
                LineKey = $"ledger:{x.MerchantId}:{x.Currency}", ExpectedAmount = x.Ledger, BillAmount = x.Bill, Currency = x.Currency, CreatedAt = now,
                Note = $"the ledger moved {x.Ledger} on {run.Provider}'s clearing and fees accounts for the bill's lines; the bill nets {x.Bill}",
            })
            .ToList();
    }
}
