using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Payments;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Reconciliation;

/// <summary>The kinds of difference a run records (a match is counted, not stored).</summary>
public static class ItemKinds
{
    public const string MissingInKnowPay = "missing_in_knowpay", MissingAtProvider = "missing_at_provider", AmountMismatch = "amount_mismatch",
        StatusMismatch = "status_mismatch", CurrencyMismatch = "currency_mismatch", FeeMismatch = "fee_mismatch",
        LedgerDifference = "ledger_difference", EntitlementMissing = "entitlement_missing", EntitlementWithoutPayment = "entitlement_without_payment";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        MissingInKnowPay, MissingAtProvider, AmountMismatch, StatusMismatch, CurrencyMismatch, FeeMismatch,
        LedgerDifference, EntitlementMissing, EntitlementWithoutPayment,
    };
}

/// <summary>
/// Matches a day's bill lines with KnowPay's payments and refunds by our trade number (out_trade_no / out_refund_no) and
/// the provider's. A success the bill has and KnowPay does not is asked of the provider and, if confirmed, applied through
/// the normal path (<see cref="ConfirmPayment"/>, <see cref="IRefundUpdates"/>): money is never lost. A success KnowPay has
/// and no bill does is missing_at_provider only after <see cref="ReconciliationOptions.CarryDays"/> later bills.
/// </summary>
public sealed class BillMatching(KnowPayDb db, PaymentProviders providers, IServiceScopeFactory scopes, AwaitedPayments awaited,
    TimeProvider clock, IOptions<ReconciliationOptions> options, ILogger<BillMatching> log)
{
    /// <returns>How many lines matched, and how many differences were recorded.</returns>
    public async Task<(int Matched, int Differences)> MatchAsync(ReconciliationRun run, IReadOnlyList<BillLine> lines, CancellationToken ct)
    {
        // Differences are found afresh on every run; what was repaired (resolved) stays as the record of the repair.
        await db.ReconciliationItems.Where(i => i.RunId == run.Id && i.Resolution == null).ExecuteDeleteAsync(ct);
        var provider = providers[run.Provider];
        var items = new List<ReconciliationItem>();
        var matched = 0;

        var payments = await LoadAsync(lines.Where(l => l.Kind == BillLineKind.Payment).Select(l => l.OutTradeNo),
            ids => db.Payments.AsNoTracking().Where(p => p.Provider == run.Provider && ids.Contains(p.Id)), p => p.Id, ct);
        var refunds = await LoadAsync(lines.Where(l => l.Kind == BillLineKind.Refund).Select(l => l.OutRefundNo!),
            ids => db.Refunds.AsNoTracking().Where(r => r.Provider == run.Provider && ids.Contains(r.Id)), r => r.Id, ct);
        var refundPayments = await LoadAsync(refunds.Values.Select(r => r.PaymentId),
            ids => db.Payments.AsNoTracking().Where(p => ids.Contains(p.Id)), p => p.Id, ct);
        var postedFees = await FeeTrueUps.PostedAsync(db, run.Provider, payments.Keys.Concat(refundPayments.Keys), ct);

        foreach (var line in lines)
        {
            var item = line.Kind == BillLineKind.Payment
                ? await MatchPaymentAsync(run, provider, line, payments.GetValueOrDefault(line.OutTradeNo), postedFees, ct)
                : await MatchRefundAsync(run, provider, line, refunds.GetValueOrDefault(line.OutRefundNo!), refundPayments, postedFees, ct);
            if (item is null) matched++;
            else items.Add(item);
        }
        items.AddRange(await MissingAtProviderAsync(run, ct));

        await RecordUnresolvedAsync(db, run, items, ct);
        return (matched, items.Count);
    }

    /// <summary>
    /// Stores the run's differences but those already resolved by an earlier run of this day (a repair) or an operator, by
    /// line and class, so a re-run never reopens them; returns how many were stored.
    /// </summary>
    public static async Task<int> RecordUnresolvedAsync(KnowPayDb db, ReconciliationRun run, IEnumerable<ReconciliationItem> items, CancellationToken ct)
    {
        var resolved = (await db.ReconciliationItems.Where(i => i.RunId == run.Id && i.Resolution != null).Select(i => i.LineKey + "|" + i.Kind).ToListAsync(ct))
            .ToHashSet(StringComparer.Ordinal);
        var unresolved = items.Where(i => !resolved.Contains(i.LineKey + "|" + i.Kind)).ToList();
        db.ReconciliationItems.AddRange(unresolved);
        await db.SaveChangesAsync(ct);
        return unresolved.Count;
    }

    async Task<ReconciliationItem?> MatchPaymentAsync(ReconciliationRun run, IPaymentProvider provider, BillLine line, Payment? payment,
        FeeTrueUps.Posted postedFees, CancellationToken ct)
    {
        if (payment is null)
            return Item(run, ItemKinds.MissingInKnowPay, line, null, null, null, "the bill names a payment KnowPay does not know");
        if (line.Status != BillLineStatus.Succeeded)
            return payment.Status == PaymentStatus.Succeeded ? Item(run, ItemKinds.StatusMismatch, line, payment, null, payment.Amount, "KnowPay succeeded, the bill not") : null;
        if (payment.Status != PaymentStatus.Succeeded)
            return await RepairPaymentAsync(run, provider, line, payment, ct);
        if (!string.Equals(payment.Currency, line.Currency, StringComparison.OrdinalIgnoreCase))
            return Item(run, ItemKinds.CurrencyMismatch, line, payment, null, payment.Amount, $"KnowPay {payment.Currency}, the bill {line.Currency}");
        if (payment.Amount != line.Amount)
            return Item(run, ItemKinds.AmountMismatch, line, payment, null, payment.Amount);
        if (payment.ProviderTradeNo is not null && line.ProviderTradeNo is { Length: > 0 } billed && billed != payment.ProviderTradeNo)
            return Item(run, ItemKinds.StatusMismatch, line, payment, null, payment.Amount, $"the bill's trade {billed} is not KnowPay's {payment.ProviderTradeNo}");
        return TrueUpFee(run, line, payment, null, postedFees);
    }

    /// <summary>
    /// A billed fee other than the estimate the line's journals carry is a fee_mismatch, repaired at once by a true-up journal
    /// posted with the item; once posted, a re-run finds the fees equal. A line is trued up once (the journal's source is
    /// unique): a bill whose fee changed after its true-up posts nothing; on a later day's run it is a fee_mismatch left for
    /// an operator, on the same day's the line's resolved fee_mismatch stands (a re-run never reopens a resolved item).
    /// </summary>
    ReconciliationItem? TrueUpFee(ReconciliationRun run, BillLine line, Payment payment, Refund? refund, FeeTrueUps.Posted postedFees)
    {
        var posted = postedFees.Net.GetValueOrDefault(line.Key);
        var billed = FeeTrueUps.Billed(line);
        if (posted == billed) return null;
        var (postedFee, billedFee) = refund is null ? (posted, billed) : (-posted, -billed);
        var fee = refund is null ? "fee" : "fee returned";
        if (postedFees.TruedUp.Contains(line.Key))
            return Item(run, ItemKinds.FeeMismatch, line, payment, refund, postedFee,
                $"{fee} posted {postedFee} (trued up before), billed {billedFee}: the bill changed after its true-up", billed: billedFee);
        var journal = FeeTrueUps.Journal(run, payment, refund, posted, billed, clock.GetUtcNow().UtcDateTime);
        db.Journals.Add(journal);
        return Item(run, ItemKinds.FeeMismatch, line, payment, refund, postedFee, $"{fee} posted {postedFee}, billed {billedFee}; trued up",
            billed: billedFee, resolution: "trued_up", journalId: journal.Id);
    }

    /// <summary>The bill says paid, KnowPay does not: the provider is asked, and a confirmed success goes through <see cref="ConfirmPayment"/>.</summary>
    async Task<ReconciliationItem> RepairPaymentAsync(ReconciliationRun run, IPaymentProvider provider, BillLine line, Payment payment, CancellationToken ct)
    {
        ProviderTradeState state;
        try
        {
            state = await provider.QueryAsync(payment, ct);
        }
        catch (ProviderException e)
        {
            return Item(run, ItemKinds.MissingInKnowPay, line, payment, null, payment.Amount, $"the provider's query failed ({e.Code}); tried again on the next run");
        }
        if (state.Status != TradeStatus.Paid)
            return Item(run, ItemKinds.StatusMismatch, line, payment, null, payment.Amount, $"the bill says paid, the provider's query says {state.Status.ToString().ToLowerInvariant()}");
        // A scope of its own: the confirmation clears its context's change tracker, which here holds the run.
        await using var scope = scopes.CreateAsyncScope();
        var outcome = await ConfirmPayment.ApplyAsync(scope.ServiceProvider.GetRequiredService<KnowPayDb>(),
            PaidFact.From(payment.Provider, payment.Id, state, "query"), provider, clock, log, ct, awaited);
        log.LogWarning("Reconciliation {RunId}: payment {PaymentId} paid at {Provider} but not in KnowPay; confirmation {Outcome}",
            run.Id, payment.Id, payment.Provider, outcome);
        return outcome is ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed
            ? Item(run, ItemKinds.MissingInKnowPay, line, payment, null, payment.Amount, "confirmed through the provider's query", resolution: "confirmed")
            : Item(run, ItemKinds.MissingInKnowPay, line, payment, null, payment.Amount, $"the provider's success was refused: {outcome}");
    }

    async Task<ReconciliationItem?> MatchRefundAsync(ReconciliationRun run, IPaymentProvider provider, BillLine line, Refund? refund,
        IReadOnlyDictionary<string, Payment> payments, FeeTrueUps.Posted postedFees, CancellationToken ct)
    {
        if (refund is null)
            return Item(run, ItemKinds.MissingInKnowPay, line, null, null, null, "the bill names a refund KnowPay does not know");
        var payment = payments[refund.PaymentId];
        var billSucceeded = line.Status == BillLineStatus.Succeeded;
        if (billSucceeded && refund.Status == RefundState.Pending)
        {
            // The bill says refunded, KnowPay waits: ask the provider and apply its answer through the refunds' normal path.
            try
            {
                var result = await provider.QueryRefundAsync(new ProviderRefund(payment, refund.Id, refund.Amount, refund.Reason), ct);
                await using var scope = scopes.CreateAsyncScope();
                await scope.ServiceProvider.GetRequiredService<IRefundUpdates>().ApplyAsync(refund.Provider, refund.Id, result, ct);
                if (result.Status == RefundStatus.Succeeded)
                    return Item(run, ItemKinds.MissingInKnowPay, line, payment, refund, refund.Amount, "refund completed through the provider's query", resolution: "confirmed");
            }
            catch (ProviderException e)
            {
                return Item(run, ItemKinds.MissingInKnowPay, line, payment, refund, refund.Amount, $"the provider's refund query failed ({e.Code}); tried again on the next run");
            }
        }
        if (billSucceeded != (refund.Status == RefundState.Succeeded))
            return Item(run, ItemKinds.StatusMismatch, line, payment, refund, refund.Amount,
                $"KnowPay {refund.Status.ToString().ToLowerInvariant()}, the bill {line.Status.ToString().ToLowerInvariant()}");
        if (!string.Equals(refund.Currency, line.Currency, StringComparison.OrdinalIgnoreCase))
            return Item(run, ItemKinds.CurrencyMismatch, line, payment, refund, refund.Amount, $"KnowPay {refund.Currency}, the bill {line.Currency}");
        if (refund.Amount != line.Amount)
            return Item(run, ItemKinds.AmountMismatch, line, payment, refund, refund.Amount);
        return billSucceeded ? TrueUpFee(run, line, payment, refund, postedFees) : null;
    }

    /// <summary>
    /// Successes KnowPay holds for the day <see cref="ReconciliationOptions.CarryDays"/> before the run's, that no bill of
    /// that day, the day before (cut-off) or any day since up to the run's names.
    /// </summary>
    async Task<List<ReconciliationItem>> MissingAtProviderAsync(ReconciliationRun run, CancellationToken ct)
    {
        var poolDay = run.Day.AddDays(-options.Value.CarryDays);
        var (from, until) = BillSources.Window(run.Provider, poolDay);
        var firstDay = poolDay.AddDays(-1);
        var billed = db.BillLines.Where(l => l.Provider == run.Provider && l.Day >= firstDay && l.Day <= run.Day);
        var payments = await db.Payments.AsNoTracking()
            .Where(p => p.Provider == run.Provider && p.Status == PaymentStatus.Succeeded)
            .Where(p => (p.ProviderPaidAt ?? p.SucceededAt) >= from && (p.ProviderPaidAt ?? p.SucceededAt) < until)
            .Where(p => !billed.Any(l => l.Kind == "payment" && l.OutTradeNo == p.Id))
            .ToListAsync(ct);
        var refunds = await db.Refunds.AsNoTracking()
            .Where(r => r.Provider == run.Provider && r.Status == RefundState.Succeeded && r.CompletedAt >= from && r.CompletedAt < until)
            .Where(r => !billed.Any(l => l.Kind == "refund" && l.OutRefundNo == r.Id))
            .ToListAsync(ct);
        var now = clock.GetUtcNow().UtcDateTime;
        return
        [
            .. payments.Select(p => new ReconciliationItem
            {
                Id = Ids.New("rci"), RunId = run.Id, Kind = ItemKinds.MissingAtProvider, MerchantId = p.MerchantId, PaymentId = p.Id,
                LineKey = "payment:" + p.Id, ExpectedAmount = p.Amount, Currency = p.Currency, CreatedAt = now,
                Note = $"succeeded on {poolDay:yyyy-MM-dd}; on no bill up to {run.Day:yyyy-MM-dd}",
            }),
            .. refunds.Select(r => new ReconciliationItem
            {
                Id = Ids.New("rci"), RunId = run.Id, Kind = ItemKinds.MissingAtProvider, MerchantId = r.MerchantId, PaymentId = r.PaymentId, RefundId = r.Id,
                LineKey = "refund:" + r.Id, ExpectedAmount = r.Amount, Currency = r.Currency, CreatedAt = now,
                Note = $"succeeded on {poolDay:yyyy-MM-dd}; on no bill up to {run.Day:yyyy-MM-dd}",
            }),
        ];
    }

    ReconciliationItem Item(ReconciliationRun run, string kind, BillLine line, Payment? payment, Refund? refund, long? expected, string? note = null,
        long? billed = null, string? resolution = null, string? journalId = null) => new()
    {
        Id = Ids.New("rci"), RunId = run.Id, Kind = kind, MerchantId = payment?.MerchantId, PaymentId = payment?.Id, RefundId = refund?.Id,
        LineKey = line.Key, ExpectedAmount = expected, BillAmount = billed ?? line.Amount, Currency = line.Currency, Note = note, Resolution = resolution,
        JournalId = journalId, CreatedAt = clock.GetUtcNow().UtcDateTime,
    };

    /// <summary>Rows by id, read in chunks so that a day of many lines stays within the databases' parameter limits.</summary>
    static async Task<Dictionary<string, T>> LoadAsync<T>(IEnumerable<string> ids, Func<string[], IQueryable<T>> query, Func<T, string> id, CancellationToken ct)
    {
        var rows = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var chunk in ids.Distinct().Chunk(500))
            foreach (var row in await query(chunk).ToListAsync(ct))
                rows[id(row)] = row;
        return rows;
    }
}
