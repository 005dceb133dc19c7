using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

public sealed record ChangeSubscriptionPriceRequest(string? PriceId, string? ProrationBehavior);

/// <summary>
/// POST /v1/subscriptions/{id} {price_id, proration_behavior}: a plan change to another recurring price of the same product,
/// currency and interval. An active subscription is prorated (<see cref="Proration"/>) at its clock's now:
/// create_prorations puts the credit and charge lines on the next period's invoice (a draft until the renewal finalizes it),
/// always_invoice invoices them now and charges that invoice through the renewal path, none only switches the price, which the
/// next period's invoice bills. A change that nets a credit (a downgrade) is invoiced at once in every prorating behaviour: the
/// invoice is paid at 0 and the credit becomes the customer's credit balance (a ledger account), spent on the next invoices.
/// An agreement's cap below what the next charge would be refuses the change (409 mandate_amount_exceeded): the buyer would
/// have to sign again, which the providers only offer as a new agreement.
/// </summary>
public static class ChangeSubscriptionPrice
{
    public const string UpdateReason = "subscription_update";
    public const string CreditGranted = "credit_granted";
    public const string CreditApplied = "credit_applied";
    const string CreateProrations = "create_prorations", None = "none", AlwaysInvoice = "always_invoice";

    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/subscriptions/{id}", Handle).RequireScope("billing:write");

    static async Task<Results<Ok<SubscriptionView>, ProblemHttpResult>> Handle(string id, ChangeSubscriptionPriceRequest body, AuthenticatedMerchant merchant,
        IServiceProvider services, CancellationToken ct)
    {
        var s = BillingServices.From(services);
        var db = s.Db;
        var behavior = body.ProrationBehavior ?? CreateProrations;
        if (behavior is not (CreateProrations or None or AlwaysInvoice))
            return Problems.Invalid("proration_behavior_invalid", "proration_behavior", "proration_behavior is create_prorations, none or always_invoice.");
        if (!await db.Subscriptions.AnyAsync(x => x.Id == id && x.MerchantId == merchant.Id, ct)) return Problems.NotFound("subscription", id);
        var found = await db.ProductPrices.AsNoTracking().Where(p => p.Id == body.PriceId)
            .Join(db.Products.AsNoTracking().Where(p => p.MerchantId == merchant.Id), x => x.ProductId, p => p.Id, (x, p) => new { Price = x, Product = p })
            .SingleOrDefaultAsync(ct);
        if (found is null) return Problems.NotFound("price", body.PriceId ?? "");
        var (price, product) = (found.Price, found.Product);

        Invoice? chargeNow = null;
        Subscription sub;
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            sub = await Renewals.LockAsync(db, id, ct, tracked: true);
            if (!SubscriptionTransitions.AcceptsChanges(sub.Status)) return CancelSubscription.Ended(sub.Id, sub.Status);
            if (!BillingSchedule.TryParse(price.RecurringInterval, price.RecurringIntervalCount, out var schedule, out _))
                return Problems.Invalid("price_not_recurring", "price_id", $"Price '{price.Id}' is a one-time price; a subscription needs a price with recurring.");
            if (price.Currency != sub.Currency)
                return Problems.Invalid("price_currency_mismatch", "price_id", $"Price '{price.Id}' is in {price.Currency}; the subscription bills in {sub.Currency}.");
            if (price.ProductId != sub.ProductId)
                return Problems.Invalid("price_product_mismatch", "price_id", $"Price '{price.Id}' belongs to another product; a plan change keeps the product.");
            if (schedule.IntervalName != sub.Interval || schedule.Count != sub.IntervalCount)
                return Problems.Invalid("price_interval_mismatch", "price_id",
                    $"Price '{price.Id}' renews every {schedule.Count} {schedule.IntervalName}; the subscription every {sub.IntervalCount} {sub.Interval}.");
            if (!price.Active) return Problems.Conflict("price_inactive", $"Price '{price.Id}' was replaced by a newer version; change to the active one.");
            if (sub.Status is not (SubscriptionStatus.Active or SubscriptionStatus.Trialing))
                return Problems.Conflict("subscription_not_active", $"Subscription '{sub.Id}' is {SubscriptionView.Snake(sub.Status)}; its plan changes once it is paid up.");
            if (price.Id == sub.PriceId) return TypedResults.Ok(await GetSubscriptions.ExpandedAsync(s, id, ct));

            var now = await TestClocks.NowAsync(db, sub.TestClockId, s.RealNow, ct);
            var prorate = behavior != None && sub.Status == SubscriptionStatus.Active && now >= sub.CurrentPeriodStart && now < sub.CurrentPeriodEnd;
            var lines = prorate ? Proration.For(sub.Amount, price.Amount, sub.CurrentPeriodStart, sub.CurrentPeriodEnd, now) : null;
            var atOnce = lines is not null && (behavior == AlwaysInvoice || lines.Net < 0);
            var nextDraft = lines is null || atOnce ? null : await db.Invoices.Include(i => i.Lines)
                .SingleOrDefaultAsync(i => i.SubscriptionId == sub.Id && i.PeriodStart == sub.CurrentPeriodEnd, ct);
            if (nextDraft is { Status: not InvoiceStatus.Draft })
                return Problems.Conflict("invoice_already_created", $"The next period's invoice '{nextDraft.Id}' is already {nextDraft.Status.ToString().ToLowerInvariant()}.");

            // The largest single charge the change leads to: the next period at the new price, with the lines it carries.
            var largestCharge = price.Amount + (lines is null || atOnce ? 0 : lines.Net + (nextDraft?.Lines.Sum(l => l.Amount) ?? 0));
            if (atOnce) largestCharge = Math.Max(largestCharge, lines!.Net);
            if (sub.CollectionMethod == CollectionMethods.ChargeAutomatically && sub.MandateId is not null)
            {
                var mandate = await db.Mandates.AsNoTracking().SingleAsync(m => m.Id == sub.MandateId, ct);
                if (largestCharge > mandate.MaxAmount)
                    return Problems.Conflict(RenewalAttempt.AmountExceeded,
                        $"Agreement '{mandate.Id}' allows at most {mandate.MaxAmount} {mandate.Currency} per charge; after the change a charge would be {largestCharge}.");
            }

            if (lines is not null)
            {
                var oldPriceId = sub.PriceId;
                if (atOnce)
                {
                    var credit = await CreditBalanceAsync(db, sub, ct);
                    chargeNow = AddUpdateInvoice(db, sub, product, oldPriceId, price.Id, lines, now, s.RealNow, credit);
                }
                else
                {
                    nextDraft ??= db.Invoices.Add(new Invoice
                    {
                        Id = Ids.New("in"), MerchantId = sub.MerchantId, SubscriptionId = sub.Id, CustomerId = sub.CustomerId, Status = InvoiceStatus.Draft,
                        Currency = sub.Currency, BillingReason = "subscription_cycle", PeriodIndex = sub.PeriodIndex + 1, PeriodStart = sub.CurrentPeriodEnd,
                        PeriodEnd = Renewals.Schedule(sub).PeriodEnd(sub.BillingCycleAnchor, sub.PeriodIndex + 1), OrderId = Ids.New("ord"), CreatedAt = now,
                    }).Entity;
                    foreach (var line in ProrationLines(nextDraft.Id, sub, oldPriceId, price.Id, lines, now)) db.InvoiceLines.Add(line);
                }
            }
            sub.PriceId = price.Id;
            sub.Amount = price.Amount;
            if (chargeNow is { Status: InvoiceStatus.Open } && sub.CollectionMethod == CollectionMethods.ChargeAutomatically)
                sub.LatestInvoiceId = chargeNow.Id;
            Outbox.Add(db, sub.MerchantId, EventTypes.SubscriptionUpdated, sub.Id, SubscriptionView.From(sub), now);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
            {
                // An invoice is unique per subscription and period start: a second change at the same instant writes nothing.
                db.ChangeTracker.Clear();
                return Problems.Conflict("subscription_change_conflict",
                    $"Subscription '{id}' was already changed at this instant; change it again once time has moved on.");
            }
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();

            if (chargeNow is { Status: InvoiceStatus.Open } && sub.CollectionMethod == CollectionMethods.ChargeAutomatically)
                await RenewalAttempt.RunAsync(s, sub, chargeNow, now, CancellationToken.None);
        }
        return TypedResults.Ok(await GetSubscriptions.ExpandedAsync(s, id, ct));
    }

    /// <summary>
    /// The change's invoice, finalized now: its lines less the credit balance it spends. Net of a credit: paid at 0 at once, the
    /// credit granted to the balance; otherwise open for what is left (0: paid from the balance by the renewal attempt).
    /// </summary>
    static Invoice AddUpdateInvoice(KnowPayDb db, Subscription sub, Product product, string oldPriceId, string newPriceId, ProrationLines lines,
        DateTime now, DateTime realNow, long creditBalance)
    {
        var invoiceId = Ids.New("in");
        var all = ProrationLines(invoiceId, sub, oldPriceId, newPriceId, lines, now);
        var spent = Math.Min(creditBalance, Math.Max(0, lines.Net));
        if (spent > 0)
        {
            all.Add(CreditLine(invoiceId, spent, now, sub.CurrentPeriodEnd));
            db.Journals.Add(Journals.Build(sub.MerchantId, CreditApplied, invoiceId, $"Credit balance spent on invoice {invoiceId}",
                CreditBalance.Applied(sub.CustomerId, product.CreatorId, sub.Currency, spent, product.CreatorShareBps), now));
        }
        if (lines.Net < 0)
            db.Journals.Add(Journals.Build(sub.MerchantId, CreditGranted, invoiceId, $"Credit balance from the plan change of invoice {invoiceId}",
                CreditBalance.Granted(sub.CustomerId, product.CreatorId, sub.Currency, -lines.Net, product.CreatorShareBps), now));
        var amount = Math.Max(0, lines.Net) - spent;
        var paid = lines.Net < 0;
        var description = $"{product.Name}: plan change on {now:yyyy-MM-dd HH:mm:ss}";
        var order = new Order
        {
            Id = Ids.New("ord"), MerchantId = sub.MerchantId, CustomerId = sub.CustomerId, ProductId = sub.ProductId, PriceId = newPriceId,
            CreatorId = product.CreatorId, Amount = amount, Currency = sub.Currency, CreatorShareBps = product.CreatorShareBps,
            Status = paid ? OrderStatus.Paid : OrderStatus.Pending, CreatedAt = realNow, PaidAt = paid ? realNow : null,
            ExpiresAt = realNow + (sub.CurrentPeriodEnd - now), Description = description, InvoiceId = invoiceId,
        };
        var finalize = InvoiceTransitions.Finalize(InvoiceStatus.Draft);
        var invoice = new Invoice
        {
            Id = invoiceId, MerchantId = sub.MerchantId, SubscriptionId = sub.Id, CustomerId = sub.CustomerId, Status = finalize.To, Currency = sub.Currency,
            Amount = amount, BillingReason = UpdateReason, PeriodIndex = sub.PeriodIndex, PeriodStart = now, PeriodEnd = sub.CurrentPeriodEnd,
            OrderId = order.Id, CreatedAt = now, FinalizedAt = now, Lines = all,
        };
        db.Orders.Add(order);
        db.Invoices.Add(invoice);
        Outbox.Add(db, sub.MerchantId, EventTypes.InvoiceCreated, invoice.Id, InvoiceView.From(invoice) with { Status = "draft" }, now);
        foreach (var type in finalize.Events) Outbox.Add(db, sub.MerchantId, type, invoice.Id, InvoiceView.From(invoice), now);
        if (paid)
        {
            var pay = InvoiceTransitions.Pay(invoice.Status);
            invoice.Status = pay.To;
            invoice.PaidAt = now;
            foreach (var type in pay.Events) Outbox.Add(db, sub.MerchantId, type, invoice.Id, InvoiceView.From(invoice), now);
        }
        return invoice;
    }

    static List<InvoiceLine> ProrationLines(string invoiceId, Subscription sub, string oldPriceId, string newPriceId, ProrationLines lines, DateTime now) =>
    [
        new InvoiceLine { Id = Ids.New("il"), InvoiceId = invoiceId, Description = $"Unused time on {oldPriceId} after {now:yyyy-MM-dd HH:mm:ss}",
            Amount = -lines.Credit, PeriodStart = now, PeriodEnd = sub.CurrentPeriodEnd, Proration = true, PriceId = oldPriceId },
        new InvoiceLine { Id = Ids.New("il"), InvoiceId = invoiceId, Description = $"Remaining time on {newPriceId} after {now:yyyy-MM-dd HH:mm:ss}",
            Amount = lines.Charge, PeriodStart = now, PeriodEnd = sub.CurrentPeriodEnd, Proration = true, PriceId = newPriceId },
    ];

    public static InvoiceLine CreditLine(string invoiceId, long spent, DateTime start, DateTime end) => new()
    {
        Id = Ids.New("il"), InvoiceId = invoiceId, Description = "Applied credit balance", Amount = -spent, PeriodStart = start, PeriodEnd = end,
    };

    /// <summary>
    /// The customer's credit balance in the subscription's currency (its ledger account, credit-negative, as a positive amount),
    /// to be spent in the caller's transaction. A balance above 0 is read again under the customer's row lock on PostgreSQL, so
    /// two transactions spending one balance (two subscriptions of the customer, on any nodes) spend it one after the other;
    /// SQLite's transactions already hold the one write lock from their start.
    /// </summary>
    public static async Task<long> CreditBalanceAsync(KnowPayDb db, Subscription sub, CancellationToken ct)
    {
        var balance = await SumAsync();
        if (balance == 0 || !db.IsPostgres) return balance;
        // A statement of its own: the read after it takes a snapshot that includes what the lock's previous holder committed.
        await db.Database.ExecuteSqlAsync($"SELECT 1 FROM customers WHERE id = {sub.CustomerId} FOR NO KEY UPDATE", ct);
        return await SumAsync();

        async Task<long> SumAsync()
        {
            var account = CreditAccount(sub);
            var sum = await db.LedgerEntries.Where(e => e.MerchantId == sub.MerchantId && e.Account == account).SumAsync(e => (long?)e.Amount, ct) ?? 0;
            return Math.Max(0, -sum);
        }
    }

    /// <summary>The ledger account of the customer's credit balance in the subscription's currency.</summary>
    public static string CreditAccount(Subscription sub) => Accounts.CustomerCredit(sub.CustomerId, sub.Currency);

    /// <summary>
    /// The (merchant, credit account) of those subscriptions' customers whose balance is above 0: <see cref="CreditBalanceAsync"/>'s
    /// sum for many at once, without its lock (the renewal batch leaves such customers to their own step, which takes it).
    /// </summary>
    public static async Task<HashSet<(string MerchantId, string Account)>> CreditAccountsWithBalanceAsync(KnowPayDb db, IEnumerable<Subscription> subs,
        CancellationToken ct)
    {
        var merchants = subs.Select(x => x.MerchantId).Distinct().ToList();
        var accounts = subs.Select(CreditAccount).Distinct().ToList();
        return (await db.LedgerEntries.Where(e => merchants.Contains(e.MerchantId) && accounts.Contains(e.Account))
            .GroupBy(e => new { e.MerchantId, e.Account }).Where(g => g.Sum(e => e.Amount) < 0).Select(g => g.Key).ToListAsync(ct))
            .Select(k => (k.MerchantId, k.Account)).ToHashSet();
    }

    /// <summary>
    /// An open invoice of 0 (its lines covered by the credit balance, whose journal was written with the line): paid without the
    /// provider, with what a paid invoice brings (the period advanced, the entitlement extended, events) in one commit.
    /// </summary>
    public static async Task PayFromCreditAsync(BillingServices s, Subscription sub, Invoice invoice, DateTime now, CancellationToken ct)
    {
        var db = s.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await Renewals.TakeLockAsync(db, invoice.SubscriptionId, ct);
        var order = await db.Orders.SingleAsync(o => o.Id == invoice.OrderId, ct);
        var pay = OrderTransitions.Pay(order.Status);
        if (!pay.Allowed) return;
        var rows = new StagedRows();
        var entitlement = await InvoicePayment.StageAsync(db, rows, order, s.Recurring.Of(sub.Provider), now, ct);
        order.Status = pay.To;
        order.PaidAt = now;
        Outbox.Add(rows, order.MerchantId, EventTypes.EntitlementGranted, entitlement.Id, EntitlementView.From(entitlement, now), now);
        rows.AddTo(db);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }
}
