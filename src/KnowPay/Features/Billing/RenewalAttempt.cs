using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Payments;
using KnowPay.Providers;
using KnowPay.Providers.WeChatPay;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>
/// One attempt to collect an open invoice under the subscription's agreement. The attempt's payment row is written (pending)
/// BEFORE the provider is called, and its id is the provider's idempotency key: after a crash anywhere in between, the next
/// run finds the pending payment on the invoice and charges it again with the same id, which never charges twice. The answer
/// is applied as any payment's: Paid through <see cref="ConfirmPayment"/> (which pays the invoice in the same commit), Failed
/// through <see cref="FailPayment"/> and then <see cref="Dunning"/>; Pending is settled by the notification or the poller.
/// </summary>
public static class RenewalAttempt
{
    public const string AmountExceeded = "mandate_amount_exceeded";
    public const string Method = "recurring";
    /// <summary>The failure code of a send_invoice invoice not paid by its due date.</summary>
    public const string PastDue = "invoice_past_due";

    /// <param name="claimedMandate">The agreement as read with the claim (re-read when absent or not the subscription's).</param>
    /// <param name="order">The invoice's order when the caller has just written it.</param>
    /// <param name="started">The attempt's payment when the caller committed it with the invoice (<see cref="InvoiceWriter.EnsureAsync"/>),
    /// checked against <paramref name="claimedMandate"/> as <see cref="CanStart"/> says.</param>
    public static async Task<bool> RunAsync(BillingServices s, Subscription sub, Invoice invoice, DateTime now, CancellationToken ct,
        Mandate? claimedMandate = null, Order? order = null, Payment? started = null)
    {
        if (started is not null) return await ChargeAsync(s, sub, invoice, started, claimedMandate, order, now, ct);
        var db = s.Db;
        if (invoice is { Amount: 0, Status: InvoiceStatus.Open })
        {
            await ChangeSubscriptionPrice.PayFromCreditAsync(s, sub, invoice, now, ct);   // covered by the credit balance: no provider
            return true;
        }
        if (sub.CollectionMethod != CollectionMethods.ChargeAutomatically)
        {
            // send_invoice: the learner pays through the invoice's checkout link; the first invoice still expires after 23 h.
            if (sub.Status == SubscriptionStatus.Incomplete)
            {
                await Renewals.SetNextActionAsync(db, sub.Id, sub.CreatedAt + Renewals.IncompleteExpiry, ct);
                return false;
            }
            // A renewal invoice unpaid on its due date (Billing:DaysUntilDue) is dunned as a declined charge, each retry day a reminder.
            var checkAt = invoice.NextAttemptAt ?? (invoice.FirstFailedAt is null ? invoice.CreatedAt.AddDays(s.Options.DaysUntilDue) : null);
            if (checkAt is { } at && at > now)
            {
                // Access lasts until the invoice is due, as a declined charge keeps it until the next try.
                if (sub.EntitlementId is { } entitlementId)
                    await db.Entitlements.Where(e => e.Id == entitlementId && e.RevokedAt == null && e.ExpiresAt < at)
                        .ExecuteUpdateAsync(u => u.SetProperty(e => e.ExpiresAt, at), ct);
                await Renewals.SetNextActionAsync(db, sub.Id, at, ct);
                return false;
            }
            await Dunning.FailAsync(s, sub.Id, invoice.Id, PastDue, now, countAttempt: true, ct);
            return true;
        }
        var payment = invoice.AttemptPaymentId is { } paymentId ? await db.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId, ct) : null;
        Mandate? mandate = null;
        switch (payment?.Status)
        {
            case PaymentStatus.Succeeded:
                return false;   // its confirmation paid the invoice
            case PaymentStatus.Failed or PaymentStatus.Canceled:
                await Dunning.FailAsync(s, sub.Id, invoice.Id, payment.FailureCode ?? RecurringFailures.Declined, now, countAttempt: false, ct);
                return true;
            case null:
                if (invoice.NextAttemptAt is { } at && at > now)
                {
                    await Renewals.SetNextActionAsync(db, sub.Id, at, ct);
                    return false;
                }
                mandate = sub.MandateId is null ? null : claimedMandate is { } claimed && claimed.Id == sub.MandateId ? claimed
                    : await db.Mandates.AsNoTracking().SingleOrDefaultAsync(m => m.Id == sub.MandateId, ct);
                if (mandate is { Status: MandateStatus.Pending } && sub.Status == SubscriptionStatus.Incomplete)
                {
                    await Renewals.SetNextActionAsync(db, sub.Id, sub.CreatedAt + Renewals.IncompleteExpiry, ct);   // waits for the signing
                    return false;
                }
                if (mandate is not { Status: MandateStatus.Active })
                {
                    await Dunning.FailAsync(s, sub.Id, invoice.Id, RecurringFailures.MandateRevoked, now, countAttempt: true, ct);
                    return true;
                }
                if (invoice.Amount > mandate.MaxAmount || invoice.Currency != mandate.Currency)
                {
                    await Dunning.FailAsync(s, sub.Id, invoice.Id, AmountExceeded, now, countAttempt: true, ct);
                    return true;
                }
                payment = await StartAsync(s, sub, invoice, ct);
                if (payment is null) return false;   // another node started this attempt
                break;
        }
        return await ChargeAsync(s, sub, invoice, payment, mandate, order, now, ct);
    }

    /// <summary>
    /// Whether a new invoice's first attempt may be started with the invoice, in its transaction: the checks <see cref="RunAsync"/>
    /// makes before <see cref="StartAsync"/>, on a charge_automatically invoice with something to charge under an active agreement.
    /// </summary>
    public static bool CanStart(Subscription sub, Invoice invoice, Mandate? mandate) =>
        sub.CollectionMethod == CollectionMethods.ChargeAutomatically && invoice is { Amount: > 0, Status: InvoiceStatus.Open, AttemptPaymentId: null }
        && mandate is { Status: MandateStatus.Active } && mandate.Id == sub.MandateId && invoice.Amount <= mandate.MaxAmount && invoice.Currency == mandate.Currency;

    /// <summary>A new attempt's payment, pending: its id is the provider's idempotency key.</summary>
    public static Payment NewAttempt(BillingServices s, Subscription sub, Invoice invoice) => new()
    {
        Id = Ids.New("pay"), MerchantId = sub.MerchantId, OrderId = invoice.OrderId, Provider = sub.Provider, Method = Method,
        Status = PaymentStatus.Pending, Amount = invoice.Amount, Currency = invoice.Currency, CreatedAt = s.RealNow,
    };

    /// <summary>The attempt's payment, pending, recorded on the invoice by a conditional update: one attempt at a time.</summary>
    static async Task<Payment?> StartAsync(BillingServices s, Subscription sub, Invoice invoice, CancellationToken ct)
    {
        var db = s.Db;
        var payment = NewAttempt(s, sub, invoice);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await Renewals.TakeLockAsync(db, sub.Id, ct);
        var taken = await db.Invoices.Where(i => i.Id == invoice.Id && i.AttemptPaymentId == null && i.Status == InvoiceStatus.Open)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.AttemptPaymentId, payment.Id).SetProperty(i => i.AttemptCount, i => i.AttemptCount + 1), ct);
        if (taken == 0) return null;
        db.Payments.Add(payment);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        Monitoring.KnowPayMetrics.PaymentCreated(payment);
        return payment;
    }

    /// <param name="mandate">The agreement when the caller has just read it (a new attempt); null re-reads it (a pending attempt asked again).</param>
    /// <param name="order">The invoice's order when the caller holds it; null reads it.</param>
    static async Task<bool> ChargeAsync(BillingServices s, Subscription sub, Invoice invoice, Payment payment, Mandate? mandate, Order? order, DateTime now,
        CancellationToken ct)
    {
        var db = s.Db;
        var recheck = now.AddSeconds(s.Options.PendingRecheckSeconds);
        if (!s.Recurring.TryGet(payment.Provider, out var provider) || !s.Payments.TryGet(payment.Provider, out var paymentProvider))
        {
            s.Log.LogWarning("Invoice {InvoiceId}: provider {Provider} is not enabled; the charge waits", invoice.Id, payment.Provider);
            await Renewals.SetNextActionAsync(db, sub.Id, recheck, ct);
            return false;
        }
        var invoiceOrder = order is { } written && written.Id == payment.OrderId ? written
            : await db.Orders.AsNoTracking().SingleAsync(o => o.Id == payment.OrderId, ct);
        mandate ??= await db.Mandates.AsNoTracking().SingleAsync(m => m.Id == sub.MandateId, ct);
        var charge = new RecurringCharge(payment, invoiceOrder, mandate, invoiceOrder.Description ?? $"Invoice {invoice.Id}", s.PublicUrl.Combine($"/v1/notify/{provider.Name}"));
        // Grouped (s.Paid): a notification of this charge that comes before its answer waits for the group's confirmation.
        var charging = s.Paid is not null && s.Awaited.TryStartCharging(payment.Id, out var registered) ? registered : null;
        ProviderTradeState state;
        var answeredPaid = false;
        try
        {
            await provider.NotifyUpcomingChargeAsync(charge, ct);
            state = await provider.ChargeAsync(charge, ct);
            answeredPaid = state.Status == TradeStatus.Paid;
        }
        catch (ProviderException e) when (e.Code == WeChatPayProvider.PreDebitWindowClosed)
        {
            // Not a decline: WeChat Pay takes pre-debit notices only 06:00–22:00 Beijing time; the same payment is tried when it opens.
            var opens = WeChatPayProvider.PreDebitWindowOpensAt(new DateTimeOffset(DateTime.SpecifyKind(now, DateTimeKind.Utc))).UtcDateTime;
            s.Log.LogInformation("Charge {PaymentId} of invoice {InvoiceId} waits for WeChat Pay's pre-debit window", payment.Id, invoice.Id);
            var retryAt = opens > now ? opens : recheck;
            await db.Invoices.Where(i => i.Id == invoice.Id).ExecuteUpdateAsync(u => u.SetProperty(i => i.NextAttemptAt, retryAt), ct);
            await Renewals.SetNextActionAsync(db, sub.Id, retryAt, ct);
            return false;
        }
        catch (ProviderException e)
        {
            // Maybe applied or not: the same payment is charged again later, which the provider answers idempotently.
            s.Log.LogWarning(e, "Charge {PaymentId} of invoice {InvoiceId} got no answer from {Provider}; asked again later", payment.Id, invoice.Id, provider.Name);
            await Renewals.SetNextActionAsync(db, sub.Id, recheck, ct);
            return false;
        }
        finally
        {
            // Only an answer Paid is confirmed by the group, which then ends the registration; any other end releases the report now.
            if (!answeredPaid && charging is not null) s.Awaited.EndConfirming(charging, null);
        }
        switch (state.Status)
        {
            case TradeStatus.Paid:
                var fact = PaidFact.From(provider.Name, payment.Id, state, "answer");
                if (s.Paid is { } paid && ConfirmPayment.Hold(fact, payment, invoiceOrder, paymentProvider, s.Awaited, charging) is { } held)
                {
                    await paid.AddAsync(s, held, sub.Id, recheck, now, ct);
                    return true;
                }
                // The attempt and its order as held here serve the confirmation's first read; its transaction re-reads the rest under lock.
                var outcome = await ConfirmPayment.ApplyAsync(db, fact, paymentProvider, new FrozenClock(now), s.Log, ct, s.Awaited, (payment, invoiceOrder));
                if (outcome == ConfirmOutcome.Mismatch) await Renewals.SetNextActionAsync(db, sub.Id, recheck, ct);
                return true;
            case TradeStatus.Failed or TradeStatus.Closed:
                var code = state.FailureCode ?? RecurringFailures.Declined;
                await FailPayment.ApplyAsync(db, payment, code, now, ct);
                await Dunning.FailAsync(s, sub.Id, invoice.Id, code, now, countAttempt: false, ct);
                return true;
            default:
                await Renewals.SetNextActionAsync(db, sub.Id, recheck, ct);
                return false;
        }
    }
}

/// <summary>
/// A run of the renewal engine's attempts answered Paid, confirmed in groups of <see cref="GroupSize"/> through
/// <see cref="ConfirmPayment.ApplyHeldAsync"/> (performance: one transaction per group instead of per renewal): the worker
/// whose answer fills a group confirms it, and the run confirms the rest before it releases its claims.
/// </summary>
public sealed class PaidAttempts
{
    const int GroupSize = 25;
    readonly List<Paid> pending = [];

    /// <summary>A held attempt, with its subscription and when to ask again if the answer does not match the payment.</summary>
    sealed record Paid(HeldPayment Held, string SubscriptionId, DateTime Recheck);

    public async Task AddAsync(BillingServices s, HeldPayment held, string subscriptionId, DateTime recheck, DateTime now, CancellationToken ct)
    {
        List<Paid>? full = null;
        lock (pending)
        {
            pending.Add(new(held, subscriptionId, recheck));
            if (pending.Count >= GroupSize) full = TakeAll();
        }
        if (full is not null) await ConfirmAsync(s, full, now, ct);
    }

    public async Task ConfirmRestAsync(BillingServices s, DateTime now, CancellationToken ct)
    {
        List<Paid> rest;
        lock (pending) rest = TakeAll();
        if (rest.Count > 0) await ConfirmAsync(s, rest, now, ct);
    }

    List<Paid> TakeAll()
    {
        List<Paid> all = [.. pending];
        pending.Clear();
        return all;
    }

    static async Task ConfirmAsync(BillingServices s, List<Paid> group, DateTime now, CancellationToken ct)
    {
        try
        {
            var outcomes = await ConfirmPayment.ApplyHeldAsync(s.Db, [.. group.Select(g => g.Held)], new FrozenClock(now), s.Log, s.Awaited, ct);
            for (var i = 0; i < group.Count; i++)
                if (outcomes[i] == ConfirmOutcome.Mismatch) await Renewals.SetNextActionAsync(s.Db, group[i].SubscriptionId, group[i].Recheck, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The payments stay pending on their invoices: the next run charges each again under the same id, or the poller settles it.
            s.Log.LogError(e, "{Count} paid renewal charges could not be confirmed now; they are asked again", group.Count);
            s.Db.ChangeTracker.Clear();
        }
    }
}
