using System.Globalization;
using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <param name="Provider">alipay, wechatpay, stripe or sandbox.</param>
/// <param name="Date">The provider's day, yyyy-MM-dd (China time for Alipay and WeChat Pay, UTC for Stripe and SandboxPay).</param>
public sealed record StartReconciliationRequest(string? Provider, string? Date);

public sealed record ReconciliationRunView(
    string Id, string Object, string Provider, string Date, string Status, string? Reason, int? FailedLine, int LineCount, string? Checksum,
    int Matched, int Differences, int Attempts, DateTime CreatedAt, DateTime? CompletedAt)
{
    public static ReconciliationRunView From(ReconciliationRun r) => new(
        r.Id, "reconciliation_run", r.Provider, r.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), r.Status, r.Reason, r.FailedLine,
        r.LineCount, r.Checksum, r.Matched, r.Differences, r.Attempts, r.CreatedAt, r.CompletedAt);
}

/// <param name="Kind">
/// missing_in_knowpay, missing_at_provider, amount_mismatch, status_mismatch, currency_mismatch, fee_mismatch (trued up by
/// <see cref="JournalId"/>), ledger_difference (<see cref="ExpectedAmount"/> what the ledger moved, <see cref="BillAmount"/> the
/// bill's net), entitlement_missing, entitlement_without_payment (<see cref="OfferedAction"/> grant or revoke, never applied by the run).
/// </param>
public sealed record ReconciliationItemView(
    string Id, string Object, string RunId, string Kind, string? PaymentId, string? RefundId, string? LineKey, long? ExpectedAmount,
    long? BillAmount, string? Currency, string? Resolution, string? Note, DateTime CreatedAt,
    string? OrderId = null, string? EntitlementId = null, DateTime? ResolvedAt = null, string? ResolvedBy = null, string? ResolutionNote = null,
    string? OfferedAction = null, string? JournalId = null)
{
    public static ReconciliationItemView From(ReconciliationItem i) => new(
        i.Id, "reconciliation_item", i.RunId, i.Kind, i.PaymentId, i.RefundId, i.LineKey, i.ExpectedAmount, i.BillAmount, i.Currency,
        i.Resolution, i.Note, i.CreatedAt, i.OrderId, i.EntitlementId, i.ResolvedAt, i.ResolvedBy, i.ResolutionNote, i.OfferedAction, i.JournalId);
}

/// <summary>
/// POST /v1/reconciliation/runs runs one provider's day now; GET /v1/reconciliation/runs/{id} and …/items?kind= read it.
/// A run covers the provider account's whole bill; the items listed are the calling merchant's (and the bill's trades
/// that belong to no one).
/// </summary>
public static class ReconciliationRuns
{
    public static void Map(RouteGroupBuilder v1)
    {
        var runs = v1.MapGroup("/reconciliation/runs");
        runs.MapPost("", Start).RequireScope("ledger:read");
        runs.MapGet("/{id}", Get).RequireScope("ledger:read");
        runs.MapGet("/{id}/items", Items).RequireScope("ledger:read");
        runs.MapGet("/{id}/items.csv", ReconciliationExport.Csv).RequireScope("ledger:read").WithName("exportReconciliationRunItems");
        ResolveItem.Map(v1);
    }

    static async Task<Results<Ok<ReconciliationRunView>, ProblemHttpResult>> Start(
        StartReconciliationRequest body, BillSources bills, RunReconciliation reconciliation, TimeProvider clock, CancellationToken ct)
    {
        if (body.Provider is not { } provider || !bills.Enabled.Contains(provider))
            return Problems.Invalid("provider_invalid", "provider", $"provider is one of: {string.Join(", ", bills.Enabled)}.");
        if (!DateOnly.TryParseExact(body.Date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return Problems.Invalid("date_invalid", "date", "date is the provider's day as yyyy-MM-dd.");
        if (day > BillSources.DayOf(provider, clock.GetUtcNow().UtcDateTime))
            return Problems.Invalid("date_invalid", "date", "date is not in the future of the provider's day.");
        return TypedResults.Ok(ReconciliationRunView.From(await reconciliation.RunAsync(provider, day, ct)));
    }

    static async Task<Results<Ok<ReconciliationRunView>, ProblemHttpResult>> Get(string id, KnowPayDb db, CancellationToken ct) =>
        await db.ReconciliationRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id, ct) is { } run
            ? TypedResults.Ok(ReconciliationRunView.From(run))
            : Problems.NotFound("reconciliation run", id);

    static async Task<Results<Ok<ListPage<ReconciliationItemView>>, ProblemHttpResult>> Items(
        string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, string? kind, int? limit, string? starting_after)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        if (kind is not null && !ItemKinds.All.Contains(kind))
            return Problems.Invalid("kind_invalid", "kind", $"kind is one of: {string.Join(", ", ItemKinds.All)}.");
        if (!await db.ReconciliationRuns.AnyAsync(r => r.Id == id, ct)) return Problems.NotFound("reconciliation run", id);
        var query = db.ReconciliationItems.AsNoTracking().Where(i => i.RunId == id && (i.MerchantId == merchant.Id || i.MerchantId == null));
        if (kind is not null) query = query.Where(i => i.Kind == kind);
        if (starting_after is not null) query = query.Where(i => string.Compare(i.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(i => i.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, ReconciliationItemView.From, i => i.Id));
    }
}
