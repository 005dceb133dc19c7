using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <param name="Counts">The merchant's differences of the run by class, resolved or not.</param>
public sealed record ReconciliationCompletedView(
    string Id, string Object, string Provider, string Date, int LineCount, int Matched, int Differences, IReadOnlyDictionary<string, int> Counts);

/// <summary>
/// The reconciliation.completed event, one per merchant that the bill or the differences name, committed with the run's
/// completion. A run covers the provider account's whole bill; each merchant sees its own counts.
/// </summary>
public static class ReconciliationCompleted
{
    public static async Task AddAsync(KnowPayDb db, ReconciliationRun run, DateTime now, CancellationToken ct)
    {
        var counts = await db.ReconciliationItems.Where(i => i.RunId == run.Id && i.MerchantId != null)
            .GroupBy(i => new { i.MerchantId, i.Kind }).Select(g => new { g.Key.MerchantId, g.Key.Kind, Count = g.Count() }).ToListAsync(ct);
        var billed = await db.Payments
            .Where(p => db.BillLines.Any(l => l.Provider == run.Provider && l.Day == run.Day && l.Kind == "payment" && l.OutTradeNo == p.Id))
            .Select(p => p.MerchantId).Distinct().ToListAsync(ct);
        var date = run.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        foreach (var merchantId in billed.Concat(counts.Select(c => c.MerchantId!)).Distinct(StringComparer.Ordinal))
        {
            var mine = counts.Where(c => c.MerchantId == merchantId).ToDictionary(c => c.Kind, c => c.Count, StringComparer.Ordinal);
            Outbox.Add(db, merchantId, EventTypes.ReconciliationCompleted, run.Id,
                new ReconciliationCompletedView(run.Id, "reconciliation_run", run.Provider, date, run.LineCount, run.Matched, run.Differences, mine), now);
        }
    }
}
