namespace KnowPay.Domain;

public enum OrderStatus { Pending, Paid, Expired, Canceled }

public enum PaymentStatus { Pending, Succeeded, Failed, Canceled }

public enum RefundState { Pending, Succeeded, Failed }

public enum ProductKind { Course, Column, Membership, Tip }

public enum ProductStatus { Draft, Published, Archived }

/// <summary>A payment agreement (deduction agreement or saved card): pending until the learner signs, active, revoked for good.</summary>
public enum MandateStatus { Pending, Active, Revoked }
