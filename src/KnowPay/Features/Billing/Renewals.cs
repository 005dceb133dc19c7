using System.Collections.Concurrent;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Checkout;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Billing;

/// <summary>What the billing engine works with, resolved from one scope.</summary>
public sealed record BillingServices(KnowPayDb Db, RecurringProviders Recurring, PaymentProviders Payments, PublicUrl PublicUrl,
    AwaitedPayments Awaited, CheckoutLinks Checkout, BillingOptions Options, TimeProvider Clock, ILogger Log, IServiceScopeFactory Scopes)
{
    /// <summary>Where the engine's run collects its attempts answered Paid, to confirm them in groups; null confirms each at once.</summary>
    public PaidAttempts? Paid { get; init; }

    public static BillingServices From(IServiceProvider services) => new(
        services.GetRequiredService<KnowPayDb>(), services.GetRequiredService<RecurringProviders>(), services.GetRequiredService<PaymentProviders>(),
        services.GetRequiredService<PublicUrl>(), services.GetRequiredService<AwaitedPayments>(), services.GetRequiredService<CheckoutLinks>(),
        services.GetRequiredService<IOptions<BillingOptions>>().Value, services.GetRequiredService<TimeProvider>(),
        services.GetRequiredService<ILoggerFactory>().CreateLogger("KnowPay.Billing"), services.GetRequiredService<IServiceScopeFactory>());

    /// <summary>Real time: leases and rows that real-time jobs (the payment poller) look at.</summary>
    public DateTime RealNow => Clock.GetUtcNow().UtcDateTime;
}

/// <summary>
/// The renewal engine, a job: claims subscriptions whose <see cref="Subscription.NextActionAt"/> has passed (<c>FOR UPDATE
/// SKIP LOCKED</c> on PostgreSQL, with a lease, so any number of nodes share the work) and does what is due, in this order:
/// end access after the grace days, expire an unpaid first invoice after 23 h, end a trial, cancel at the period's end,
/// create the next period's invoice (unique per subscription and period start) and charge it (<see cref="RenewalAttempt"/>).
/// <see cref="RunAsync"/> takes the time and the test clock, so a test clock runs the same engine at its frozen time.
/// </summary>
public sealed class Renewals(IServiceScopeFactory scopes) : IJob
{
    public string Name => "subscription_renewals";

    public static readonly TimeSpan IncompleteExpiry = TimeSpan.FromHours(23);
    const int Batch = 100;

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await RunAsync(BillingServices.From(scope.ServiceProvider), now, testClockId: null, ct);
    }

    /// <summary>
    /// Does everything due at <paramref name="now"/> for the subscriptions on <paramref name="testClockId"/> (null = the real clock's).
    /// A claimed batch is renewed by up to <see cref="BillingOptions.RenewalConcurrency"/> workers (PostgreSQL; SQLite has one
    /// writer), each with its own scope and database context; one customer's subscriptions go one after another, since they
    /// share the customer's credit balance.
    /// </summary>
    public static async Task<int> RunAsync(BillingServices s, DateTime now, string? testClockId, CancellationToken ct)
    {
        var done = 0;
        var workers = s.Db.IsPostgres ? s.Options.RenewalConcurrency : 1;
        for (var round = 0; round < 50; round++)
        {
            var claimed = await ClaimAsync(s.Db, now, testClockId, s.RealNow, TimeSpan.FromSeconds(s.Options.RenewalLeaseSeconds), ct);
            if (claimed.Count == 0) break;
            var batch = await ReadBatchAsync(s.Db, claimed, ct);
            // PostgreSQL: the batch's due invoices and first attempts in one transaction; the rest take their step alone.
            var ensured = s.Db.IsPostgres ? await InvoiceWriter.EnsureBatchAsync(s, batch, now, ct) : new Dictionary<string, InvoiceWriter.Ensured>();
            var finished = new ConcurrentBag<string>();
            var paid = s.Db.IsPostgres ? new PaidAttempts() : null;
            try
            {
                await Parallel.ForEachAsync(batch.GroupBy(d => d.Subscription.CustomerId),
                    new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, async (customer, ct) =>
                {
                    await using var scope = s.Scopes.CreateAsyncScope();
                    var w = BillingServices.From(scope.ServiceProvider) with { Paid = paid };
                    // Every engine transaction is rolled back whole on a failed SaveChanges: no savepoint round trips.
                    w.Db.Database.AutoSavepointsEnabled = false;
                    foreach (var due in customer)
                    {
                        try
                        {
                            var renewed = ensured.TryGetValue(due.Subscription.Id, out var written)
                                ? await ChargeAsync(w, due, written, now, ct) : await StepAsync(w, due, now, ct);
                            if (renewed) Interlocked.Increment(ref done);
                            finished.Add(due.Subscription.Id);
                        }
                        catch (Exception e) when (e is not OperationCanceledException)
                        {
                            // One subscription that cannot be renewed never holds back the others; its lease delays the next try.
                            w.Log.LogError(e, "Subscription {SubscriptionId} could not be renewed; will retry", due.Subscription.Id);
                            w.Db.ChangeTracker.Clear();
                        }
                    }
                });
            }
            finally
            {
                // Before the claims are released: a payment left unconfirmed by a failure here is charged again (same id) on the next run.
                if (paid is not null) await paid.ConfirmRestAsync(s, now, ct);
            }
            var release = finished.ToList();
            if (release.Count > 0)
                await s.Db.Subscriptions.Where(x => release.Contains(x.Id)).ExecuteUpdateAsync(u => u.SetProperty(x => x.ClaimedUntil, (DateTime?)null), ct);
            if (claimed.Count < Batch) break;
        }
        return done;
    }

    /// <summary>Claims up to <see cref="Batch"/> due subscriptions with a lease and returns their rows as claimed.</summary>
    static async Task<List<Subscription>> ClaimAsync(KnowPayDb db, DateTime now, string? testClockId, DateTime realNow, TimeSpan lease,
        CancellationToken ct)
    {
        var clock = testClockId is null ? "test_clock_id IS NULL" : "test_clock_id = {3}";
        var skipLocked = db.IsPostgres ? " FOR UPDATE SKIP LOCKED" : "";
        var sql = $"""
            UPDATE subscriptions SET claimed_until = {"{0}"} WHERE id IN (
              SELECT id FROM subscriptions WHERE next_action_at IS NOT NULL AND next_action_at <= {"{1}"}
                AND (claimed_until IS NULL OR claimed_until < {"{2}"}) AND {clock}
              ORDER BY next_action_at LIMIT {Batch}{skipLocked})
            RETURNING *
            """;
        object[] parameters = testClockId is null ? [realNow + lease, now, realNow] : [realNow + lease, now, realNow, testClockId];
        return await db.Subscriptions.FromSqlRaw(sql, parameters).AsNoTracking().ToListAsync(ct);
    }

    /// <summary>A claimed subscription with what its step reads: its latest invoice, its agreement and its product.</summary>
    public sealed record DueSubscription(Subscription Subscription, Invoice? LatestInvoice, Mandate? Mandate, Product? Product);

    /// <summary>The claimed subscriptions' latest invoices, agreements and products: three statements for the batch.</summary>
    static async Task<List<DueSubscription>> ReadBatchAsync(KnowPayDb db, List<Subscription> claimed, CancellationToken ct)
    {
        var invoiceIds = claimed.Where(x => x.LatestInvoiceId is not null).Select(x => x.LatestInvoiceId!).Distinct().ToList();
        var mandateIds = claimed.Where(x => x.MandateId is not null).Select(x => x.MandateId!).Distinct().ToList();
        var productIds = claimed.Select(x => x.ProductId).Distinct().ToList();
        var invoices = await db.Invoices.AsNoTracking().Where(i => invoiceIds.Contains(i.Id)).ToDictionaryAsync(i => i.Id, ct);
        var mandates = await db.Mandates.AsNoTracking().Where(m => mandateIds.Contains(m.Id)).ToDictionaryAsync(m => m.Id, ct);
        var products = await db.Products.AsNoTracking().Where(p => productIds.Contains(p.Id)).ToDictionaryAsync(p => p.Id, ct);
        return claimed.Select(x => new DueSubscription(x, x.LatestInvoiceId is { } i ? invoices.GetValueOrDefault(i) : null,
            x.MandateId is { } m ? mandates.GetValueOrDefault(m) : null, products.GetValueOrDefault(x.ProductId))).ToList();
    }

    /// <summary>
    /// Takes the subscription's row lock (PostgreSQL) or the write lock (SQLite) inside the caller's transaction, then reads it
    /// tracked: every writer of a subscription (engine, invoice payment, API) goes through here, so they apply one after another.
    /// </summary>
    public static async Task<Subscription> LockAsync(KnowPayDb db, string subscriptionId, CancellationToken ct, bool tracked = false)
    {
        if (db.IsPostgres)
        {
            // FOR NO KEY UPDATE is the lock TakeLockAsync's UPDATE takes: the same lock and the row in one round trip.
            var locked = db.Subscriptions.FromSql($"SELECT * FROM subscriptions WHERE id = {subscriptionId} FOR NO KEY UPDATE");
            return await (tracked ? locked : locked.AsNoTracking()).SingleAsync(ct);
        }
        await TakeLockAsync(db, subscriptionId, ct);
        var query = tracked ? db.Subscriptions : db.Subscriptions.AsNoTracking();
        return await query.SingleAsync(x => x.Id == subscriptionId, ct);
    }

    /// <summary>The lock of <see cref="LockAsync"/> alone, for a writer that does not need the row.</summary>
    public static Task TakeLockAsync(KnowPayDb db, string subscriptionId, CancellationToken ct) =>
        db.Database.ExecuteSqlAsync($"UPDATE subscriptions SET claimed_until = claimed_until WHERE id = {subscriptionId}", ct);

    /// <summary>One subscription's due work at <paramref name="now"/>; true when something changed.</summary>
    public static async Task<bool> StepAsync(BillingServices s, string subscriptionId, DateTime now, CancellationToken ct)
    {
        var db = s.Db;
        db.ChangeTracker.Clear();
        var sub = await db.Subscriptions.AsNoTracking().SingleAsync(x => x.Id == subscriptionId, ct);
        var invoice = sub.LatestInvoiceId is { } invoiceId ? await db.Invoices.AsNoTracking().SingleAsync(i => i.Id == invoiceId, ct) : null;
        return await StepAsync(s, new DueSubscription(sub, invoice, null, null), now, ct);
    }

    /// <summary>
    /// <see cref="StepAsync(BillingServices, string, DateTime, CancellationToken)"/> from rows read with the claim: every write
    /// below takes the subscription's lock and re-checks what it changes, so rows read a moment earlier decide nothing alone.
    /// </summary>
    static async Task<bool> StepAsync(BillingServices s, DueSubscription read, DateTime now, CancellationToken ct)
    {
        var db = s.Db;
        db.ChangeTracker.Clear();
        var (sub, invoice, mandate, product) = read;
        if (sub.NextActionAt is not { } due || due > now) return false;
        Order? order = null;
        switch (sub.Status)
        {
            case SubscriptionStatus.Unpaid or SubscriptionStatus.Canceled:
                await Dunning.EndAccessAsync(s, sub.Id, now, ct);
                return true;
            case SubscriptionStatus.IncompleteExpired:
                await SetNextActionAsync(db, sub.Id, null, ct);
                return false;
            case SubscriptionStatus.Incomplete:
                if (now >= sub.CreatedAt + IncompleteExpiry && invoice is not { Status: InvoiceStatus.Paid })
                {
                    await Dunning.ExpireAsync(s, sub.Id, now, ct);
                    return true;
                }
                return invoice is { Status: InvoiceStatus.Open } && await RenewalAttempt.RunAsync(s, sub, invoice, now, ct, mandate);
            case SubscriptionStatus.Trialing when invoice is { Status: InvoiceStatus.Open }:
                return await RenewalAttempt.RunAsync(s, sub, invoice, now, ct, mandate);
            case SubscriptionStatus.Trialing when sub.TrialEnd <= now:
                (invoice, order, var started) = await InvoiceWriter.EnsureAsync(s, sub, 0, "subscription_create", now, ct, product, mandate);
                return await RenewalAttempt.RunAsync(s, sub, invoice, now, ct, mandate, order, started) || true;
            case SubscriptionStatus.Active or SubscriptionStatus.PastDue when invoice is { Status: InvoiceStatus.Open }:
                return await RenewalAttempt.RunAsync(s, sub, invoice, now, ct, mandate);
            case SubscriptionStatus.Active or SubscriptionStatus.PastDue when now >= RenewalAt(sub, s.Recurring.Of(sub.Provider)):
                if (sub.CancelAtPeriodEnd)
                {
                    await Dunning.CancelAtPeriodEndAsync(s, sub.Id, now, ct);
                    return true;
                }
                (invoice, order, var attempt) = await InvoiceWriter.EnsureAsync(s, sub, sub.PeriodIndex + 1, "subscription_cycle", now, ct, product, mandate);
                await RenewalAttempt.RunAsync(s, sub, invoice, now, ct, mandate, order, attempt);
                return true;
            default:
                await SetNextActionAsync(db, sub.Id, sub.Status is SubscriptionStatus.Trialing ? sub.TrialEnd : RenewalAt(sub, s.Recurring.Of(sub.Provider)), ct);
                return false;
        }
    }

    /// <summary>
    /// The period invoice that <see cref="StepAsync(BillingServices, DueSubscription, DateTime, CancellationToken)"/> ensures for
    /// <paramref name="sub"/> at <paramref name="now"/> (a trial's end or a plain renewal), or null when its step does something else.
    /// </summary>
    public static (int PeriodIndex, string Reason)? InvoiceDue(Subscription sub, Invoice? latest, DateTime now, RecurringProviders recurring) => sub switch
    {
        _ when sub.NextActionAt is not { } due || due > now || latest is { Status: InvoiceStatus.Open } => null,
        { Status: SubscriptionStatus.Trialing } when sub.TrialEnd <= now => (0, "subscription_create"),
        { Status: SubscriptionStatus.Active or SubscriptionStatus.PastDue, CancelAtPeriodEnd: false } when now >= RenewalAt(sub, recurring.Of(sub.Provider)) =>
            (sub.PeriodIndex + 1, "subscription_cycle"),
        _ => null,
    };

    /// <summary>The rest of the step of a subscription whose invoice <see cref="InvoiceWriter.EnsureBatchAsync"/> wrote or found: its charge.</summary>
    static async Task<bool> ChargeAsync(BillingServices s, DueSubscription read, InvoiceWriter.Ensured written, DateTime now, CancellationToken ct)
    {
        s.Db.ChangeTracker.Clear();
        await RenewalAttempt.RunAsync(s, read.Subscription, written.Invoice, now, ct, read.Mandate, written.Order, written.Attempt);
        return true;
    }

    /// <summary>
    /// When the renewal after the current period is due: charged when its provider says (<see cref="IRecurringProvider.RenewalDates"/>),
    /// invoiced (send_invoice) at the period's end, or a cancellation at period end then.
    /// </summary>
    public static DateTime RenewalAt(Subscription sub, IRecurringProvider? provider) =>
        sub is { CancelAtPeriodEnd: false, CollectionMethod: CollectionMethods.ChargeAutomatically } && provider is not null
            ? provider.RenewalDates(sub.Interval, sub.CurrentPeriodEnd).ChargeAt
            : sub.CurrentPeriodEnd;

    public static Task SetNextActionAsync(KnowPayDb db, string subscriptionId, DateTime? at, CancellationToken ct) =>
        db.Subscriptions.Where(x => x.Id == subscriptionId).ExecuteUpdateAsync(u => u.SetProperty(x => x.NextActionAt, at), ct);

    /// <summary>A subscription's period arithmetic.</summary>
    public static BillingSchedule Schedule(Subscription sub) =>
        BillingSchedule.TryParse(sub.Interval, sub.IntervalCount, out var schedule, out _) ? schedule
            : throw new InvalidOperationException($"subscription {sub.Id} has an invalid interval {sub.Interval}×{sub.IntervalCount}");
}

/// <summary>A clock stopped at one instant: what a test clock's subscriptions see as now.</summary>
public sealed class FrozenClock(DateTime now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => new(DateTime.SpecifyKind(now, DateTimeKind.Utc));
}
