using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Refunds;

/// <summary>
/// A provider's settlement of a refund that completed from a report without one (a webhook event names the balance transaction
/// only; the answer or a listing expands it): its FX gain/loss journal, once (the journal's unique source key decides).
/// </summary>
public static class RefundSettlement
{
    public static async Task RecordLateAsync(KnowPayDb db, Refund refund, ProviderSettlement settlement, DateTime now, CancellationToken ct)
    {
        // Booked already (any later report of the refund) is read with the payment and its order, in one query.
        var read = await db.Payments.AsNoTracking().Where(p => p.Id == refund.PaymentId)
            .Join(db.Orders.AsNoTracking(), p => p.OrderId, o => o.Id, (p, o) => new
            {
                Payment = p, Order = o,
                Booked = db.Journals.Any(j => j.MerchantId == refund.MerchantId && j.SourceType == Fx.FxLedger.RefundSettledSource && j.SourceId == refund.Id),
            }).SingleAsync(ct);
        if (read.Booked || Fx.FxLedger.Of(read.Order, read.Payment) is not { } fx) return;
        // The locked-rate part the refund's own journal released from the pair's account, in the price's currency.
        var account = Accounts.Fx(fx.Priced.Currency.Code, fx.Paid.Currency.Code);
        var released = await db.Journals.Where(j => j.MerchantId == refund.MerchantId && j.SourceType == "refund" && j.SourceId == refund.Id)
            .Join(db.LedgerEntries.Where(e => e.Account == account && e.Currency == fx.Priced.Currency.Code), j => j.Id, e => e.JournalId, (j, e) => e.Amount)
            .ToListAsync(ct);
        if (released.Count == 0) return;
        if (Fx.FxLedger.RefundSettled(read.Order, read.Payment, refund.Id, -released.Sum(), settlement, now) is not { } journal) return;
        db.Journals.Add(journal);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
        {
            // another report of the same refund posted it first
        }
        db.ChangeTracker.Clear();
    }
}
