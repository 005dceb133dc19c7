using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// The entitlement leg: every paid order whose payment stands (not refunded, or only partly where the merchant keeps access
/// on a partial refund) and every paid subscription period running now has an active entitlement; every active
/// entitlement has such an order or period, or a trial or grace the billing engine gave. Differences carry their fix as an
/// offered action (grant / revoke) that the run never applies. Each check is one set-based query over the provider's
/// payments; what belongs to no billed provider (an entitlement on an order never paid at all, or paid through a provider
/// without bills) is found by every run, and listed once a day (<see cref="RunReconciliation"/>).
/// </summary>
public static class EntitlementLeg
{
    public const string Grant = "grant", Revoke = "revoke";

    /// <param name="billedProviders">The providers whose bills are read here (<see cref="BillSources.Enabled"/>): access paid
    /// through any other is every run's, so it is never left to a run that does not happen.</param>
    public static async Task<List<ReconciliationItem>> FindAsync(KnowPayDb db, ReconciliationRun run, string[] billedProviders,
        DateTime now, CancellationToken ct)
    {
        var provider = run.Provider;
        // The payments that entitle: succeeded and not refunded, or partly refunded where partial refunds keep access.
        var standing = db.Payments.Where(p => p.Status == PaymentStatus.Succeeded &&
            (p.RefundedAmount == 0 || (p.RefundedAmount < p.Amount && !db.Merchants.Any(m => m.Id == p.MerchantId && m.RevokeOnPartialRefund))));
        var active = db.Entitlements.Where(e => e.RevokedAt == null && (e.ExpiresAt == null || e.ExpiresAt > now));

        var paidWithoutAccess = await standing.Where(p => p.Provider == provider)
            .Join(db.Orders, p => p.OrderId, o => o.Id, (p, o) => new { p, o })
            .Where(x => x.o.Status == OrderStatus.Paid && x.o.InvoiceId == null && !db.Entitlements.Any(e => e.OrderId == x.o.Id && e.RevokedAt == null))
            .Select(x => new Row(x.o.MerchantId, x.o.Id, x.p.Id, db.Entitlements.Where(e => e.OrderId == x.o.Id).Select(e => e.Id).FirstOrDefault(),
                x.o.Amount, x.o.Currency))
            .ToListAsync(ct);

        var periodsWithoutAccess = await db.Invoices.Where(i => i.Status == InvoiceStatus.Paid && i.PeriodStart <= now && i.PeriodEnd > now)
            .Join(db.Subscriptions, i => i.SubscriptionId, s => s.Id, (i, s) => new { i, s })
            .Where(x => x.s.EndedAt == null && x.s.Status != SubscriptionStatus.Canceled && !active.Any(e => e.Id == x.s.EntitlementId))
            .Join(standing.Where(p => p.Provider == provider), x => x.i.OrderId, p => p.OrderId,
                (x, p) => new Row(x.s.MerchantId, x.i.OrderId, p.Id, x.s.EntitlementId, x.i.Amount, x.i.Currency))
            .ToListAsync(ct);

        // An order's provider is its latest payment's; one never paid at all, or paid through a provider without bills, is every run's.
        var orderAccessUnpaid = await active
            .Where(e => !db.Subscriptions.Any(s => s.EntitlementId == e.Id) &&
                        !db.Orders.Any(o => o.Id == e.OrderId && o.Status == OrderStatus.Paid && standing.Any(p => p.OrderId == o.Id)))
            .Select(e => new { e, Provider = db.Payments.Where(p => p.OrderId == e.OrderId).OrderByDescending(p => p.CreatedAt).Select(p => p.Provider).FirstOrDefault() })
            .Where(x => x.Provider == provider || x.Provider == null || !billedProviders.Contains(x.Provider))
            .Select(x => new Row(x.e.MerchantId, x.e.OrderId, null, x.e.Id, null, null))
            .ToListAsync(ct);

        // A subscription's access is due to a paid period, a trial or dunning's grace; once the engine has ended the
        // subscription and has nothing left to do, access without a paid period running is a difference.
        var subscriptionAccessUnpaid = await active
            .Join(db.Subscriptions, e => e.Id, s => s.EntitlementId, (e, s) => new { e, s })
            .Where(x => (x.s.Status == SubscriptionStatus.IncompleteExpired || x.s.Status == SubscriptionStatus.Unpaid || x.s.Status == SubscriptionStatus.Canceled) &&
                        x.s.NextActionAt == null && (x.s.Provider == provider || !billedProviders.Contains(x.s.Provider)) &&
                        !db.Invoices.Any(i => i.SubscriptionId == x.s.Id && i.Status == InvoiceStatus.Paid && i.PeriodEnd > now))
            .Select(x => new Row(x.e.MerchantId, x.e.OrderId, null, x.e.Id, null, null))
            .ToListAsync(ct);

        return
        [
            .. paidWithoutAccess.Concat(periodsWithoutAccess).DistinctBy(r => r.OrderId).Select(r => Item(run, ItemKinds.EntitlementMissing, r, Grant, now,
                r.EntitlementId is null ? $"order paid by {r.PaymentId}; no entitlement" : $"order paid by {r.PaymentId}; entitlement {r.EntitlementId} not active")),
            .. orderAccessUnpaid.Concat(subscriptionAccessUnpaid).DistinctBy(r => r.EntitlementId).Select(r => Item(run, ItemKinds.EntitlementWithoutPayment, r, Revoke, now,
                $"entitlement {r.EntitlementId} active; order {r.OrderId} has no standing payment")),
        ];
    }

    sealed record Row(string MerchantId, string OrderId, string? PaymentId, string? EntitlementId, long? Amount, string? Currency);

    static ReconciliationItem Item(ReconciliationRun run, string kind, Row r, string action, DateTime now, string note) => new()
    {
        Id = Ids.New("rci"), RunId = run.Id, Kind = kind, MerchantId = r.MerchantId, PaymentId = r.PaymentId, OrderId = r.OrderId,
        EntitlementId = r.EntitlementId, OfferedAction = action, ExpectedAmount = r.Amount, Currency = r.Currency, Note = note, CreatedAt = now,
        LineKey = kind == ItemKinds.EntitlementMissing ? "entitlement:order:" + r.OrderId : "entitlement:" + r.EntitlementId,
    };
}
