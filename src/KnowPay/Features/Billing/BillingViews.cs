using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Features.Billing;

/// <summary>Where the learner signs a pending agreement (a URL, a QR payload or a client secret).</summary>
public sealed record PendingMandateView(string Id, string Status, System.Text.Json.Nodes.JsonNode? NextAction);

/// <summary>A subscription as the API and its events show it.</summary>
public sealed record SubscriptionView(
    string Id, string Object, string CustomerId, string ProductId, string PriceId, string Status, string Currency, long Amount,
    string Interval, int IntervalCount, string CollectionMethod, string Provider, string Method, string? MandateId, string? TestClock,
    DateTime BillingCycleAnchor, DateTime CurrentPeriodStart, DateTime CurrentPeriodEnd, DateTime? TrialEnd, bool CancelAtPeriodEnd,
    DateTime? CanceledAt, DateTime? EndedAt, string? EntitlementId, DateTime CreatedAt, string? LatestInvoiceId,
    InvoiceView? LatestInvoice = null, PendingMandateView? PendingMandate = null)
{
    public static SubscriptionView From(Subscription s) => new(
        s.Id, "subscription", s.CustomerId, s.ProductId, s.PriceId, Snake(s.Status), s.Currency, s.Amount, s.Interval, s.IntervalCount,
        s.CollectionMethod, s.Provider, s.Method, s.MandateId, s.TestClockId, s.BillingCycleAnchor, s.CurrentPeriodStart, s.CurrentPeriodEnd,
        s.TrialEnd, s.CancelAtPeriodEnd, s.CanceledAt, s.EndedAt, s.EntitlementId, s.CreatedAt, s.LatestInvoiceId);

    public static string Snake(SubscriptionStatus status) => status switch
    {
        SubscriptionStatus.IncompleteExpired => "incomplete_expired",
        SubscriptionStatus.PastDue => "past_due",
        _ => status.ToString().ToLowerInvariant(),
    };
}

public sealed record InvoiceLineView(string Id, string Description, long Amount, DateTime PeriodStart, DateTime PeriodEnd, bool Proration, string? PriceId);

/// <summary>An invoice; <c>hosted_invoice_url</c> (the order's checkout link) while it is open.</summary>
public sealed record InvoiceView(
    string Id, string Object, string SubscriptionId, string CustomerId, string Status, string Currency, long AmountDue, long AmountPaid,
    string BillingReason, DateTime PeriodStart, DateTime PeriodEnd, string OrderId, int AttemptCount, DateTime? NextPaymentAttempt,
    string? LastFailureCode, string? HostedInvoiceUrl, IReadOnlyList<InvoiceLineView> Lines, DateTime CreatedAt, DateTime? PaidAt)
{
    public static InvoiceView From(Invoice i, string? checkoutUrl = null) => new(
        i.Id, "invoice", i.SubscriptionId, i.CustomerId, i.Status.ToString().ToLowerInvariant(), i.Currency, i.Amount,
        i.Status == InvoiceStatus.Paid ? i.Amount : 0, i.BillingReason, i.PeriodStart, i.PeriodEnd, i.OrderId, i.AttemptCount, i.NextAttemptAt,
        i.LastFailureCode, i.Status == InvoiceStatus.Open ? checkoutUrl : null,
        i.Lines.Select(l => new InvoiceLineView(l.Id, l.Description, l.Amount, l.PeriodStart, l.PeriodEnd, l.Proration, l.PriceId)).ToList(),
        i.CreatedAt, i.PaidAt);
}

public sealed record TestClockView(string Id, string Object, DateTime FrozenTime, string Status, string? Name, DateTime CreatedAt)
{
    public static TestClockView From(TestClock c) => new(c.Id, "test_clock", c.FrozenTime, c.Status, c.Name, c.CreatedAt);
}
