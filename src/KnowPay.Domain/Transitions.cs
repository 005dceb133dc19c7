namespace KnowPay.Domain;

/// <summary>
/// A state machine's answer to one event: whether it may happen in the current state, the state it leads to, and the
/// outbox events it emits. A writer applies it as a conditional update (<c>UPDATE … SET status = To WHERE status =
/// From</c>): the state was read before the write, so the database, not the reader, decides between racing writers.
/// Every machine (payment, order, refund; subscriptions and invoices later) answers in this one shape.
/// </summary>
public sealed record Transition<TStatus>(bool Allowed, TStatus From, TStatus To, IReadOnlyList<string> Events)
    where TStatus : struct, Enum
{
    public static Transition<TStatus> Allow(TStatus from, TStatus to, params IReadOnlyList<string> events) => new(true, from, to, events);

    /// <summary>Not allowed in <paramref name="current"/>: nothing changes and nothing is emitted.</summary>
    public static Transition<TStatus> Refuse(TStatus current) => new(false, current, current, []);
}

/// <summary>
/// A payment: pending until the provider says paid (succeeded), failed, or the order's expiry closes it (canceled).
/// Succeeded is terminal; a success reported after a failure or a close is still honoured, because the money moved.
/// </summary>
public static class PaymentTransitions
{
    /// <summary>The one status in which a payment can be refunded.</summary>
    public const PaymentStatus Refundable = PaymentStatus.Succeeded;

    public static bool IsTerminal(PaymentStatus status) => status == PaymentStatus.Succeeded;

    /// <summary>
    /// The provider reports the payment paid. It pays the order when the order allows it (<see cref="OrderTransitions.Pay"/>);
    /// when the order was already paid another way, the payment is a duplicate: booked, flagged and refunded later.
    /// </summary>
    public static Transition<PaymentStatus> Confirm(PaymentStatus current, OrderStatus order)
    {
        if (IsTerminal(current)) return Transition<PaymentStatus>.Refuse(current);
        var pay = OrderTransitions.Pay(order);
        return Transition<PaymentStatus>.Allow(current, PaymentStatus.Succeeded, pay.Allowed ? pay.Events : [EventTypes.PaymentDuplicate]);
    }

    /// <summary>The provider reports the payment failed (declined, canceled by the buyer, closed unpaid).</summary>
    public static Transition<PaymentStatus> Fail(PaymentStatus current) => current == PaymentStatus.Pending
        ? Transition<PaymentStatus>.Allow(current, PaymentStatus.Failed, EventTypes.PaymentFailed)
        : Transition<PaymentStatus>.Refuse(current);

    /// <summary>
    /// The order's expiry closed the payment at the provider. The only transition without an event of its own: the
    /// order's <see cref="EventTypes.OrderExpired"/> reports it.
    /// </summary>
    public static Transition<PaymentStatus> Cancel(PaymentStatus current) => current == PaymentStatus.Pending
        ? Transition<PaymentStatus>.Allow(current, PaymentStatus.Canceled)
        : Transition<PaymentStatus>.Refuse(current);
}

/// <summary>
/// An order: pending until one of its payments succeeds (paid) or its expiry passes (expired). Paid is terminal; an
/// expired or canceled order is still paid by a late success (flagged), never lost.
/// </summary>
public static class OrderTransitions
{
    public static bool IsTerminal(OrderStatus status) => status == OrderStatus.Paid;

    /// <summary>A new payment may start only on a pending order (the caller also checks the expiry time).</summary>
    public static bool AcceptsPayments(OrderStatus status) => status == OrderStatus.Pending;

    /// <summary>A payment of the order succeeded: access is granted with it.</summary>
    public static Transition<OrderStatus> Pay(OrderStatus current) => IsTerminal(current)
        ? Transition<OrderStatus>.Refuse(current)
        : Transition<OrderStatus>.Allow(current, OrderStatus.Paid, EventTypes.OrderPaid, EventTypes.EntitlementGranted);

    /// <summary>True when paying from <paramref name="from"/> honours a success that came after the order was closed.</summary>
    public static bool IsLatePayment(OrderStatus from) => from is OrderStatus.Expired or OrderStatus.Canceled;

    /// <summary>The expiry passed and every pending payment is closed at its provider.</summary>
    public static Transition<OrderStatus> Expire(OrderStatus current) => current == OrderStatus.Pending
        ? Transition<OrderStatus>.Allow(current, OrderStatus.Expired, EventTypes.OrderExpired)
        : Transition<OrderStatus>.Refuse(current);
}

/// <summary>A refund: pending (its amount reserved on the payment) until the provider says succeeded or failed; both are terminal.</summary>
public static class RefundTransitions
{
    public static bool IsTerminal(RefundState status) => status != RefundState.Pending;

    public static Transition<RefundState> Succeed(RefundState current) => current == RefundState.Pending
        ? Transition<RefundState>.Allow(current, RefundState.Succeeded, EventTypes.RefundSucceeded)
        : Transition<RefundState>.Refuse(current);

    /// <summary>The provider refused the refund: the reservation is released with it.</summary>
    public static Transition<RefundState> Fail(RefundState current) => current == RefundState.Pending
        ? Transition<RefundState>.Allow(current, RefundState.Failed, EventTypes.RefundFailed)
        : Transition<RefundState>.Refuse(current);
}

/// <summary>
/// A payment agreement: pending until the provider says the learner signed (active), revoked when either side ends it.
/// Revoked is terminal: provider notifications come at least once and out of order, and a late sign notice must never
/// revive an agreement that was ended.
/// </summary>
public static class MandateTransitions
{
    public static bool IsTerminal(MandateStatus status) => status == MandateStatus.Revoked;

    public static Transition<MandateStatus> Activate(MandateStatus current) => current == MandateStatus.Pending
        ? Transition<MandateStatus>.Allow(current, MandateStatus.Active, EventTypes.MandateCreated)
        : Transition<MandateStatus>.Refuse(current);

    /// <summary>Ended by the learner at the provider, by the merchant, or never signed: no further charge under it.</summary>
    public static Transition<MandateStatus> Revoke(MandateStatus current) => current switch
    {
        MandateStatus.Active => Transition<MandateStatus>.Allow(current, MandateStatus.Revoked, EventTypes.MandateRevoked),
        MandateStatus.Pending => Transition<MandateStatus>.Allow(current, MandateStatus.Revoked),
        _ => Transition<MandateStatus>.Refuse(current),
    };
}

/// <summary>
/// A subscription: incomplete (or trialing) until its first invoice is paid, active while paid up, past_due while a renewal's
/// retries run, then unpaid or canceled (the merchant's choice) when they are exhausted. Canceled and incomplete_expired are
/// terminal; a later payment of an unpaid subscription's invoice recovers it to active.
/// </summary>
public static class SubscriptionTransitions
{
    public static bool IsTerminal(SubscriptionStatus status) => status is SubscriptionStatus.Canceled or SubscriptionStatus.IncompleteExpired;

    /// <summary>The status a new subscription starts in: trialing with trial days, else incomplete until the first payment.</summary>
    public static SubscriptionStatus Initial(int trialDays) => trialDays > 0 ? SubscriptionStatus.Trialing : SubscriptionStatus.Incomplete;

    /// <summary>An invoice of the subscription was paid: the period it covers starts.</summary>
    public static Transition<SubscriptionStatus> Pay(SubscriptionStatus current) => IsTerminal(current)
        ? Transition<SubscriptionStatus>.Refuse(current)
        : Transition<SubscriptionStatus>.Allow(current, SubscriptionStatus.Active, EventTypes.SubscriptionUpdated);

    /// <summary>A renewal charge failed: retries follow the dunning schedule.</summary>
    public static Transition<SubscriptionStatus> Fail(SubscriptionStatus current) => current is SubscriptionStatus.Active or SubscriptionStatus.Trialing
        ? Transition<SubscriptionStatus>.Allow(current, SubscriptionStatus.PastDue, EventTypes.SubscriptionUpdated)
        : Transition<SubscriptionStatus>.Refuse(current);

    /// <summary>Every retry failed: unpaid (the invoice stays open, access ends after the grace days) or canceled.</summary>
    public static Transition<SubscriptionStatus> Exhaust(SubscriptionStatus current, bool cancel) => current switch
    {
        SubscriptionStatus.PastDue or SubscriptionStatus.Active or SubscriptionStatus.Trialing => cancel
            ? Transition<SubscriptionStatus>.Allow(current, SubscriptionStatus.Canceled, EventTypes.SubscriptionDeleted)
            : Transition<SubscriptionStatus>.Allow(current, SubscriptionStatus.Unpaid, EventTypes.SubscriptionUpdated),
        _ => Transition<SubscriptionStatus>.Refuse(current),
    };

    /// <summary>The first invoice was not paid within 23 hours.</summary>
    public static Transition<SubscriptionStatus> Expire(SubscriptionStatus current) => current == SubscriptionStatus.Incomplete
        ? Transition<SubscriptionStatus>.Allow(current, SubscriptionStatus.IncompleteExpired, EventTypes.SubscriptionUpdated)
        : Transition<SubscriptionStatus>.Refuse(current);

    /// <summary>Ended now (or at the period's end, when that comes): no further invoice.</summary>
    public static Transition<SubscriptionStatus> Cancel(SubscriptionStatus current) => IsTerminal(current)
        ? Transition<SubscriptionStatus>.Refuse(current)
        : Transition<SubscriptionStatus>.Allow(current, SubscriptionStatus.Canceled, EventTypes.SubscriptionDeleted);

    /// <summary>Whether the subscription may still be changed (cancel at period end, resume): not once it ended.</summary>
    public static bool AcceptsChanges(SubscriptionStatus status) => !IsTerminal(status);
}

/// <summary>An invoice: draft → open (finalized) → paid | void | uncollectible. Paid and void are terminal.</summary>
public static class InvoiceTransitions
{
    public static bool IsTerminal(InvoiceStatus status) => status is InvoiceStatus.Paid or InvoiceStatus.Void;

    public static Transition<InvoiceStatus> Finalize(InvoiceStatus current) => current == InvoiceStatus.Draft
        ? Transition<InvoiceStatus>.Allow(current, InvoiceStatus.Open, EventTypes.InvoiceFinalized)
        : Transition<InvoiceStatus>.Refuse(current);

    /// <summary>Its payment succeeded; an uncollectible invoice paid late is still paid.</summary>
    public static Transition<InvoiceStatus> Pay(InvoiceStatus current) => current is InvoiceStatus.Open or InvoiceStatus.Uncollectible
        ? Transition<InvoiceStatus>.Allow(current, InvoiceStatus.Paid, EventTypes.InvoicePaid)
        : Transition<InvoiceStatus>.Refuse(current);

    /// <summary>An attempt to collect it failed: it stays open (the status does not change, the event is emitted).</summary>
    public static Transition<InvoiceStatus> PaymentFailed(InvoiceStatus current) => current == InvoiceStatus.Open
        ? Transition<InvoiceStatus>.Allow(current, InvoiceStatus.Open, EventTypes.InvoicePaymentFailed)
        : Transition<InvoiceStatus>.Refuse(current);

    public static Transition<InvoiceStatus> Void(InvoiceStatus current) => current is InvoiceStatus.Draft or InvoiceStatus.Open
        ? Transition<InvoiceStatus>.Allow(current, InvoiceStatus.Void, EventTypes.InvoiceVoided)
        : Transition<InvoiceStatus>.Refuse(current);

    public static Transition<InvoiceStatus> MarkUncollectible(InvoiceStatus current) => current == InvoiceStatus.Open
        ? Transition<InvoiceStatus>.Allow(current, InvoiceStatus.Uncollectible, EventTypes.InvoiceMarkedUncollectible)
        : Transition<InvoiceStatus>.Refuse(current);
}
