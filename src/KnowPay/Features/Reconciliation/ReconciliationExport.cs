using System.Globalization;
using CsvHelper;
using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// GET /v1/reconciliation/runs/{id}/items.csv: every difference of the run the caller may see (its own and the bill's
/// trades of no one), one row each, for a spreadsheet; cells that a spreadsheet would run as a formula are escaped.
/// </summary>
public static class ReconciliationExport
{
    static readonly string[] Header =
    [
        "id", "kind", "payment_id", "refund_id", "order_id", "entitlement_id", "line_key", "currency", "expected_amount", "bill_amount",
        "resolution", "resolved_at", "resolved_by", "note", "resolution_note", "created_at",
    ];

    public static async Task<IResult> Csv(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct) =>
        await FileAsync(db, id, merchant.Id, ct) ?? Problems.NotFound("reconciliation run", id);

    /// <summary>The run's CSV file as the merchant may see it, or null when there is no such run.</summary>
    public static async Task<IResult?> FileAsync(KnowPayDb db, string id, string merchantId, CancellationToken ct)
    {
        var run = await db.ReconciliationRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id, ct);
        if (run is null) return null;
        var items = await db.ReconciliationItems.AsNoTracking().Where(i => i.RunId == id && (i.MerchantId == merchantId || i.MerchantId == null))
            .OrderBy(i => i.Kind).ThenBy(i => i.Id).ToListAsync(ct);
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        using (var csv = CsvWriter.Create(text, new CsvWriterOptions { Injection = CsvInjection.Escape }, true))
        {
            csv.WriteRecord(Header);
            foreach (var i in items)
                csv.WriteRecord(
                [
                    i.Id, i.Kind, i.PaymentId, i.RefundId, i.OrderId, i.EntitlementId, i.LineKey, i.Currency, Number(i.ExpectedAmount), Number(i.BillAmount),
                    i.Resolution, Time(i.ResolvedAt), i.ResolvedBy, i.Note, i.ResolutionNote, Time(i.CreatedAt),
                ]);
        }
        var file = $"reconciliation-{run.Provider}-{run.Day:yyyy-MM-dd}-{run.Id}.csv";
        return Results.File(System.Text.Encoding.UTF8.GetBytes(text.ToString()), "text/csv; charset=utf-8", file);
    }

    static string? Number(long? amount) => amount?.ToString(CultureInfo.InvariantCulture);

    static string? Time(DateTime? at) => at?.ToString("O", CultureInfo.InvariantCulture);
}
