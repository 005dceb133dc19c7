namespace KnowPay.Domain;

public enum OrderStatus { Pending, Paid, Expired, Canceled }

public enum PaymentStatus { Pending, Succeeded, Failed, Canceled }

public enum RefundState { Pending, Succeeded, Failed }

public enum ProductKind { Course, Column, Membership, Tip }

public enum ProductStatus { Draft, Published, Archived }
