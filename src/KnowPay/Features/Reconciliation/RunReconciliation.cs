using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// Runs reconciliation for one provider's day: downloads and parses the bill, stores its lines (a re-import adds none
/// twice), then matches them (<see cref="BillMatching"/>). A bill that does not parse fails the run with the reason and
/// line, and nothing is matched from it; a bill not ready yet leaves the run waiting. Either is tried again.
/// </summary>
public sealed class RunReconciliation(KnowPayDb db, BillSources bills, BillMatching matching, TimeProvider clock, ILogger<RunReconciliation> log)
{
    public async Task<ReconciliationRun> RunAsync(string provider, DateOnly day, CancellationToken ct)
    {
        var run = await ClaimAsync(provider, day, ct);
        BillFetch fetch;
        try
        {
            fetch = await bills.FetchAsync(provider, day, ct);
        }
        catch (BillFormatException e)
        {
            log.LogWarning("Reconciliation {RunId}: the {Provider} bill of {Day} does not parse: {Reason}", run.Id, provider, day, e.Message);
            return await FinishAsync(run, "failed", e.Reason, e.Line, ct);
        }
        catch (ProviderException e)
        {
            return await FinishAsync(run, "waiting", $"{e.Code}: {e.Message}", null, ct);
        }
        if (fetch is not BillFetch.Ready(var lines, var checksum))
            return await FinishAsync(run, "waiting", ((BillFetch.NotReady)fetch).Reason, null, ct);

        await StoreAsync(run, lines, ct);
        run.LineCount = lines.Count;
        run.Checksum = checksum;
        var (matched, differences) = await matching.MatchAsync(run, lines, ct);
        run.Matched = matched;
        run.Differences = differences + await CheckLegsAsync(run, ct);
        await ReconciliationCompleted.AddAsync(db, run, clock.GetUtcNow().UtcDateTime, ct);
        return await FinishAsync(run, "completed", null, null, ct);
    }

    /// <summary>
    /// The ledger and entitlement legs, after the lines are matched (and fees trued up). A difference already resolved by an
    /// earlier run of this day is not recorded twice. The entitlement leg checks standing state, not the bill: what another
    /// provider's run of the same day already lists (access that belongs to no billed provider) is listed there alone, so
    /// each such difference is listed once a day, by whichever run of the day completes first.
    /// </summary>
    async Task<int> CheckLegsAsync(ReconciliationRun run, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var entitlements = await EntitlementLeg.FindAsync(db, run, [.. bills.Enabled], now, ct);
        var keys = entitlements.Select(i => i.LineKey).ToList();
        var listedToday = (await db.ReconciliationItems
                .Where(i => i.RunId != run.Id && keys.Contains(i.LineKey) && db.ReconciliationRuns.Any(r => r.Id == i.RunId && r.Day == run.Day))
                .Select(i => i.Kind + "|" + i.LineKey).ToListAsync(ct))
            .ToHashSet(StringComparer.Ordinal);
        List<ReconciliationItem> items = [.. await LedgerLeg.FindAsync(db, run, now, ct), .. entitlements.Where(i => !listedToday.Contains(i.Kind + "|" + i.LineKey))];
        return await BillMatching.RecordUnresolvedAsync(db, run, items, ct);
    }

    /// <summary>The run of this provider's day, created once (the unique index arbitrates between nodes), marked started.</summary>
    async Task<ReconciliationRun> ClaimAsync(string provider, DateOnly day, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var run = await db.ReconciliationRuns.SingleOrDefaultAsync(r => r.Provider == provider && r.Day == day, ct);
        if (run is null)
        {
            run = new ReconciliationRun { Id = Ids.New("rec"), Provider = provider, Day = day, Status = "pending", CreatedAt = now };
            db.ReconciliationRuns.Add(run);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
            {
                db.ChangeTracker.Clear();
                run = await db.ReconciliationRuns.SingleAsync(r => r.Provider == provider && r.Day == day, ct);
            }
        }
        run.Attempts++;
        run.StartedAt = now;
        await db.SaveChangesAsync(ct);
        return run;
    }

    /// <summary>
    /// Adds the lines not stored yet for this provider's day; those already there (a re-import) are left as they are.
    /// Written in chunks that leave the change tracker once saved, so that a day of many lines costs no more per line
    /// than a day of few (every later SaveChanges would otherwise scan them all).
    /// </summary>
    async Task StoreAsync(ReconciliationRun run, IReadOnlyList<BillLine> lines, CancellationToken ct)
    {
        var stored = (await db.BillLines.Where(l => l.Provider == run.Provider && l.Day == run.Day).Select(l => l.Key).ToListAsync(ct))
            .ToHashSet(StringComparer.Ordinal);
        foreach (var chunk in lines.Where(l => stored.Add(l.Key)).Chunk(5_000))
        {
            var rows = chunk.Select(line => new BillLineRow
            {
                Provider = run.Provider, Day = run.Day, Key = line.Key, RunId = run.Id, LineNumber = line.LineNumber,
                Kind = line.Kind == BillLineKind.Payment ? "payment" : "refund", OutTradeNo = line.OutTradeNo, ProviderTradeNo = line.ProviderTradeNo,
                OutRefundNo = line.OutRefundNo, ProviderRefundNo = line.ProviderRefundNo, Amount = line.Amount, Currency = line.Currency,
                Fee = line.Fee, Status = line.Status.ToString().ToLowerInvariant(), At = line.At,
            }).ToList();
            db.BillLines.AddRange(rows);
            await db.SaveChangesAsync(ct);
            foreach (var row in rows) db.Entry(row).State = EntityState.Detached;
        }
    }

    async Task<ReconciliationRun> FinishAsync(ReconciliationRun run, string status, string? reason, int? line, CancellationToken ct)
    {
        run.Status = status;
        run.Reason = reason is { Length: > 1000 } ? reason[..1000] : reason;
        run.FailedLine = line;
        run.CompletedAt = status == "completed" ? clock.GetUtcNow().UtcDateTime : null;
        await db.SaveChangesAsync(ct);
        return run;
    }
}
