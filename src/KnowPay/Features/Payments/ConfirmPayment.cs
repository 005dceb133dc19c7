using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

/// <summary>A provider's statement that a payment was paid, from a verified notification or from a query.</summary>
public sealed record PaidFact(string Provider, string PaymentId, string? ProviderTradeNo, long Amount, string Currency, DateTime? PaidAt, string Via);

public enum ConfirmOutcome { Confirmed, AlreadyConfirmed, UnknownPayment, Mismatch }

/// <summary>
/// Confirms a payment exactly once. In ONE transaction: payment succeeded (conditional on not being succeeded
/// already), order paid (a late success on an expired order is honoured and flagged), the balanced ledger
/// journal (unique per payment), the entitlement, and the outbox events. A duplicate, late or concurrent
/// confirmation changes nothing and reports AlreadyConfirmed.
/// </summary>
public static class ConfirmPayment
{
    public static async Task<ConfirmOutcome> ApplyAsync(KnowPayDb db, PaidFact fact, IPaymentProvider provider, TimeProvider clock, ILogger log, CancellationToken ct)
    {
        var payment = await db.Payments.AsNoTracking().SingleOrDefaultAsync(p => p.Id == fact.PaymentId && p.Provider == fact.Provider, ct);
        if (payment is null)
        {
            log.LogWarning("Security: {Provider} reported payment {PaymentId} which does not exist", fact.Provider, fact.PaymentId);
            return ConfirmOutcome.UnknownPayment;
        }
        if (payment.Amount != fact.Amount || !string.Equals(payment.Currency, fact.Currency, StringComparison.OrdinalIgnoreCase) ||
            (payment.ProviderTradeNo is not null && fact.ProviderTradeNo is not null && payment.ProviderTradeNo != fact.ProviderTradeNo))
        {
            log.LogWarning("Security: {Provider} reported {Amount} {Currency} (trade {Trade}) for payment {PaymentId} of {Expected} {ExpectedCurrency}; refused",
                fact.Provider, fact.Amount, fact.Currency, fact.ProviderTradeNo, payment.Id, payment.Amount, payment.Currency);
            return ConfirmOutcome.Mismatch;
        }
        if (payment.Status == PaymentStatus.Succeeded) return ConfirmOutcome.AlreadyConfirmed;

        var now = clock.GetUtcNow().UtcDateTime;
        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var won = await db.Payments
                .Where(p => p.Id == payment.Id && p.Status != PaymentStatus.Succeeded)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(p => p.Status, PaymentStatus.Succeeded)
                    .SetProperty(p => p.SucceededAt, now)
                    .SetProperty(p => p.ProviderPaidAt, fact.PaidAt ?? now)
                    .SetProperty(p => p.ProviderTradeNo, p => p.ProviderTradeNo ?? fact.ProviderTradeNo)
                    .SetProperty(p => p.ConfirmedBy, fact.Via), ct);
            if (won == 0) return ConfirmOutcome.AlreadyConfirmed;

            var order = await db.Orders.SingleAsync(o => o.Id == payment.OrderId, ct);
            var paidAnotherWay = order.Status == OrderStatus.Paid;
            if (!paidAnotherWay)
            {
                order.PaidAfterExpiry = order.Status is OrderStatus.Expired or OrderStatus.Canceled;
                if (order.PaidAfterExpiry)
                    log.LogWarning("Payment {PaymentId} succeeded after order {OrderId} was {Status}; honoured and flagged", payment.Id, order.Id, order.Status);
                order.Status = OrderStatus.Paid;
                order.PaidAt = now;
            }

            var amount = new Money(payment.Amount, Currency.Of(payment.Currency));
            var split = RevenueSplit.For(payment.Amount, order.CreatorShareBps, provider.Fee);
            db.Journals.Add(Journals.Build(order.MerchantId, "payment_confirmed", payment.Id,
                $"Payment {payment.Id} for order {order.Id}", Postings.PaymentConfirmed(payment.Provider, order.CreatorId, amount, split), now));

            payment.Status = PaymentStatus.Succeeded;
            payment.SucceededAt = now;
            if (paidAnotherWay)
            {
                // The order was already paid through another payment: the money is booked, access is not granted
                // twice, the payment is flagged in the same transaction, and DuplicatePaymentRefunds refunds it in full
                // through the normal refund path (durable: a crash before the refund only delays it).
                await db.Payments.Where(p => p.Id == payment.Id).ExecuteUpdateAsync(s => s.SetProperty(p => p.Duplicate, true), ct);
                payment.Duplicate = true;
                log.LogWarning("Payment {PaymentId} succeeded on order {OrderId} already paid; flagged for refund", payment.Id, order.Id);
                Outbox.Add(db, order.MerchantId, "payment.duplicate", payment.Id, PaymentView.From(payment), now);
            }
            else
            {
                var entitlement = Access.Grant(db, order, now);
                Outbox.Add(db, order.MerchantId, "order.paid", order.Id, OrderView.From(order), now);
                Outbox.Add(db, order.MerchantId, "entitlement.granted", entitlement.Id, EntitlementView.From(entitlement), now);
            }
            try
            {
                await db.SaveChangesAsync(ct);
                await tx.CommitAsync(ct);
            }
            catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
            {
                await tx.RollbackAsync(CancellationToken.None);
                db.ChangeTracker.Clear();
                return ConfirmOutcome.AlreadyConfirmed;
            }
            db.ChangeTracker.Clear();
            Monitoring.KnowPayMetrics.PaymentSucceeded(payment, fact.PaidAt ?? now, now, fact.Via);
            return ConfirmOutcome.Confirmed;
        });
    }
}
