namespace KnowPay.Domain;

public enum OrderStatus { Pending, Paid, Expired, Canceled }

public enum PaymentStatus { Pending, Succeeded, Failed, Canceled }

public enum RefundState { Pending, Succeeded, Failed }

public enum ProductKind { Course, Column, Membership, Tip }

public enum ProductStatus { Draft, Published, Archived }

/// <summary>A payment agreement (deduction agreement or saved card): pending until the learner signs, active, revoked for good.</summary>
public enum MandateStatus { Pending, Active, Revoked }

/// <summary>A subscription, as Stripe's: incomplete until its first invoice is paid (incomplete_expired after 23 h), trialing,
/// active, past_due while its dunning retries run, then unpaid or canceled.</summary>
public enum SubscriptionStatus { Incomplete, IncompleteExpired, Trialing, Active, PastDue, Unpaid, Canceled }

/// <summary>An invoice: draft, open (finalized, collectible), then paid, void or uncollectible.</summary>
public enum InvoiceStatus { Draft, Open, Paid, Void, Uncollectible }
