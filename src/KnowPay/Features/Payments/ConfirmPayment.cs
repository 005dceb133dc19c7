using System.Linq.Expressions;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;

namespace KnowPay.Features.Payments;

/// <summary>An amount as a provider states it: minor units and the currency code it names.</summary>
public sealed record ReportedAmount(long MinorUnits, string Currency);

/// <summary>
/// A provider's statement that a payment was paid, from a verified notification or from a query. Amount is null when
/// the provider did not state both amount and currency: such a fact never matches a payment.
/// </summary>
public sealed record PaidFact(string Provider, string PaymentId, string? ProviderTradeNo, ReportedAmount? Amount, DateTime? PaidAt, string Via)
{
    /// <summary>The provider's conversion of the payment, recorded on it once confirmed.</summary>
    public ProviderSettlement? Settlement { get; init; }

    public static PaidFact From(string provider, string paymentId, ProviderTradeState state, string via) =>
        new(provider, paymentId, state.ProviderTradeNo,
            state is { Amount: { } amount, Currency: { } currency } ? new ReportedAmount(amount, currency) : null, state.PaidAt, via)
        { Settlement = state.Settlement };
}

public enum ConfirmOutcome { Confirmed, AlreadyConfirmed, UnknownPayment, Mismatch }

/// <summary>
/// A payment its caller started and holds with its order, reported paid by <paramref name="Fact"/> through
/// <paramref name="Provider"/>, its confirmation registered as running on this node (<see cref="ConfirmPayment.Hold"/>).
/// </summary>
public sealed record HeldPayment(PaidFact Fact, Payment Payment, Order Order, IPaymentProvider Provider, Confirmation Running);

/// <summary>
/// Confirms a payment exactly once. In ONE transaction: payment succeeded (conditional on not being succeeded
/// already), order paid (a late success on an expired order is honoured and flagged), the balanced ledger
/// journal (unique per payment), the entitlement, and the outbox events. A duplicate, late or concurrent
/// confirmation changes nothing and reports AlreadyConfirmed.
/// </summary>
public static class ConfirmPayment
{
    /// <param name="awaited">When this node started the payment, its remembered rows replace the first read (and are taken,
    /// whichever path — notification or query — confirms it).</param>
    /// <param name="started">The payment and its order as the caller holds them, having started the payment itself (the renewal
    /// engine): they replace the first read as remembered rows do.</param>
    public static async Task<ConfirmOutcome> ApplyAsync(KnowPayDb db, PaidFact fact, IPaymentProvider provider, TimeProvider clock, ILogger log, CancellationToken ct,
        AwaitedPayments awaited, (Payment Payment, Order Order)? started = null)
    {
        if (!awaited.TryStartConfirming(fact, out var running))
            return await running.CoversAsync(fact, ct) ?? await ApplyOnceAsync(db, fact, provider, clock, log, ct, awaited, started);
        ConfirmOutcome? outcome = null;
        try { return (outcome = await ApplyOnceAsync(db, fact, provider, clock, log, ct, awaited, started)).Value; }
        finally { awaited.EndConfirming(running, outcome); }
    }

    static async Task<ConfirmOutcome> ApplyOnceAsync(KnowPayDb db, PaidFact fact, IPaymentProvider provider, TimeProvider clock, ILogger log, CancellationToken ct,
        AwaitedPayments awaited, (Payment Payment, Order Order)? started)
    {
        var (outcome, payment, order) = await ConfirmAsync(db, fact, provider, clock, log, ct, awaited, started);
        // A confirmation writes the settlement it carries itself; one reported to a payment read without it is written here.
        if (outcome is ConfirmOutcome.AlreadyConfirmed && fact.Settlement is { } s && payment is { SettlementCurrency: null, PayerCurrency: null })
            await RecordLateSettlementAsync(db, payment, order!, s, clock.GetUtcNow().UtcDateTime, ct);
        return outcome;
    }

    /// <summary>
    /// The provider's conversion, on a payment confirmed without it, and its FX gain/loss journal, in one transaction; the first
    /// report wins (the update is conditional on none recorded), so a duplicate notification or a re-query writes nothing.
    /// The payment and order as read before serve the journal: the fields it takes (ids, amounts, currencies, the locked quote) never change.
    /// </summary>
    static async Task RecordLateSettlementAsync(KnowPayDb db, Payment payment, Order order, ProviderSettlement s, DateTime now, CancellationToken ct)
    {
        var strategy = db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var won = await db.Payments.Where(p => p.Id == payment.Id && p.Status == PaymentStatus.Succeeded && p.SettlementCurrency == null && p.PayerCurrency == null)
                .ExecuteUpdateAsync(u => u
                    .SetProperty(p => p.SettlementAmount, s.Amount).SetProperty(p => p.SettlementCurrency, s.Currency).SetProperty(p => p.SettlementRate, s.Rate)
                    .SetProperty(p => p.PayerAmount, s.PayerAmount).SetProperty(p => p.PayerCurrency, s.PayerCurrency).SetProperty(p => p.PayerRate, s.PayerRate), ct);
            if (won == 0) return;
            if (Fx.FxLedger.PaymentSettled(order, payment, s, now) is { } journal)
            {
                db.Journals.Add(journal);
                await db.SaveChangesAsync(ct);
                db.ChangeTracker.Clear();
            }
            await tx.CommitAsync(ct);
        });
    }

    /// <returns>The outcome, and the payment and its order as read (null when unknown).</returns>
    static async Task<(ConfirmOutcome Outcome, Payment? Payment, Order? Order)> ConfirmAsync(KnowPayDb db, PaidFact fact, IPaymentProvider provider, TimeProvider clock, ILogger log, CancellationToken ct,
        AwaitedPayments awaited, (Payment Payment, Order Order)? started = null)
    {
        // The payment and its order in one read (the order is only a prediction: the write re-checks it), unless held or remembered.
        PaymentRows? read;
        var remembered = true;
        if (started is { } held && held.Payment.Id == fact.PaymentId) read = new(held.Payment, held.Order);
        else if (awaited.TryTake(fact.PaymentId, fact.Provider, out var rememberedPayment, out var rememberedOrder)) read = new(rememberedPayment, rememberedOrder);
        else
        {
            remembered = false;
            read = await PaymentRowsOf.For(db)(db, fact.PaymentId, ct);
        }
        // The provider is checked on the row, not in the WHERE: see KnowPayDb.PaymentOfAsync.
        if (read is null || read.Payment.Provider != fact.Provider)
        {
            log.LogWarning("Security: {Provider} reported payment {PaymentId} which does not exist", fact.Provider, fact.PaymentId);
            return (ConfirmOutcome.UnknownPayment, null, null);
        }
        var payment = read.Payment;
        if (!Reports(fact, payment))
        {
            log.LogWarning("Security: {Provider} reported {Amount} {Currency} (trade {Trade}) for payment {PaymentId} of {Expected} {ExpectedCurrency}; refused",
                fact.Provider, fact.Amount?.MinorUnits, fact.Amount?.Currency, fact.ProviderTradeNo, payment.Id, payment.Amount, payment.Currency);
            return (ConfirmOutcome.Mismatch, payment, read.Order);
        }
        var confirm = PaymentTransitions.Confirm(payment.Status, read.Order.Status);
        if (!confirm.Allowed) return (ConfirmOutcome.AlreadyConfirmed, payment, read.Order);

        var now = clock.GetUtcNow().UtcDateTime;
        if (db.IsPostgres && await TryOneStatementAsync(db, payment, read.Order, fact, provider, now, log, ct) is { } fast)
        {
            if (fast == ConfirmOutcome.Confirmed) Monitoring.KnowPayMetrics.PaymentSucceeded(payment, fact.PaidAt ?? now, now, fact.Via);
            return (fast, payment, read.Order);
        }
        // The rows as remembered no longer hold (the order changed, or the trade number was set since): start over from the database.
        // An invoice's order never takes the one statement: the transaction below reads every row it decides from under lock.
        if (remembered && read.Order.InvoiceId is null) return await ConfirmAsync(db, fact, provider, clock, log, ct, awaited);
        return (await ConfirmInTransactionAsync(db, payment, fact, provider, now, log, ct), payment, read.Order);
    }

    /// <summary>Whether <paramref name="fact"/> states <paramref name="payment"/>'s amount and currency (and its trade, once known).</summary>
    static bool Reports(PaidFact fact, Payment payment) =>
        fact.Amount is { } reported && payment.Amount == reported.MinorUnits
        && string.Equals(payment.Currency, reported.Currency, StringComparison.OrdinalIgnoreCase)
        && (payment.ProviderTradeNo is null || fact.ProviderTradeNo is null || payment.ProviderTradeNo == fact.ProviderTradeNo);

    /// <summary>
    /// Confirms payments their caller started and holds with their orders (the renewal engine's attempts, answered Paid) with
    /// the outcomes <see cref="ApplyAsync"/> gives one by one, but on PostgreSQL in ONE transaction for the group (performance:
    /// four round trips and one commit per group instead of per payment): <see cref="GroupConfirmationGuard"/> for all, taking
    /// the single guard's locks in its order (orders, then subscriptions, then invoices; each kind in key order), one read of
    /// the locked rows, every payment's staged rows as one statement of arrays. Whatever the group cannot decide from that
    /// alone — a report already being confirmed on this node, a fact that does not match, a payment the guard did not win,
    /// an order no longer payable, any failure of the group's transaction (rolled back whole) — takes ApplyAsync's path.
    /// </summary>
    public static async Task<ConfirmOutcome[]> ApplyHeldAsync(KnowPayDb db, IReadOnlyList<HeldPayment> held, TimeProvider clock, ILogger log,
        AwaitedPayments awaited, CancellationToken ct)
    {
        var outcomes = new ConfirmOutcome?[held.Count];
        try
        {
            var group = new List<int>(held.Count);
            var orders = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < held.Count; i++)
            {
                var (fact, payment, order, _, _) = held[i];
                if (db.IsPostgres && fact.Provider == payment.Provider && fact.PaymentId == payment.Id && Reports(fact, payment) && order.InvoiceId is not null
                    && PaymentTransitions.Confirm(payment.Status, order.Status).Allowed && orders.Add(order.Id))
                    group.Add(i);
            }
            var now = clock.GetUtcNow().UtcDateTime;
            if (group.Count > 0) await TryConfirmGroupAsync(db, held, group, outcomes, now, log, ct);
            for (var i = 0; i < held.Count; i++)
                outcomes[i] ??= await ApplyOnceAsync(db, held[i].Fact, held[i].Provider, clock, log, ct, awaited, (held[i].Payment, held[i].Order));
        }
        finally
        {
            for (var i = 0; i < held.Count; i++) awaited.EndConfirming(held[i].Running, outcomes[i]);
        }
        return [.. outcomes.Select(o => o!.Value)];
    }

    /// <summary>
    /// Registers the confirmation of a payment its caller holds (for <see cref="ApplyHeldAsync"/>, which ends it), so that a
    /// report of it arriving meanwhile takes its outcome — or takes over <paramref name="charging"/>, registered before the
    /// charge (<see cref="AwaitedPayments.TryStartCharging"/>); null when another is already running on this node (apply the
    /// fact through <see cref="ApplyAsync"/>, which waits for it).
    /// </summary>
    public static HeldPayment? Hold(PaidFact fact, Payment payment, Order order, IPaymentProvider provider, AwaitedPayments awaited,
        Confirmation? charging = null)
    {
        if (charging is not null) charging.Answered(fact);
        else if (!awaited.TryStartConfirming(fact, out charging)) return null;
        return new(fact, payment, order, provider, charging);
    }

    /// <summary>
    /// The group's transaction: sets Confirmed for each payment it confirmed, AlreadyConfirmed for none (a guard not won is
    /// decided by the one-by-one path, which also records a late settlement); leaves every outcome unset when it rolled back.
    /// </summary>
    static async Task TryConfirmGroupAsync(KnowPayDb db, IReadOnlyList<HeldPayment> held, List<int> group, ConfirmOutcome?[] outcomes, DateTime now,
        ILogger log, CancellationToken ct)
    {
        var statuses = group.Select(i => held[i].Payment.Status).ToList();
        var confirmed = new List<int>(group.Count);
        var committed = false;
        try
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var won = await GuardGroupAsync(db, [.. group.Select(i => held[i])], now, ct);
            var locked = won.Count == 0 ? []
                : await LockedRowsOfGroup.For(db)(db, [.. group.Where(i => won.Contains(held[i].Payment.Id)).Select(i => held[i].Order.Id)])
                    .ToDictionaryAsync(r => r.Order.Id, StringComparer.Ordinal, ct);
            var rows = new StagedRows();
            foreach (var i in group)
            {
                var (fact, payment, _, provider, _) = held[i];
                if (!won.Contains(payment.Id)) continue;
                // Paid another way meanwhile (or no longer an invoice's): the one-by-one path flags or decides it.
                if (locked[held[i].Order.Id] is not { Invoice: { } invoice, Subscription: { } subscription } read || !OrderTransitions.Pay(read.Order.Status).Allowed)
                {
                    await tx.RollbackAsync(CancellationToken.None);
                    return;
                }
                invoice.Lines.AddRange(read.Lines);
                var access = await Billing.InvoicePayment.StageAsync(db, rows, read.Order, provider as IRecurringProvider, now, ct,
                    new(subscription, invoice, read.Entitlement, read.TestClockTime));
                Stage(rows, payment, read.Order, provider, fact.Settlement, now, log, access);
                confirmed.Add(i);
            }
            await StagedRowsWriter.SaveAsync(db, rows, ct, asArrays: true);
            await tx.CommitAsync(ct);
            committed = true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "A group of {Count} held payments could not be confirmed together; confirming them one by one", group.Count);
        }
        finally
        {
            db.ChangeTracker.Clear();
            // Rolled back: the payments as held again (Stage moved them), for the one-by-one path to decide from.
            if (!committed)
                for (var k = 0; k < group.Count; k++) held[group[k]].Payment.Status = statuses[k];
        }
        if (!committed) return;
        foreach (var i in confirmed)
        {
            outcomes[i] = ConfirmOutcome.Confirmed;
            Monitoring.KnowPayMetrics.PaymentSucceeded(held[i].Payment, held[i].Fact.PaidAt ?? now, now, held[i].Fact.Via);
        }
    }

    /// <summary><see cref="GroupConfirmationGuard"/> for the held payments, in the caller's open transaction; the ids of those
    /// whose guard won.</summary>
    static async Task<HashSet<string>> GuardGroupAsync(KnowPayDb db, HeldPayment[] held, DateTime now, CancellationToken ct)
    {
        var connection = (Npgsql.NpgsqlConnection)db.Database.GetDbConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = GroupConfirmationGuard;
        var p = command.Parameters;
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Order.Id).ToArray() });
        p.Add(new Npgsql.NpgsqlParameter { Value = now, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Payment.Id).ToArray() });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.PaidAt ?? now).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.TimestampTz });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.ProviderTradeNo).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.Via).ToArray() });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.Settlement?.Amount).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.Settlement?.Currency).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.Settlement?.Rate).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Numeric });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.Settlement?.PayerAmount).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.Settlement?.PayerCurrency).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text });
        p.Add(new Npgsql.NpgsqlParameter { Value = held.Select(h => h.Fact.Settlement?.PayerRate).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Numeric });
        var won = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) won.Add(reader.GetString(0));
        return won;
    }

    /// <summary>
    /// The general path (SQLite, or when the one-statement path did not decide): <see cref="ConfirmationGuard"/> first, then
    /// the order read under lock and the staged rows (one statement on PostgreSQL, else SaveChanges), in one transaction.
    /// </summary>
    internal static async Task<ConfirmOutcome> ConfirmInTransactionAsync(KnowPayDb db, Payment payment, PaidFact fact, IPaymentProvider provider,
        DateTime now, ILogger log, CancellationToken ct)
    {
        var strategy = db.Database.CreateExecutionStrategy();
        var statusAsRead = payment.Status;
        return await strategy.ExecuteAsync(async () =>
        {
            payment.Status = statusAsRead; // Stage decides from the status as read, also when the strategy runs this again
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            // The order is read after the guard, so the payment is not known to be a duplicate yet (flagged below).
            var s = fact.Settlement;
            object[] guard = [payment.Id, now, fact.PaidAt ?? now, fact.ProviderTradeNo!, fact.Via, false,
                s?.Amount!, s?.Currency!, s?.Rate!, s?.PayerAmount!, s?.PayerCurrency!, s?.PayerRate!];
            var won = db.IsPostgres
                ? await db.Database.ExecuteSqlRawAsync(LockingConfirmationGuard, [.. guard, payment.OrderId], ct)
                : await db.Database.ExecuteSqlRawAsync(ConfirmationGuard, guard, ct);
            if (won == 0) return ConfirmOutcome.AlreadyConfirmed;

            Order order;
            Billing.InvoicePayment.Locked? invoiceRows = null;
            if (db.IsPostgres)
            {
                // Locked by the guard, so that two payments of one order confirm one after the other; read in one round trip.
                var read = await ReadLockedAsync(db, payment.OrderId, ct);
                order = read.Order;
                if (read is { Invoice: { } invoice, Subscription: { } subscription })
                {
                    invoice.Lines.AddRange(read.Lines);
                    invoiceRows = new(subscription, invoice, read.Entitlement, read.TestClockTime);
                }
            }
            else order = await db.Orders.SingleAsync(o => o.Id == payment.OrderId, ct);   // SQLite's write lock, taken by the guard, serialises
            var rows = new StagedRows();
            // An invoice's order pays the invoice and extends the subscription's one entitlement instead of granting a new one.
            var subscriptionAccess = order.InvoiceId is not null && OrderTransitions.Pay(order.Status).Allowed
                ? await Billing.InvoicePayment.StageAsync(db, rows, order, provider as IRecurringProvider, now, ct, invoiceRows) : null;
            var paidAnotherWay = Stage(rows, payment, order, provider, fact.Settlement, now, log, subscriptionAccess);
            if (paidAnotherWay)
            {
                // Paid another way: flag it in this transaction; DuplicatePaymentRefunds refunds it in full through the
                // normal refund path (durable: a crash before the refund only delays it).
                await db.Payments.Where(p => p.Id == payment.Id).ExecuteUpdateAsync(s => s.SetProperty(p => p.Duplicate, true), ct);
            }
            try
            {
                await StagedRowsWriter.SaveAsync(db, rows, ct);
                await tx.CommitAsync(ct);
            }
            catch (Exception e) when (DbErrors.IsUniqueViolation(e))
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

    sealed record PaymentRows(Payment Payment, Order Order);

    /// <summary>A payment and its order: one query, compiled (performance: every confirmation not started on this node reads it).</summary>
    static readonly CompiledQuery<Func<KnowPayDb, string, CancellationToken, Task<PaymentRows?>>> PaymentRowsOf = new(() => EF.CompileAsyncQuery(
        (KnowPayDb db, string paymentId, CancellationToken ct) => db.Payments.AsNoTracking().Where(p => p.Id == paymentId)
            .Join(db.Orders.AsNoTracking(), p => p.OrderId, o => o.Id, (p, o) => new PaymentRows(p, o)).SingleOrDefault()));

    sealed record LockedRows(Order Order, Invoice? Invoice, List<InvoiceLine> Lines, Subscription? Subscription, Entitlement? Entitlement,
        DateTime? TestClockTime);

    /// <summary>
    /// What the confirmation reads under lock for the orders it is given: each order and, for an invoice's order, the invoice,
    /// its lines, its subscription, its entitlement and its test clock's time. Left joins on the keys (index lookups), not
    /// correlated EXISTS, which PostgreSQL may answer by scanning a table.
    /// </summary>
    static readonly Expression<Func<KnowPayDb, IQueryable<Order>, IQueryable<LockedRows>>> LockedRowsOfOrders = (db, orders) =>
        from o in orders
        join i in db.Invoices.AsNoTracking() on o.InvoiceId equals (string?)i.Id into invoices
        from i in invoices.DefaultIfEmpty()
        join s in db.Subscriptions.AsNoTracking() on i!.SubscriptionId equals s.Id into subscriptions
        from s in subscriptions.DefaultIfEmpty()
        join e in db.Entitlements.AsNoTracking() on s!.EntitlementId equals (string?)e.Id into entitlements
        from e in entitlements.DefaultIfEmpty()
        join c in db.TestClocks.AsNoTracking() on s!.TestClockId equals (string?)c.Id into clocks
        from c in clocks.DefaultIfEmpty()
        select new LockedRows(o, i, db.InvoiceLines.Where(l => l.InvoiceId == o.InvoiceId).ToList(), s, e, (DateTime?)c!.FrozenTime);

    /// <summary>
    /// <see cref="LockedRowsOfOrders"/> for the orders <paramref name="orders"/> selects by its parameter, compiled (performance: no
    /// LINQ translation on every renewal). One order and a group are two statements: PostgreSQL plans <c>id = $1</c> once, where
    /// <c>id = ANY($1)</c> would be planned for each call.
    /// </summary>
    static CompiledQuery<Func<KnowPayDb, TKey, IAsyncEnumerable<LockedRows>>> LockedRowsWhere<TKey>(Expression<Func<KnowPayDb, TKey, IQueryable<Order>>> orders) =>
        new(() => EF.CompileAsyncQuery(Expression.Lambda<Func<KnowPayDb, TKey, IQueryable<LockedRows>>>(
            new ReplacingExpressionVisitor([.. LockedRowsOfOrders.Parameters], [orders.Parameters[0], orders.Body]).Visit(LockedRowsOfOrders.Body),
            orders.Parameters)));

    static readonly CompiledQuery<Func<KnowPayDb, string, IAsyncEnumerable<LockedRows>>> LockedRowsOf =
        LockedRowsWhere<string>((db, orderId) => db.Orders.AsNoTracking().Where(o => o.Id == orderId));

    static readonly CompiledQuery<Func<KnowPayDb, string[], IAsyncEnumerable<LockedRows>>> LockedRowsOfGroup =
        LockedRowsWhere<string[]>((db, orderIds) => db.Orders.AsNoTracking().Where(o => orderIds.Contains(o.Id)));

    static Task<LockedRows> ReadLockedAsync(KnowPayDb db, string orderId, CancellationToken ct) => LockedRowsOf.For(db)(db, orderId).SingleAsync(ct).AsTask();

    /// <summary>
    /// Stages what a confirmation writes besides the payment row: the order paid (a late success on an expired order is
    /// honoured and flagged), the balanced journal, and the entitlement with its events, or, when the order was already
    /// paid through another payment, only the journal and a payment.duplicate event.
    /// </summary>
    /// <returns>True when the order was already paid another way (the caller flags the payment as a duplicate).</returns>
    static bool Stage(StagedRows rows, Payment payment, Order order, IPaymentProvider provider, ProviderSettlement? settlement, DateTime now, ILogger log,
        Entitlement? subscriptionAccess = null)
    {
        var confirm = PaymentTransitions.Confirm(payment.Status, order.Status);
        var pay = OrderTransitions.Pay(order.Status);
        var paidAnotherWay = !pay.Allowed;
        if (!paidAnotherWay)
        {
            order.PaidAfterExpiry = OrderTransitions.IsLatePayment(pay.From);
            if (order.PaidAfterExpiry)
                log.LogWarning("Payment {PaymentId} succeeded after order {OrderId} was {Status}; honoured and flagged", payment.Id, order.Id, order.Status);
            order.Status = pay.To;
            order.PaidAt = now;
            rows.Update(order, nameof(Order.PaidAfterExpiry), nameof(Order.Status), nameof(Order.PaidAt));
        }

        var journal = rows.Insert(Journals.Build(order.MerchantId, "payment_confirmed", payment.Id,
            $"Payment {payment.Id} for order {order.Id}", Fx.FxLedger.PaymentConfirmed(payment, order, provider.Fee), now));
        foreach (var entry in journal.Entries) rows.Insert(entry);
        // The settlement itself is written by the guard; its difference from the locked quote is booked with the confirmation.
        if (Fx.FxLedger.PaymentSettled(order, payment, settlement, now) is { } fx)
        {
            rows.Insert(fx);
            foreach (var entry in fx.Entries) rows.Insert(entry);
        }

        payment.Status = confirm.To;
        payment.SucceededAt = now;
        payment.Duplicate = paidAnotherWay;
        // The order was already paid through another payment: the money is booked, access is not granted
        // twice, and the payment is flagged so that DuplicatePaymentRefunds refunds it in full.
        if (paidAnotherWay) log.LogWarning("Payment {PaymentId} succeeded on order {OrderId} already paid; flagged for refund", payment.Id, order.Id);
        var entitlement = paidAnotherWay ? null : subscriptionAccess ?? Access.Grant(rows, order, now);
        foreach (var type in confirm.Events)
        {
            var (objectId, data) = type switch
            {
                EventTypes.OrderPaid => (order.Id, (object)OrderView.From(order)),
                EventTypes.EntitlementGranted => (entitlement!.Id, EntitlementView.From(entitlement)),
                EventTypes.PaymentDuplicate => (payment.Id, PaymentView.From(payment)),
                _ => throw new System.Diagnostics.UnreachableException($"a confirmation does not emit {type}"),
            };
            Outbox.Add(rows, order.MerchantId, type, objectId, data, now);
        }
        return paidAnotherWay;
    }

    /// <summary>
    /// The exactly-once guard, the one definition both write paths run: the conditional UPDATE that moves the payment to
    /// Succeeded. Only the write whose UPDATE changes the row writes the confirmation; any other writes nothing.
    /// It also records the provider's conversion the confirming fact carries (null columns when none; one reported earlier stays).
    /// Format items: {0} payment id, {1} succeeded_at, {2} provider_paid_at, {3} provider trade no, {4} confirmed_by, {5} duplicate,
    /// {6}–{11} settlement amount, currency, rate and payer amount, currency, rate.
    /// </summary>
    internal const string ConfirmationGuard = ConfirmationUpdate + "\n  WHERE id = {0} AND " + NotConfirmed;

    /// <summary><see cref="ConfirmationGuard"/>'s UPDATE and SET, for a statement that names its payments its own way (<see cref="GroupConfirmationGuard"/>).</summary>
    const string ConfirmationUpdate = $$"""
        UPDATE payments SET status = '{{Confirmed}}', succeeded_at = {1}, provider_paid_at = {2},
          provider_trade_no = COALESCE(provider_trade_no, {3}), confirmed_by = {4}, duplicate = {5},
          settlement_amount = COALESCE(settlement_amount, {6}), settlement_currency = COALESCE(settlement_currency, {7}),
          settlement_rate = COALESCE(settlement_rate, {8}), payer_amount = COALESCE(payer_amount, {9}),
          payer_currency = COALESCE(payer_currency, {10}), payer_rate = COALESCE(payer_rate, {11})
        """;

    const string NotConfirmed = $"status <> '{Confirmed}'";

    /// <summary>
    /// <see cref="ConfirmationGuard"/> on PostgreSQL's general path, row-locking first what the confirmation then reads: the
    /// order ({12}), and for an invoice's order its subscription and then the invoice (the renewal engine's order); each lock's
    /// CTE reads the one before, so they are taken in this order.
    /// </summary>
    internal const string LockingConfirmationGuard = $$"""
        WITH o AS (SELECT invoice_id FROM orders WHERE id = {12} FOR UPDATE),
          s AS (SELECT 1 FROM subscriptions WHERE id = (SELECT subscription_id FROM invoices WHERE id = (SELECT invoice_id FROM o)) FOR NO KEY UPDATE),
          i AS (SELECT 1 FROM invoices WHERE id = (SELECT invoice_id FROM o) AND (SELECT count(*) FROM s) >= 0 FOR NO KEY UPDATE)
        {{ConfirmationGuard}} AND (SELECT count(*) FROM i) >= 0
        """;

    /// <summary>
    /// <see cref="LockingConfirmationGuard"/> for a group of invoices' payments: every order ($1) locked, then their
    /// subscriptions, then their invoices, each kind in key order, so that it waits on a single confirmation of one of them
    /// and never the other way round; then the same exactly-once UPDATE for each payment ($3 with its fact's values $4–$12,
    /// $2 succeeded_at), returning the ids it moved.
    /// </summary>
    static readonly string GroupConfirmationGuard = """
        WITH o AS (SELECT invoice_id FROM orders WHERE id = ANY($1) ORDER BY id FOR UPDATE),
          s AS (SELECT 1 FROM subscriptions WHERE id IN (SELECT subscription_id FROM invoices WHERE id IN (SELECT invoice_id FROM o)) ORDER BY id FOR NO KEY UPDATE),
          i AS (SELECT 1 FROM invoices WHERE id IN (SELECT invoice_id FROM o) AND (SELECT count(*) FROM s) >= 0 ORDER BY id FOR NO KEY UPDATE)

        """ + string.Format(System.Globalization.CultureInfo.InvariantCulture, ConfirmationUpdate, "", "$2", "v.paid_at", "v.trade_no", "v.via", "false",
            "v.s_amount", "v.s_currency", "v.s_rate", "v.p_amount", "v.p_currency", "v.p_rate") + $"""

        FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::numeric[], $10::bigint[], $11::text[], $12::numeric[])
          AS v(payment, paid_at, trade_no, via, s_amount, s_currency, s_rate, p_amount, p_currency, p_rate)
        WHERE id = v.payment AND {NotConfirmed} AND (SELECT count(*) FROM i) >= 0
        RETURNING id
        """;

    /// <summary>The target of <see cref="PaymentTransitions.Confirm"/>, allowed from every other status (a late success is honoured).</summary>
    const string Confirmed = nameof(PaymentStatus.Succeeded);

    // The one-statement path's guard: ConfirmationGuard, and only if the order and the trade number are as read.
    static readonly string ConfirmationHead =
        "WITH o AS (SELECT status FROM orders WHERE id = $1 FOR UPDATE),\n  won AS (" +
        string.Format(System.Globalization.CultureInfo.InvariantCulture, ConfirmationGuard, "$2", "$4", "$5", "$6", "$7", $"($3 = '{nameof(OrderStatus.Paid)}')",
            "$8", "$9", "$10", "$11", "$12", "$13") +
        " AND (SELECT status FROM o) = $3\n    AND (provider_trade_no IS NULL OR $6 IS NULL OR provider_trade_no = $6) RETURNING 1)";
    // The payment's status is only read when the statement did not win (an InitPlan runs when first needed).
    const string ConfirmationTail =
        "\nSELECT (SELECT count(*) FROM won), CASE WHEN EXISTS (SELECT 1 FROM won) THEN NULL ELSE (SELECT status FROM payments WHERE id = $2) END";

    /// <summary>
    /// PostgreSQL hot path (performance: one round trip and one commit instead of five round trips). The rows are staged
    /// by <see cref="Stage"/> from the order as read (not tracked by EF), then shipped as ONE autocommit statement:
    /// <code>
    /// WITH o   AS (SELECT status FROM orders WHERE id = @order FOR UPDATE),              -- serialise with other payments of the order
    ///      won AS (UPDATE payments SET status = 'Succeeded', … WHERE id = @payment AND status &lt;&gt; 'Succeeded'
    ///              AND (SELECT status FROM o) = @statusAsRead RETURNING 1),             -- exactly once, and only if the prediction holds
    ///      w0  AS (UPDATE orders … WHERE … AND EXISTS (SELECT 1 FROM won)),               -- the staged rows, all guarded by won
    ///      w1  AS (INSERT INTO ledger_journals … WHERE EXISTS (SELECT 1 FROM won)), …
    /// SELECT (SELECT count(*) FROM won), CASE WHEN EXISTS (SELECT 1 FROM won) THEN NULL ELSE (SELECT status FROM payments WHERE id = @payment) END
    /// </code>
    /// Null means "not decided here" (the order changed since it was read, or the staged rows cannot be shipped this
    /// way): the caller then runs the general transaction, which re-reads everything.
    /// </summary>
    internal static async Task<ConfirmOutcome?> TryOneStatementAsync(KnowPayDb db, Payment payment, Order order, PaidFact fact, IPaymentProvider provider,
        DateTime now, ILogger log, CancellationToken ct)
    {
        // Its own implicit transaction: not inside a caller's. An invoice's order also pays the invoice: the general path.
        if (db.Database.CurrentTransaction is not null || order.InvoiceId is not null) return null;
        var statusAsRead = order.Status;
        var rows = new StagedRows();
        Stage(rows, payment, order, provider, fact.Settlement, now, log);
        try
        {
            var connection = (Npgsql.NpgsqlConnection)db.Database.GetDbConnection();
            await using var command = connection.CreateCommand();
            var p = command.Parameters;
            p.Add(new Npgsql.NpgsqlParameter { Value = order.Id });                                  // $1
            p.Add(new Npgsql.NpgsqlParameter { Value = payment.Id });                                // $2
            p.Add(new Npgsql.NpgsqlParameter { Value = statusAsRead.ToString() });                   // $3
            p.Add(new Npgsql.NpgsqlParameter { Value = now });                                       // $4
            p.Add(new Npgsql.NpgsqlParameter { Value = fact.PaidAt ?? now });                        // $5
            p.Add(new Npgsql.NpgsqlParameter { Value = (object?)fact.ProviderTradeNo ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text }); // $6
            p.Add(new Npgsql.NpgsqlParameter { Value = fact.Via });                                  // $7
            var s = fact.Settlement;                                                                 // $8–$13
            p.Add(new Npgsql.NpgsqlParameter { Value = (object?)s?.Amount ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
            p.Add(new Npgsql.NpgsqlParameter { Value = (object?)s?.Currency ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Varchar });
            p.Add(new Npgsql.NpgsqlParameter { Value = (object?)s?.Rate ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
            p.Add(new Npgsql.NpgsqlParameter { Value = (object?)s?.PayerAmount ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
            p.Add(new Npgsql.NpgsqlParameter { Value = (object?)s?.PayerCurrency ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Varchar });
            p.Add(new Npgsql.NpgsqlParameter { Value = (object?)s?.PayerRate ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
            if (!StagedRowsWriter.TryBuild(db, rows, command, ConfirmationHead, "won", ConfirmationTail)) return null;
            await db.Database.OpenConnectionAsync(ct);
            try
            {
                await using var reader = await command.ExecuteReaderAsync(ct);
                await reader.ReadAsync(ct);
                if (reader.GetInt64(0) == 1) return ConfirmOutcome.Confirmed;
                // Not won: already succeeded (statement snapshot), or the order is no longer as read → general path.
                return reader.GetString(1) == nameof(PaymentStatus.Succeeded) ? ConfirmOutcome.AlreadyConfirmed : null;
            }
            finally
            {
                await db.Database.CloseConnectionAsync();
            }
        }
        catch (Npgsql.PostgresException e) when (DbErrors.IsUniqueViolation(e))
        {
            return ConfirmOutcome.AlreadyConfirmed; // the statement is atomic: nothing was written
        }
        finally
        {
            payment.Status = PaymentStatus.Pending;
        }
    }
}
