namespace KnowPay.Domain;

/// <summary>The outbox event types KnowPay emits to the platform's webhook endpoints: part of the public contract.</summary>
public static class EventTypes
{
    public const string OrderPaid = "order.paid";
    public const string OrderExpired = "order.expired";
    public const string EntitlementGranted = "entitlement.granted";
    public const string EntitlementRevoked = "entitlement.revoked";
    public const string PaymentFailed = "payment.failed";
    public const string PaymentDuplicate = "payment.duplicate";
    public const string RefundSucceeded = "refund.succeeded";
    public const string RefundFailed = "refund.failed";
    public const string PayoutPaid = "payout.paid";
    public const string PayoutFailed = "payout.failed";
    public const string MandateCreated = "mandate.created";
    public const string MandateRevoked = "mandate.revoked";
    public const string SubscriptionCreated = "customer.subscription.created";
    public const string SubscriptionUpdated = "customer.subscription.updated";
    public const string SubscriptionDeleted = "customer.subscription.deleted";
    public const string InvoiceCreated = "invoice.created";
    public const string InvoiceFinalized = "invoice.finalized";
    public const string InvoicePaid = "invoice.paid";
    public const string InvoicePaymentFailed = "invoice.payment_failed";
    public const string InvoiceVoided = "invoice.voided";
    public const string InvoiceMarkedUncollectible = "invoice.marked_uncollectible";
    public const string ReconciliationCompleted = "reconciliation.completed";
    public const string RiskDecision = "risk.decision";
}
