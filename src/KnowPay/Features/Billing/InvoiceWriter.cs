using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>
/// Builds a period's invoice (finalized: open) with its line and the order that collects it (<see cref="Order.InvoiceId"/>),
/// priced and split as the product says at that moment. Unique per subscription and period start: a second creation of the
/// same period (another node, a retry) finds the first one.
/// </summary>
public static class InvoiceWriter
{
    /// <summary>The invoice and its order, not yet saved, staged in <paramref name="rows"/> with their lines and the events invoice.created
    /// and invoice.finalized.</summary>
    /// <param name="draft">The period's draft (with its lines: prorations of a plan change), finalized here instead of a new invoice.</param>
    /// <param name="creditBalance">The customer's credit balance, spent on this invoice up to its total (a line and its journal).</param>
    public static (Invoice Invoice, Order Order) Add(StagedRows rows, Subscription sub, Product product, int periodIndex, string reason, DateTime now,
        DateTime realNow, int daysUntilDue, Invoice? draft = null, long creditBalance = 0)
    {
        var schedule = Renewals.Schedule(sub);
        var start = schedule.PeriodStart(sub.BillingCycleAnchor, periodIndex);
        var end = schedule.PeriodEnd(sub.BillingCycleAnchor, periodIndex);
        var finalize = InvoiceTransitions.Finalize(InvoiceStatus.Draft);
        var invoiceId = draft?.Id ?? Ids.New("in");
        var description = $"{product.Name} ({start:yyyy-MM-dd} – {end:yyyy-MM-dd})";
        List<InvoiceLine> lines = [new InvoiceLine { Id = Ids.New("il"), InvoiceId = invoiceId, Description = description, Amount = sub.Amount,
            PeriodStart = start, PeriodEnd = end, PriceId = sub.PriceId }];
        var subtotal = sub.Amount + (draft?.Lines.Sum(l => l.Amount) ?? 0);
        var credit = Math.Min(creditBalance, Math.Max(0, subtotal));
        if (credit > 0)
        {
            lines.Add(ChangeSubscriptionPrice.CreditLine(invoiceId, credit, start, end));
            var journal = rows.Insert(Journals.Build(sub.MerchantId, ChangeSubscriptionPrice.CreditApplied, invoiceId, $"Credit balance spent on invoice {invoiceId}",
                CreditBalance.Applied(sub.CustomerId, product.CreatorId, sub.Currency, credit, product.CreatorShareBps), now));
            foreach (var entry in journal.Entries) rows.Insert(entry);
        }
        var amount = subtotal - credit;
        var order = new Order
        {
            Id = draft?.OrderId ?? Ids.New("ord"), MerchantId = sub.MerchantId, CustomerId = sub.CustomerId, ProductId = sub.ProductId, PriceId = sub.PriceId,
            CreatorId = product.CreatorId, Amount = amount, Currency = sub.Currency, CreatorShareBps = product.CreatorShareBps,
            Status = OrderStatus.Pending, CreatedAt = realNow,
            // Payable by its checkout link until the period ends (send_invoice: the days until due), on the real clock the expiry job reads.
            ExpiresAt = (sub.CollectionMethod == CollectionMethods.SendInvoice ? realNow.AddDays(daysUntilDue) : realNow + (end - start)),
            Description = description, InvoiceId = invoiceId,
        };
        var invoice = draft ?? new Invoice
        {
            Id = invoiceId, MerchantId = sub.MerchantId, SubscriptionId = sub.Id, CustomerId = sub.CustomerId, Currency = sub.Currency,
            BillingReason = reason, PeriodIndex = periodIndex, PeriodStart = start, PeriodEnd = end, OrderId = order.Id, CreatedAt = now,
        };
        invoice.Status = finalize.To;
        invoice.Amount = amount;
        invoice.FinalizedAt = now;
        invoice.Lines.AddRange(lines);
        rows.Insert(order);
        // A draft's first attempt may be recorded on it after this (AddFirstAttempt): its columns are read when the rows are written.
        if (draft is null) rows.Insert(invoice);
        else rows.Update(invoice, nameof(Invoice.Status), nameof(Invoice.Amount), nameof(Invoice.FinalizedAt), nameof(Invoice.AttemptPaymentId), nameof(Invoice.AttemptCount));
        foreach (var line in lines) rows.Insert(line);
        var view = InvoiceView.From(invoice);
        Outbox.Add(rows, sub.MerchantId, EventTypes.InvoiceCreated, invoice.Id, view with { Status = "draft" }, now);
        foreach (var type in finalize.Events) Outbox.Add(rows, sub.MerchantId, type, invoice.Id, view, now);
        return (invoice, order);
    }

    /// <summary>
    /// The invoice of period <paramref name="periodIndex"/>, created (with its order, returned too) if it does not exist yet, and
    /// made the subscription's latest; an existing one comes back without its order.
    /// </summary>
    /// <param name="product">The subscription's product when the caller has read it.</param>
    /// <param name="chargeUnder">The agreement as the caller read it: when <see cref="RenewalAttempt.CanStart"/> holds for a new invoice, its
    /// first attempt's payment is recorded in the same commit (returned as Attempt), before any charge, saving a transaction.</param>
    public static async Task<(Invoice Invoice, Order? Order, Payment? Attempt)> EnsureAsync(BillingServices s, Subscription sub, int periodIndex, string reason,
        DateTime now, CancellationToken ct, Product? product = null, Mandate? chargeUnder = null)
    {
        var db = s.Db;
        var start = Renewals.Schedule(sub).PeriodStart(sub.BillingCycleAnchor, periodIndex);
        product ??= await db.Products.AsNoTracking().SingleAsync(p => p.Id == sub.ProductId, ct);
        try
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var locked = await Renewals.LockAsync(db, sub.Id, ct, tracked: true);
            var period = await db.Invoices.Include(i => i.Lines).SingleOrDefaultAsync(i => i.SubscriptionId == sub.Id && i.PeriodStart == start, ct);
            if (period is not null and not { Status: InvoiceStatus.Draft })
            {
                // Created before (another node, an earlier try): made the latest, nothing else written.
                locked.LatestInvoiceId = period.Id;
                await db.SaveChangesAsync(ct);
                await tx.CommitAsync(ct);
                db.ChangeTracker.Clear();
                return (period, null, null);
            }
            var credit = await ChangeSubscriptionPrice.CreditBalanceAsync(db, locked, ct);
            var rows = new StagedRows();
            var (invoice, order) = Add(rows, locked, product, periodIndex, reason, now, s.RealNow, s.Options.DaysUntilDue, period, credit);
            locked.LatestInvoiceId = invoice.Id;
            var attempt = AddFirstAttempt(s, rows, locked, invoice, chargeUnder);
            await StagedRowsWriter.SaveThroughChangeTrackerAsync(db, rows, ct);   // with the locked row's tracked change
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();
            if (attempt is not null) Monitoring.KnowPayMetrics.PaymentCreated(attempt);
            return (invoice, order, attempt);
        }
        catch (DbUpdateException e) when (Infrastructure.DbErrors.IsUniqueViolation(e))
        {
            // Both databases order writers by the lock above; should another have inserted the period anyway, its invoice stands.
            db.ChangeTracker.Clear();
            var existing = await db.Invoices.AsNoTracking().SingleAsync(i => i.SubscriptionId == sub.Id && i.PeriodStart == start, ct);
            await db.Subscriptions.Where(x => x.Id == sub.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.LatestInvoiceId, existing.Id), ct);
            return (existing, null, null);
        }
    }

    /// <summary>What <see cref="EnsureAsync"/> returns, for one subscription of a batch.</summary>
    public sealed record Ensured(Invoice Invoice, Order? Order, Payment? Attempt);

    /// <summary>
    /// <see cref="EnsureAsync"/> for every subscription of a claimed batch whose step would call it (<see cref="Renewals.InvoiceDue"/>),
    /// in ONE transaction of a fixed number of round trips (PostgreSQL): their rows locked in id order (every other writer locks
    /// one subscription at a time, so none waits in a cycle), the periods' invoices and the customers' credit balances read in
    /// one query each, the rows written by one statement of arrays (<see cref="StagedRowsWriter"/>), planned once whatever the
    /// batch's size. Left to <see cref="EnsureAsync"/> in their own step: a customer with credit (spent under
    /// the customer's lock), a subscription changed since the claim, and the whole batch when its transaction fails (nothing of
    /// it is written; an invoice's unique period start guards the retry, even after a commit whose answer was lost).
    /// </summary>
    public static async Task<Dictionary<string, Ensured>> EnsureBatchAsync(BillingServices s, IReadOnlyList<Renewals.DueSubscription> batch,
        DateTime now, CancellationToken ct)
    {
        var due = batch.Where(d => d.Product is not null)
            .Select(d => (Read: d, Period: Renewals.InvoiceDue(d.Subscription, d.LatestInvoice, now, s.Recurring))).Where(x => x.Period is not null)
            .Select(x => (x.Read, x.Period, Start: Renewals.Schedule(x.Read.Subscription).PeriodStart(x.Read.Subscription.BillingCycleAnchor, x.Period!.Value.PeriodIndex)))
            .ToList();
        if (due.Count == 0) return new();
        await using var scope = s.Scopes.CreateAsyncScope();
        var w = BillingServices.From(scope.ServiceProvider);
        var db = w.Db;
        db.Database.AutoSavepointsEnabled = false;   // a failed SaveChanges rolls the batch back whole
        var ids = due.Select(x => x.Read.Subscription.Id).ToArray();
        var ensured = new Dictionary<string, Ensured>();
        try
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var locked = await db.Subscriptions.FromSql($"SELECT * FROM subscriptions WHERE id = ANY({ids}) ORDER BY id FOR NO KEY UPDATE")
                .AsNoTracking().ToDictionaryAsync(x => x.Id, ct);
            var starts = due.Select(x => x.Start).Distinct().ToList();
            var periods = await db.Invoices.AsNoTracking().Include(i => i.Lines).Where(i => ids.Contains(i.SubscriptionId) && starts.Contains(i.PeriodStart))
                .ToDictionaryAsync(i => (i.SubscriptionId, i.PeriodStart), ct);
            var rows = new StagedRows();
            var withCredit = await ChangeSubscriptionPrice.CreditAccountsWithBalanceAsync(db, due.Select(x => x.Read.Subscription), ct);
            foreach (var (read, period, start) in due)
            {
                var sub = read.Subscription;
                // Changed since the claim (a payment, a cancellation, the API): its own step decides from the row as it is.
                if (!locked.TryGetValue(sub.Id, out var row) || row.LatestInvoiceId != sub.LatestInvoiceId || Renewals.InvoiceDue(row, read.LatestInvoice, now, s.Recurring) != period)
                    continue;
                if (withCredit.Contains((sub.MerchantId, ChangeSubscriptionPrice.CreditAccount(sub)))) continue;
                var (index, reason) = period!.Value;
                var existing = periods.GetValueOrDefault((sub.Id, start));
                if (existing is not null and not { Status: InvoiceStatus.Draft })
                {
                    // Created before (another node, an earlier try): made the latest, nothing else written.
                    row.LatestInvoiceId = existing.Id;
                    rows.Update(row, nameof(Subscription.LatestInvoiceId));
                    ensured[sub.Id] = new(existing, null, null);
                    continue;
                }
                var (invoice, order) = Add(rows, row, read.Product!, index, reason, now, w.RealNow, w.Options.DaysUntilDue, existing);
                row.LatestInvoiceId = invoice.Id;
                rows.Update(row, nameof(Subscription.LatestInvoiceId));
                ensured[sub.Id] = new(invoice, order, AddFirstAttempt(w, rows, row, invoice, read.Mandate));
            }
            await StagedRowsWriter.SaveAsync(db, rows, ct, asArrays: true);
            await tx.CommitAsync(ct);
        }
        catch (Exception e) when (e is DbUpdateException or System.Data.Common.DbException)
        {
            // A period written meanwhile (unique violation), a serialization failure or deadlock: each step writes its own.
            w.Log.LogWarning(e, "The invoices of {Count} due renewals could not be written together; each is written in its own step", due.Count);
            return new();
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
        foreach (var attempt in ensured.Values) if (attempt.Attempt is { } payment) Monitoring.KnowPayMetrics.PaymentCreated(payment);
        return ensured;
    }

    /// <summary>A new invoice's first attempt, pending, added to its commit when <see cref="RenewalAttempt.CanStart"/> holds.</summary>
    static Payment? AddFirstAttempt(BillingServices s, StagedRows rows, Subscription sub, Invoice invoice, Mandate? chargeUnder)
    {
        if (!RenewalAttempt.CanStart(sub, invoice, chargeUnder)) return null;
        var attempt = RenewalAttempt.NewAttempt(s, sub, invoice);
        invoice.AttemptPaymentId = attempt.Id;
        invoice.AttemptCount++;
        rows.Insert(attempt);
        return attempt;
    }
}

public static class CollectionMethods
{
    public const string ChargeAutomatically = "charge_automatically";
    public const string SendInvoice = "send_invoice";
}
