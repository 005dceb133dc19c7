using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using KnowPay.Features.Monitoring;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Refunds;

public enum RefundOutcome { Succeeded, Failed, StillPending, AlreadyCompleted, Unknown }

/// <summary>
/// Completes a pending refund exactly once, whichever of the provider's answer, its notification or a query comes
/// first (they may race, on any number of nodes). The domain's transition is written as a conditional UPDATE … WHERE status = its From:
/// the loser changes nothing.
/// Succeeded, in ONE transaction: refund succeeded, the reversing journal (source "refund", unique per refund), the
/// entitlement revoked on a full refund (or a partial one if the merchant says so), and the events.
/// Failed, in ONE transaction: refund failed, the reservation released, refund.failed.
/// </summary>
public static class RefundCompletion
{
    public static async Task<RefundOutcome> ApplyAsync(KnowPayDb db, string refundId, ProviderRefundResult result, string via,
        TimeProvider clock, ILogger log, CancellationToken ct)
    {
        var refund = await db.Refunds.AsNoTracking().SingleOrDefaultAsync(r => r.Id == refundId, ct);
        if (refund is null) return RefundOutcome.Unknown;
        if (result.Status == RefundStatus.Pending)
        {
            if (result.ProviderRefundId is { } pid && refund.ProviderRefundId is null)
                await db.Refunds.Where(r => r.Id == refundId && r.ProviderRefundId == null).ExecuteUpdateAsync(s => s.SetProperty(r => r.ProviderRefundId, pid), ct);
            return RefundTransitions.IsTerminal(refund.Status) ? RefundOutcome.AlreadyCompleted : RefundOutcome.StillPending;
        }
        var transition = result.Status == RefundStatus.Succeeded ? RefundTransitions.Succeed(refund.Status) : RefundTransitions.Fail(refund.Status);
        if (!transition.Allowed)
        {
            if (refund.Status == RefundState.Failed && result.Status == RefundStatus.Succeeded)
                log.LogError("Refund {RefundId} was marked failed but {Provider} reports it succeeded ({Via}); needs manual reconciliation",
                    refund.Id, refund.Provider, via);
            return await AlreadyCompletedAsync(db, refund, result, clock, ct);
        }
        var now = clock.GetUtcNow().UtcDateTime;
        try
        {
            var outcome = result.Status == RefundStatus.Succeeded
                ? await SucceedAsync(db, refund, transition, result, via, now, log, ct)
                : await FailAsync(db, refund, transition, result, via, now, ct);
            if (outcome is RefundOutcome.Succeeded or RefundOutcome.Failed) KnowPayMetrics.Refund(refund.Provider, outcome == RefundOutcome.Succeeded ? "succeeded" : "failed");
            return outcome == RefundOutcome.AlreadyCompleted ? await AlreadyCompletedAsync(db, refund, result, clock, ct) : outcome;
        }
        catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
        {
            db.ChangeTracker.Clear();
            return await AlreadyCompletedAsync(db, refund, result, clock, ct);
        }
    }

    /// <summary>Another report completed the refund first: a settlement this one carries (and that one did not) is still booked.</summary>
    static async Task<RefundOutcome> AlreadyCompletedAsync(KnowPayDb db, Refund refund, ProviderRefundResult result, TimeProvider clock, CancellationToken ct)
    {
        if (result is { Status: RefundStatus.Succeeded, Settlement: { } s } && s.Currency != refund.Currency)
            await RefundSettlement.RecordLateAsync(db, refund, s, clock.GetUtcNow().UtcDateTime, ct);
        return RefundOutcome.AlreadyCompleted;
    }

    static async Task<RefundOutcome> SucceedAsync(KnowPayDb db, Refund refund, Transition<RefundState> succeed, ProviderRefundResult result, string via, DateTime now, ILogger log, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // First statement is a write on the payment row: it serialises completions of the same payment's refunds
        // (row lock on PostgreSQL, the write lock on SQLite), so the cumulative split below reads a settled history.
        await db.Payments.Where(p => p.Id == refund.PaymentId).ExecuteUpdateAsync(s => s.SetProperty(p => p.RefundedAmount, p => p.RefundedAmount), ct);
        var won = await db.Refunds.Where(r => r.Id == refund.Id && r.Status == succeed.From)
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, succeed.To)
                .SetProperty(r => r.CompletedAt, now)
                .SetProperty(r => r.CompletedBy, via)
                .SetProperty(r => r.ProviderRefundId, r => r.ProviderRefundId ?? result.ProviderRefundId), ct);
        if (won == 0) return RefundOutcome.AlreadyCompleted;

        var payment = await db.Payments.AsNoTracking().SingleAsync(p => p.Id == refund.PaymentId, ct);
        var order = await db.Orders.AsNoTracking().SingleAsync(o => o.Id == refund.OrderId, ct);
        var merchant = await db.Merchants.AsNoTracking().SingleAsync(m => m.Id == refund.MerchantId, ct);
        var refundedBefore = await db.Refunds
            .Where(r => r.PaymentId == refund.PaymentId && r.Status == RefundState.Succeeded && r.Id != refund.Id)
            .SumAsync(r => (long?)r.Amount, ct) ?? 0;
        // A converted price: the creator's part is in the price's currency, at the order's locked rate.
        var fx = Fx.FxLedger.Of(order, payment);
        var (pricedPart, creatorPart) = fx is null ? (0, RefundSplit.CreatorPart(refundedBefore, refund.Amount, order.CreatorShareBps))
            : Fx.FxLedger.RefundParts(fx, refundedBefore, refund.Amount, order.CreatorShareBps);
        // A creator paid in another currency gives its part back in that one, at the same locked rate.
        var creatorFx = Fx.FxLedger.CreatorConversionOf(order, payment);
        var pendingAccount = Accounts.CreatorPending(order.CreatorId, creatorFx?.Converted.Currency.Code ?? fx?.Priced.Currency.Code ?? refund.Currency);
        var creatorPending = await LedgerBalances.AccountBalanceAsync(db, refund.MerchantId, pendingAccount, ct);
        var postings = fx is null ? Postings.RefundSucceeded(refund.Provider, order.CreatorId, refund.Currency, refund.Amount, creatorPart, creatorPending)
            : FxPostings.RefundSucceeded(refund.Provider, order.CreatorId, fx, refund.Amount, pricedPart, creatorPart, creatorPending);
        if (creatorFx is not null) postings = Fx.FxLedger.CreatorRefunded(creatorFx, order, payment, refundedBefore, creatorPart, postings, creatorPending);
        db.Journals.Add(Journals.Build(refund.MerchantId, "refund", refund.Id, $"Refund {refund.Id} of payment {refund.PaymentId}", postings, now,
            paymentId: refund.PaymentId));
        if (Fx.FxLedger.RefundSettled(order, payment, refund.Id, pricedPart, result.Settlement, now) is { } settled) db.Journals.Add(settled);
        await db.Refunds.Where(r => r.Id == refund.Id).ExecuteUpdateAsync(s => s.SetProperty(r => r.CreatorPart, creatorPart), ct);

        var succeeded = await db.Refunds.AsNoTracking().SingleAsync(r => r.Id == refund.Id, ct);
        foreach (var type in succeed.Events) Outbox.Add(db, refund.MerchantId, type, refund.Id, RefundView.From(succeeded), now);

        var fullyRefunded = refundedBefore + refund.Amount == payment.Amount;
        if (fullyRefunded || merchant.RevokeOnPartialRefund)
        {
            // Access stays if another succeeded payment of the same order (a duplicate payment) still stands.
            var otherPaymentStands = await db.Payments.AnyAsync(p => p.OrderId == refund.OrderId && p.Id != payment.Id &&
                p.Status == PaymentStatus.Succeeded && p.RefundedAmount < p.Amount, ct);
            if (!otherPaymentStands)
            {
                var reason = fullyRefunded ? "refunded" : "partially_refunded";
                var revoked = await db.Entitlements.Where(e => e.OrderId == refund.OrderId && e.RevokedAt == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(e => e.RevokedAt, now).SetProperty(e => e.RevokedReason, reason), ct);
                if (revoked > 0)
                {
                    var entitlement = await db.Entitlements.AsNoTracking().SingleAsync(e => e.OrderId == refund.OrderId, ct);
                    Outbox.Add(db, refund.MerchantId, EventTypes.EntitlementRevoked, entitlement.Id, EntitlementView.From(entitlement, now), now);
                }
            }
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        log.LogInformation("Refund {RefundId} succeeded ({Via}): {Amount} {Currency}, creator part {CreatorPart}", refund.Id, via, refund.Amount, refund.Currency, creatorPart);
        return RefundOutcome.Succeeded;
    }

    static async Task<RefundOutcome> FailAsync(KnowPayDb db, Refund refund, Transition<RefundState> fail, ProviderRefundResult result, string via, DateTime now, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var reason = result.FailureReason ?? "failed";
        var won = await db.Refunds.Where(r => r.Id == refund.Id && r.Status == fail.From)
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, fail.To)
                .SetProperty(r => r.CompletedAt, now)
                .SetProperty(r => r.CompletedBy, via)
                .SetProperty(r => r.FailureReason, reason), ct);
        if (won == 0) return RefundOutcome.AlreadyCompleted;
        var amount = refund.Amount;
        await db.Payments.Where(p => p.Id == refund.PaymentId)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.RefundedAmount, p => p.RefundedAmount - amount), ct);
        var failed = await db.Refunds.AsNoTracking().SingleAsync(r => r.Id == refund.Id, ct);
        foreach (var type in fail.Events) Outbox.Add(db, refund.MerchantId, type, refund.Id, RefundView.From(failed), now);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return RefundOutcome.Failed;
    }
}

/// <summary>The <see cref="IRefundUpdates"/> behind provider notifications: checks the refund belongs to that provider, then completes it.</summary>
public sealed class RefundUpdates(KnowPayDb db, TimeProvider clock, ILogger<RefundUpdates> log) : IRefundUpdates
{
    public async Task ApplyAsync(string provider, string refundId, ProviderRefundResult result, CancellationToken ct)
    {
        if (!await db.Refunds.AnyAsync(r => r.Id == refundId && r.Provider == provider, ct))
        {
            log.LogWarning("Security: {Provider} reported refund {RefundId} which does not exist for it; ignored", provider, refundId);
            return;
        }
        await RefundCompletion.ApplyAsync(db, refundId, result, "notification", clock, log, ct);
    }
}
