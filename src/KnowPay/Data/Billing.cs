using KnowPay.Domain;

namespace KnowPay.Data;

/// <summary>
/// A subscription (sub_): a customer's recurring purchase of one product at one recurring price. Period N runs from
/// <see cref="BillingSchedule.PeriodStart"/>(anchor, N) to the start of N + 1; <see cref="PeriodIndex"/> is the period paid
/// up to. The renewal engine acts when <see cref="NextActionAt"/> has passed.
/// </summary>
public sealed class Subscription
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string CustomerId { get; init; }
    public required string ProductId { get; init; }
    public required string PriceId { get; set; }
    public required string Currency { get; init; }
    public long Amount { get; set; }
    /// <summary>day, week, month or year (<see cref="BillingInterval"/>).</summary>
    public required string Interval { get; init; }
    public int IntervalCount { get; init; }
    /// <summary>charge_automatically (through <see cref="MandateId"/>) or send_invoice (a checkout link per invoice).</summary>
    public required string CollectionMethod { get; init; }
    public required string Provider { get; init; }
    public required string Method { get; init; }
    public SubscriptionStatus Status { get; set; }
    public string? MandateId { get; set; }
    /// <summary>Sandbox only: the test clock whose frozen time this subscription lives by; the real clock's renewal job leaves it alone.</summary>
    public string? TestClockId { get; init; }
    /// <summary>The start of period 0 (after the trial, if any): every period is computed from it.</summary>
    public DateTime BillingCycleAnchor { get; init; }
    /// <summary>The current period's index: the one whose invoice was paid last (0 before the first payment).</summary>
    public int PeriodIndex { get; set; }
    public DateTime CurrentPeriodStart { get; set; }
    public DateTime CurrentPeriodEnd { get; set; }
    public DateTime? TrialEnd { get; init; }
    public bool CancelAtPeriodEnd { get; set; }
    public DateTime? CanceledAt { get; set; }
    public DateTime? EndedAt { get; set; }
    /// <summary>When the renewal engine next has something to do (renew, retry, end a trial, expire, end access); null = nothing.</summary>
    public DateTime? NextActionAt { get; set; }
    /// <summary>Claim lease of the renewal engine on SQLite and between claim and work: another node leaves it alone until then.</summary>
    public DateTime? ClaimedUntil { get; set; }
    public string? LatestInvoiceId { get; set; }
    /// <summary>The one entitlement of this subscription, extended at each paid period.</summary>
    public string? EntitlementId { get; set; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>
/// An invoice (in_): what one period of a subscription costs. It is paid through its own order (<see cref="Order.InvoiceId"/>)
/// by the normal payment path; unique per subscription and period start, so creating it twice creates it once.
/// </summary>
public sealed class Invoice
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string SubscriptionId { get; init; }
    public required string CustomerId { get; init; }
    public InvoiceStatus Status { get; set; }
    public required string Currency { get; init; }
    /// <summary>What is collected: the lines' sum less the credit balance applied; set when a draft is finalized.</summary>
    public long Amount { get; set; }
    /// <summary>subscription_create, subscription_cycle, subscription_update (a plan change invoiced at once).</summary>
    public required string BillingReason { get; init; }
    public int PeriodIndex { get; init; }
    public DateTime PeriodStart { get; init; }
    public DateTime PeriodEnd { get; init; }
    public required string OrderId { get; init; }
    /// <summary>The payment of the attempt in progress; null between attempts (the last one's failure is applied).</summary>
    public string? AttemptPaymentId { get; set; }
    public int AttemptCount { get; set; }
    public DateTime? FirstFailedAt { get; set; }
    public DateTime? NextAttemptAt { get; set; }
    public string? LastFailureCode { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? FinalizedAt { get; set; }
    public DateTime? PaidAt { get; set; }
    public DateTime? VoidedAt { get; set; }
    public List<InvoiceLine> Lines { get; init; } = [];
}

/// <summary>One line of an invoice: a period of a price, or (later) a proration.</summary>
public sealed class InvoiceLine
{
    public required string Id { get; init; }
    public required string InvoiceId { get; init; }
    public required string Description { get; init; }
    public long Amount { get; init; }
    public DateTime PeriodStart { get; init; }
    public DateTime PeriodEnd { get; init; }
    public bool Proration { get; init; }
    public string? PriceId { get; init; }
}

/// <summary>A test clock (clock_, sandbox mode only): a frozen time its subscriptions live by, moved only by an advance.</summary>
public sealed class TestClock
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public DateTime FrozenTime { get; set; }
    /// <summary>ready, or advancing while an advance runs.</summary>
    public required string Status { get; set; }
    public string? Name { get; init; }
    public DateTime CreatedAt { get; init; }
}
