using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>
/// What follows a failed charge, and the ends of a subscription. Each runs in one transaction under the subscription's lock,
/// from the state read inside it: retries on <c>Billing:RetryDays</c> (past_due meanwhile, access kept until the next try),
/// then unpaid or canceled (<c>Billing:AfterRetries</c>) with access for <c>Billing:GraceDays</c>, then the entitlement revoked.
/// A revoked agreement, a hard decline or a charge above the agreement's cap is not retried.
/// </summary>
public static class Dunning
{
    public static async Task FailAsync(BillingServices s, string subscriptionId, string invoiceId, string code, DateTime now, bool countAttempt, CancellationToken ct)
    {
        var db = s.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var sub = await Renewals.LockAsync(db, subscriptionId, ct, tracked: true);
        var invoice = await db.Invoices.Include(i => i.Lines).SingleAsync(i => i.Id == invoiceId, ct);
        var failed = InvoiceTransitions.PaymentFailed(invoice.Status);
        if (!failed.Allowed) return;
        if (countAttempt) invoice.AttemptCount++;
        invoice.AttemptPaymentId = null;
        invoice.LastFailureCode = code;
        invoice.FirstFailedAt ??= now;
        var retryable = sub.Status != SubscriptionStatus.Incomplete &&
            code is not (RecurringFailures.MandateRevoked or RecurringFailures.HardDecline or RenewalAttempt.AmountExceeded);
        var next = retryable ? s.Options.Dunning.NextAttemptAt(invoice.FirstFailedAt.Value, invoice.AttemptCount) : null;
        if (next > s.Recurring.Of(sub.Provider)?.RenewalDates(sub.Interval, invoice.PeriodStart).LastRetryAt)
            next = null;   // the provider would refuse it (Alipay's deduction window has closed): the dunning ends
        invoice.NextAttemptAt = next;
        var order = await db.Orders.AsNoTracking().SingleAsync(o => o.Id == invoice.OrderId, ct);
        foreach (var type in failed.Events) Outbox.Add(db, sub.MerchantId, type, invoice.Id, InvoiceView.From(invoice, s.Checkout.UrlFor(order)), now);

        var entitlement = sub.EntitlementId is { } id ? await db.Entitlements.SingleOrDefaultAsync(e => e.Id == id && e.RevokedAt == null, ct) : null;
        if (next is { } retryAt)
        {
            Apply(db, sub, SubscriptionTransitions.Fail(sub.Status), now);
            sub.NextActionAt = retryAt;
            if (entitlement is not null && entitlement.ExpiresAt < retryAt) entitlement.ExpiresAt = retryAt;
        }
        else if (sub.Status == SubscriptionStatus.Incomplete)
            sub.NextActionAt = sub.CreatedAt + Renewals.IncompleteExpiry;   // the first invoice is not retried: it expires
        else
        {
            var exhaust = SubscriptionTransitions.Exhaust(sub.Status, s.Options.CancelAfterRetries);
            if (exhaust.Allowed && exhaust.To == SubscriptionStatus.Canceled)
            {
                sub.CanceledAt = sub.EndedAt = now;
                var uncollectible = InvoiceTransitions.MarkUncollectible(invoice.Status);
                invoice.Status = uncollectible.To;
                foreach (var type in uncollectible.Events) Outbox.Add(db, sub.MerchantId, type, invoice.Id, InvoiceView.From(invoice), now);
            }
            Apply(db, sub, exhaust, now);
            var graceEnd = now.AddDays(s.Options.GraceDays);
            if (entitlement is not null) entitlement.ExpiresAt = graceEnd;
            sub.NextActionAt = entitlement is null ? null : graceEnd;
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    /// <summary>The grace days after the retries passed: the entitlement is revoked (entitlement.revoked), nothing is due any more.</summary>
    public static async Task EndAccessAsync(BillingServices s, string subscriptionId, DateTime now, CancellationToken ct)
    {
        var db = s.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var sub = await Renewals.LockAsync(db, subscriptionId, ct, tracked: true);
        if (sub.Status is not (SubscriptionStatus.Unpaid or SubscriptionStatus.Canceled) || sub.NextActionAt > now) return;
        sub.NextActionAt = null;
        if (sub.EntitlementId is { } id && await db.Entitlements.SingleOrDefaultAsync(e => e.Id == id && e.RevokedAt == null, ct) is { } entitlement)
        {
            entitlement.RevokedAt = now;
            entitlement.RevokedReason = "subscription_" + SubscriptionView.Snake(sub.Status);
            Outbox.Add(db, sub.MerchantId, EventTypes.EntitlementRevoked, entitlement.Id, EntitlementView.From(entitlement, now), now);
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    /// <summary>The first invoice was not paid within 23 hours: incomplete_expired, the invoice void.</summary>
    public static async Task ExpireAsync(BillingServices s, string subscriptionId, DateTime now, CancellationToken ct)
    {
        var db = s.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var sub = await Renewals.LockAsync(db, subscriptionId, ct, tracked: true);
        var expire = SubscriptionTransitions.Expire(sub.Status);
        if (!expire.Allowed) return;
        sub.EndedAt = now;
        sub.NextActionAt = null;
        await VoidLatestAsync(db, sub, now, ct);
        Apply(db, sub, expire, now);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    /// <summary>The period asked to be the last one has ended: canceled, no further invoice (access ends with the paid period).</summary>
    public static async Task CancelAtPeriodEndAsync(BillingServices s, string subscriptionId, DateTime now, CancellationToken ct)
    {
        var db = s.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var sub = await Renewals.LockAsync(db, subscriptionId, ct, tracked: true);
        var cancel = SubscriptionTransitions.Cancel(sub.Status);
        if (!cancel.Allowed || !sub.CancelAtPeriodEnd) return;
        sub.EndedAt = sub.CurrentPeriodEnd;
        sub.NextActionAt = null;
        Apply(db, sub, cancel, now);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    /// <summary>Voids the subscription's latest invoice if it is still open (tracked; the caller saves).</summary>
    public static async Task VoidLatestAsync(KnowPayDb db, Subscription sub, DateTime now, CancellationToken ct)
    {
        if (sub.LatestInvoiceId is not { } invoiceId) return;
        var invoice = await db.Invoices.Include(i => i.Lines).SingleAsync(i => i.Id == invoiceId, ct);
        var voided = InvoiceTransitions.Void(invoice.Status);
        if (!voided.Allowed) return;
        invoice.Status = voided.To;
        invoice.VoidedAt = now;
        invoice.NextAttemptAt = null;
        foreach (var type in voided.Events) Outbox.Add(db, sub.MerchantId, type, invoice.Id, InvoiceView.From(invoice), now);
    }

    /// <summary>Applies a subscription transition to the tracked row (the caller holds its lock) with its events.</summary>
    public static void Apply(KnowPayDb db, Subscription sub, Transition<SubscriptionStatus> transition, DateTime now)
    {
        if (!transition.Allowed) return;
        sub.Status = transition.To;
        foreach (var type in transition.Events) Outbox.Add(db, sub.MerchantId, type, sub.Id, SubscriptionView.From(sub), now);
    }
}
