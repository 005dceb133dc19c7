using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payouts;

public enum PayoutOutcome { Applied, NoChange, UnknownPayout, Mismatch }

/// <summary>
/// Applies what the provider says about a payout, exactly once. Paid: in transit → provider clearing ("payout_paid"
/// journal) and payout.paid; failed: in transit → creator available ("payout_failed") and payout.failed. Each is a
/// conditional update (only from pending or in_transit) plus the journal and the event, in one transaction; the
/// journal's unique source is a second guard. A replayed or late answer changes nothing.
/// </summary>
public static class PayoutSettlement
{
    public static async Task<PayoutOutcome> ApplyAsync(KnowPayDb db, string payoutId, TransferResult result, DateTime now, ILogger log, CancellationToken ct,
        long? reportedAmount = null, string? reportedCurrency = null)
    {
        var payout = await db.Payouts.AsNoTracking().SingleOrDefaultAsync(p => p.Id == payoutId, ct);
        if (payout is null) return PayoutOutcome.UnknownPayout;
        if ((reportedAmount is { } a && a != payout.Amount) ||
            (reportedCurrency is not null && !string.Equals(reportedCurrency, payout.Currency, StringComparison.OrdinalIgnoreCase)))
        {
            log.LogWarning("Security: {Provider} reported {Amount} {Currency} for payout {PayoutId} of {Expected} {ExpectedCurrency}; refused",
                payout.Provider, reportedAmount, reportedCurrency, payout.Id, payout.Amount, payout.Currency);
            return PayoutOutcome.Mismatch;
        }
        if (result.Status == TransferStatus.Processing)
        {
            var moved = await db.Payouts.Where(p => p.Id == payoutId && p.Status == PayoutStatus.Pending)
                .ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, PayoutStatus.InTransit)
                    .SetProperty(p => p.ProviderTransferNo, p => p.ProviderTransferNo ?? result.ProviderTransferNo), ct);
            return moved == 0 ? PayoutOutcome.NoChange : PayoutOutcome.Applied;
        }

        var paid = result.Status == TransferStatus.Succeeded;
        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var won = paid
                ? await db.Payouts.Where(p => p.Id == payoutId && (p.Status == PayoutStatus.Pending || p.Status == PayoutStatus.InTransit))
                    .ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, PayoutStatus.Paid).SetProperty(p => p.PaidAt, now)
                        .SetProperty(p => p.ProviderTransferNo, p => p.ProviderTransferNo ?? result.ProviderTransferNo), ct)
                : await db.Payouts.Where(p => p.Id == payoutId && (p.Status == PayoutStatus.Pending || p.Status == PayoutStatus.InTransit))
                    .ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, PayoutStatus.Failed).SetProperty(p => p.FailedAt, now)
                        .SetProperty(p => p.FailureCode, result.FailureCode ?? "transfer_failed")
                        .SetProperty(p => p.ProviderTransferNo, p => p.ProviderTransferNo ?? result.ProviderTransferNo), ct);
            if (won == 0) return PayoutOutcome.NoChange;

            var after = await db.Payouts.AsNoTracking().SingleAsync(p => p.Id == payoutId, ct);
            db.Journals.Add(paid
                ? Journals.Build(payout.MerchantId, "payout_paid", payout.Id, $"Payout {payout.Id} paid by {payout.Provider}",
                    Postings.PayoutPaid(payout.Provider, payout.Currency, payout.Amount), now)
                : Journals.Build(payout.MerchantId, "payout_failed", payout.Id, $"Payout {payout.Id} failed ({after.FailureCode}); returned to available",
                    Postings.PayoutFailed(payout.CreatorId, payout.Currency, payout.Amount), now));
            Outbox.Add(db, payout.MerchantId, paid ? EventTypes.PayoutPaid : EventTypes.PayoutFailed, payout.Id, PayoutView.From(after), now);
            try
            {
                await db.SaveChangesAsync(ct);
                await tx.CommitAsync(ct);
            }
            catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
            {
                await tx.RollbackAsync(CancellationToken.None);
                return PayoutOutcome.NoChange;
            }
            finally
            {
                db.ChangeTracker.Clear();
            }
            return PayoutOutcome.Applied;
        });
    }

    /// <summary>
    /// Sends (or re-sends: the provider is idempotent on the payout id) a payout and applies the answer. A refusal that
    /// certainly did not take effect fails the payout (money back to available); an error that may have taken effect
    /// leaves it pending for <see cref="PayoutSync"/> to send again.
    /// </summary>
    public static async Task<PayoutOutcome> SendAsync(KnowPayDb db, IPayoutRail rail, Payout payout, DateTime now, ILogger log, CancellationToken ct)
    {
        TransferResult result;
        try
        {
            result = await rail.SendAsync(new TransferRequest(payout.Id, payout.CreatorId, payout.Amount, payout.Currency), ct);
        }
        catch (ProviderException e) when (!e.MaybeApplied)
        {
            log.LogWarning(e, "Payout {PayoutId} refused by {Provider}", payout.Id, payout.Provider);
            result = new TransferResult(TransferStatus.Failed, null, e.Code);
        }
        catch (ProviderException e)
        {
            log.LogWarning(e, "Payout {PayoutId} may or may not have reached {Provider}; it will be sent again", payout.Id, payout.Provider);
            return PayoutOutcome.NoChange;
        }
        return await ApplyAsync(db, payout.Id, result, now, log, ct);
    }
}
