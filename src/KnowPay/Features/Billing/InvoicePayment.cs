using KnowPay.Data;
using KnowPay.Providers;
using KnowPay.Domain;
using KnowPay.Features.Events;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>
/// What paying an invoice's order adds to the payment's confirmation, in the SAME transaction (ConfirmPayment): the invoice
/// paid, the subscription's period advanced to the invoice's and its status active, and the subscription's one entitlement
/// extended to the period's end (created with the first paid invoice), with their events. The money has moved, so the
/// entitlement is extended even when the subscription can no longer change (canceled meanwhile).
/// </summary>
public static class InvoicePayment
{
    /// <param name="locked">The invoice's rows when the caller's transaction has locked and read them (<see cref="Locked"/>); null locks and reads them here.</param>
    /// <returns>The subscription's entitlement (new, or existing with its new expiry) for the confirmation's entitlement.granted.</returns>
    /// <param name="recurring">The provider that took the payment: when it is the subscription's, it says when the next renewal is charged.</param>
    public static async Task<Entitlement> StageAsync(KnowPayDb db, StagedRows rows, Order order, IRecurringProvider? recurring, DateTime now,
        CancellationToken ct, Locked? locked = null)
    {
        // Locked in the order the renewal engine locks them (subscription, then invoice), after the payment and the order.
        var (subscription, invoice) = locked is { } l ? (l.Subscription, l.Invoice) : await LockAsync(db, order.InvoiceId!, ct);

        var pay = InvoiceTransitions.Pay(invoice.Status);
        if (pay.Allowed)
        {
            invoice.Status = pay.To;
            // On a test clock, paid at the clock's time, also when a notification (handled on the real clock) confirms it.
            invoice.PaidAt = subscription.TestClockId is not { } clockId ? now
                : locked?.TestClockTime ?? await TestClocks.NowAsync(db, clockId, now, ct);
            invoice.AttemptPaymentId = null;
            invoice.NextAttemptAt = null;
            rows.Update(invoice, nameof(Invoice.Status), nameof(Invoice.PaidAt), nameof(Invoice.AttemptPaymentId), nameof(Invoice.NextAttemptAt));
            foreach (var type in pay.Events) Outbox.Add(rows, order.MerchantId, type, invoice.Id, InvoiceView.From(invoice), now);
        }

        Entitlement entitlement;
        var existing = locked is not null ? locked.Entitlement
            : subscription.EntitlementId is { } id ? await db.Entitlements.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id, ct) : null;
        if (existing is not null)
        {
            entitlement = existing;
            if (entitlement.ExpiresAt is null || entitlement.ExpiresAt < invoice.PeriodEnd) entitlement.ExpiresAt = invoice.PeriodEnd;
            entitlement.RevokedAt = null;
            entitlement.RevokedReason = null;
            // A trial's access, granted before any order (order_id = the subscription's id), belongs to the first paid invoice's
            // order from then on, so that refunding that order revokes it as it does a paid start's.
            if (entitlement.OrderId == subscription.Id) entitlement.OrderId = order.Id;
            rows.Update(entitlement, nameof(Entitlement.ExpiresAt), nameof(Entitlement.RevokedAt), nameof(Entitlement.RevokedReason),
                nameof(Entitlement.OrderId));
        }
        else
        {
            entitlement = rows.Insert(new Entitlement
            {
                Id = Ids.New("ent"), MerchantId = order.MerchantId, CustomerId = order.CustomerId, ProductId = order.ProductId, OrderId = order.Id,
                GrantedAt = now, ExpiresAt = invoice.PeriodEnd,
            });
            subscription.EntitlementId = entitlement.Id;
        }

        var advance = SubscriptionTransitions.Pay(subscription.Status);
        // A plan change's invoice (subscription_update) pays inside the current period: it does not move the period.
        if (advance.Allowed && invoice.PeriodIndex >= subscription.PeriodIndex && invoice.BillingReason != ChangeSubscriptionPrice.UpdateReason)
        {
            subscription.Status = advance.To;
            subscription.PeriodIndex = invoice.PeriodIndex;
            subscription.CurrentPeriodStart = invoice.PeriodStart;
            subscription.CurrentPeriodEnd = invoice.PeriodEnd;
            // Next: the renewal when the subscription's provider charges it (or the cancellation asked for at the period's end).
            // Paid through another provider (the invoice's link): the engine, which has the subscription's, sets it on its next step.
            subscription.NextActionAt = recurring?.Name == subscription.Provider || subscription.CollectionMethod != CollectionMethods.ChargeAutomatically
                ? Renewals.RenewalAt(subscription, recurring)
                : invoice.PeriodStart;
            foreach (var type in advance.Events)
                Outbox.Add(rows, order.MerchantId, type, subscription.Id, SubscriptionView.From(subscription), now);
        }
        rows.Update(subscription, nameof(Subscription.Status), nameof(Subscription.PeriodIndex), nameof(Subscription.CurrentPeriodStart),
            nameof(Subscription.CurrentPeriodEnd), nameof(Subscription.NextActionAt), nameof(Subscription.EntitlementId));
        return entitlement;
    }

    /// <summary>An invoice (with its lines), its subscription and the subscription's entitlement, read under the caller's row locks.</summary>
    /// <param name="TestClockTime">The frozen time of the subscription's test clock, when it has one.</param>
    public sealed record Locked(Subscription Subscription, Invoice Invoice, Entitlement? Entitlement, DateTime? TestClockTime);

    /// <summary>The invoice's subscription and then the invoice, each locked and read as locked.</summary>
    static async Task<(Subscription, Invoice)> LockAsync(KnowPayDb db, string invoiceId, CancellationToken ct)
    {
        if (db.IsPostgres)
        {
            // Row locks (FOR NO KEY UPDATE, as an UPDATE takes) read in the same statements: two round trips.
            var locked = await db.Subscriptions.FromSql($"""
                SELECT * FROM subscriptions WHERE id = (SELECT subscription_id FROM invoices WHERE id = {invoiceId}) FOR NO KEY UPDATE
                """).AsNoTracking().SingleAsync(ct);
            var lockedInvoice = await db.Invoices.FromSql($"SELECT * FROM invoices WHERE id = {invoiceId} FOR NO KEY UPDATE")
                .AsNoTracking().Include(i => i.Lines).SingleAsync(ct);
            return (locked, lockedInvoice);
        }
        var invoice = await db.Invoices.AsNoTracking().SingleAsync(i => i.Id == invoiceId, ct);
        var subscription = await Renewals.LockAsync(db, invoice.SubscriptionId, ct);
        await db.Database.ExecuteSqlAsync($"UPDATE invoices SET status = status WHERE id = {invoiceId}", ct);
        return (subscription, await db.Invoices.AsNoTracking().Include(i => i.Lines).SingleAsync(i => i.Id == invoiceId, ct));
    }
}
