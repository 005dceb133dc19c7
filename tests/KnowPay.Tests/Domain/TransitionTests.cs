using CsCheck;
using KnowPay.Domain;

namespace KnowPay.Tests.Domain;

/// <summary>The payment, order and refund state machines, without I/O: random event sequences and every single step.</summary>
public sealed class TransitionTests
{
    /// <summary>One event of the model: which machine, which action, and which payment or refund it concerns.</summary>
    public enum Action { ConfirmPayment, FailPayment, CancelPayment, ExpireOrder, SucceedRefund, FailRefund }

    sealed class Model(int payments, int refunds)
    {
        public OrderStatus Order = OrderStatus.Pending;
        public readonly PaymentStatus[] Payments = Enumerable.Repeat(PaymentStatus.Pending, payments).ToArray();
        public readonly RefundState[] Refunds = Enumerable.Repeat(RefundState.Pending, refunds).ToArray();
        public readonly List<string> Events = [];
        public readonly List<string>[] RefundEvents = Enumerable.Range(0, refunds).Select(_ => new List<string>()).ToArray();

        /// <summary>Applies the event as the features do: the domain decides, the caller writes From → To and emits Events.</summary>
        public void Apply(Action action, int index)
        {
            switch (action)
            {
                case Action.ConfirmPayment:
                {
                    var i = index % Payments.Length;
                    var t = Check(PaymentTransitions.Confirm(Payments[i], Order), Payments[i], PaymentTransitions.IsTerminal);
                    if (!t.Allowed) return;
                    var pay = OrderTransitions.Pay(Order);
                    if (pay.Allowed) Order = pay.To;
                    Payments[i] = t.To;
                    Events.AddRange(t.Events);
                    return;
                }
                case Action.FailPayment or Action.CancelPayment:
                {
                    var i = index % Payments.Length;
                    var t = Check(action == Action.FailPayment ? PaymentTransitions.Fail(Payments[i]) : PaymentTransitions.Cancel(Payments[i]),
                        Payments[i], PaymentTransitions.IsTerminal);
                    Payments[i] = t.To;
                    Events.AddRange(t.Events);
                    return;
                }
                case Action.ExpireOrder:
                {
                    var t = Check(OrderTransitions.Expire(Order), Order, OrderTransitions.IsTerminal);
                    Order = t.To;
                    Events.AddRange(t.Events);
                    return;
                }
                default:
                {
                    var r = index % Refunds.Length;
                    var t = Check(action == Action.SucceedRefund ? RefundTransitions.Succeed(Refunds[r]) : RefundTransitions.Fail(Refunds[r]),
                        Refunds[r], RefundTransitions.IsTerminal);
                    Refunds[r] = t.To;
                    RefundEvents[r].AddRange(t.Events);
                    return;
                }
            }
        }

        /// <summary>What every single step must satisfy, whatever the machine.</summary>
        static KnowPay.Domain.Transition<T> Check<T>(KnowPay.Domain.Transition<T> t, T current, Func<T, bool> isTerminal) where T : struct, Enum
        {
            Assert.Equal(current, t.From);
            if (isTerminal(current)) Assert.False(t.Allowed, $"{current} is terminal");
            if (!t.Allowed)
            {
                Assert.Equal(current, t.To);
                Assert.Empty(t.Events);
            }
            else
            {
                Assert.NotEqual(current, t.To);
                Assert.NotEqual("Pending", t.To.ToString());   // nothing goes back to where it started
            }
            return t;
        }

        /// <summary>The states no sequence may reach.</summary>
        public void AssertLegal()
        {
            var succeeded = Payments.Count(p => p == PaymentStatus.Succeeded);
            Assert.Equal(succeeded > 0, Order == OrderStatus.Paid);                      // paid exactly when some payment succeeded
            Assert.Equal(succeeded > 0 ? 1 : 0, Count(EventTypes.OrderPaid));            // paid once, however many payments succeed
            Assert.Equal(Count(EventTypes.OrderPaid), Count(EventTypes.EntitlementGranted));
            Assert.Equal(Math.Max(0, succeeded - 1), Count(EventTypes.PaymentDuplicate)); // every other success is a duplicate
            // A payment fails at most once (a late success may follow, which is honoured).
            Assert.InRange(Count(EventTypes.PaymentFailed), Payments.Count(p => p == PaymentStatus.Failed), Payments.Length);
            Assert.True(Count(EventTypes.OrderExpired) <= 1);
            for (var r = 0; r < Refunds.Length; r++)
                Assert.Equal(Refunds[r] switch
                {
                    RefundState.Succeeded => [EventTypes.RefundSucceeded],
                    RefundState.Failed => [EventTypes.RefundFailed],
                    _ => Array.Empty<string>(),
                }, RefundEvents[r]);
        }

        int Count(string type) => Events.Count(e => e == type);
    }

    static readonly Gen<(Action Action, int Index)> Step = Gen.Select(Gen.Enum<Action>(), Gen.Int[0, 7]);

    [Fact]
    public void RandomEventSequences_NeverReachAnIllegalState() =>
        Gen.Select(Gen.Int[1, 4], Gen.Int[1, 3], Step.Array[0, 40]).Sample((payments, refunds, steps) =>
        {
            var model = new Model(payments, refunds);
            foreach (var (action, index) in steps)
            {
                model.Apply(action, index);
                model.AssertLegal();
            }
        }, iter: 2000);

    [Fact]
    public void TerminalStates_StayTerminal_UnderAnySequence() =>
        Step.Array[1, 30].Sample(steps =>
        {
            var model = new Model(1, 1);
            model.Apply(Action.ConfirmPayment, 0);
            model.Apply(Action.SucceedRefund, 0);
            var (order, payment, refund, events) = (model.Order, model.Payments[0], model.Refunds[0], model.Events.Count);
            foreach (var (action, index) in steps) model.Apply(action, index);
            Assert.Equal((OrderStatus.Paid, PaymentStatus.Succeeded, RefundState.Succeeded, events),
                (model.Order, model.Payments[0], model.Refunds[0], model.Events.Count));
            Assert.Equal((OrderStatus.Paid, PaymentStatus.Succeeded, RefundState.Succeeded), (order, payment, refund));
        });

    public static TheoryData<string, string, string[]> AllowedSteps => new()
    {
        { "payment.confirm (order pending)", "Succeeded", [EventTypes.OrderPaid, EventTypes.EntitlementGranted] },
        { "payment.confirm (order expired)", "Succeeded", [EventTypes.OrderPaid, EventTypes.EntitlementGranted] },
        { "payment.confirm (order paid)", "Succeeded", [EventTypes.PaymentDuplicate] },
        { "payment.confirm after failure", "Succeeded", [EventTypes.OrderPaid, EventTypes.EntitlementGranted] },
        { "payment.fail", "Failed", [EventTypes.PaymentFailed] },
        { "order.pay", "Paid", [EventTypes.OrderPaid, EventTypes.EntitlementGranted] },
        { "order.pay late", "Paid", [EventTypes.OrderPaid, EventTypes.EntitlementGranted] },
        { "order.expire", "Expired", [EventTypes.OrderExpired] },
        { "refund.succeed", "Succeeded", [EventTypes.RefundSucceeded] },
        { "refund.fail", "Failed", [EventTypes.RefundFailed] },
    };

    [Theory]
    [MemberData(nameof(AllowedSteps))]
    public void EveryTransition_EmitsItsEvent(string step, string to, string[] events)
    {
        var (allowed, newStatus, emitted) = step switch
        {
            "payment.confirm (order pending)" => Parts(PaymentTransitions.Confirm(PaymentStatus.Pending, OrderStatus.Pending)),
            "payment.confirm (order expired)" => Parts(PaymentTransitions.Confirm(PaymentStatus.Canceled, OrderStatus.Expired)),
            "payment.confirm (order paid)" => Parts(PaymentTransitions.Confirm(PaymentStatus.Pending, OrderStatus.Paid)),
            "payment.confirm after failure" => Parts(PaymentTransitions.Confirm(PaymentStatus.Failed, OrderStatus.Pending)),
            "payment.fail" => Parts(PaymentTransitions.Fail(PaymentStatus.Pending)),
            "order.pay" => Parts(OrderTransitions.Pay(OrderStatus.Pending)),
            "order.pay late" => Parts(OrderTransitions.Pay(OrderStatus.Canceled)),
            "order.expire" => Parts(OrderTransitions.Expire(OrderStatus.Pending)),
            "refund.succeed" => Parts(RefundTransitions.Succeed(RefundState.Pending)),
            "refund.fail" => Parts(RefundTransitions.Fail(RefundState.Pending)),
            _ => throw new ArgumentOutOfRangeException(nameof(step)),
        };
        Assert.True(allowed);
        Assert.Equal(to, newStatus);
        Assert.Equal(events, emitted);
    }

    static (bool, string, IReadOnlyList<string>) Parts<T>(KnowPay.Domain.Transition<T> t) where T : struct, Enum => (t.Allowed, t.To.ToString(), t.Events);

    [Fact]
    public void EveryAllowedTransition_EmitsAnEvent_ExceptAPaymentClosedByItsOrdersExpiry()
    {
        foreach (var payment in Enum.GetValues<PaymentStatus>())
        {
            foreach (var order in Enum.GetValues<OrderStatus>())
                if (PaymentTransitions.Confirm(payment, order) is { Allowed: true } confirm) Assert.NotEmpty(confirm.Events);
            if (PaymentTransitions.Fail(payment) is { Allowed: true } fail) Assert.NotEmpty(fail.Events);
            // Closed by the expiry: the order's order.expired reports it, as before the domain had transitions.
            if (PaymentTransitions.Cancel(payment) is { Allowed: true } cancel) Assert.Empty(cancel.Events);
        }
        foreach (var order in Enum.GetValues<OrderStatus>())
        {
            if (OrderTransitions.Pay(order) is { Allowed: true } pay) Assert.NotEmpty(pay.Events);
            if (OrderTransitions.Expire(order) is { Allowed: true } expire) Assert.NotEmpty(expire.Events);
        }
        foreach (var refund in Enum.GetValues<RefundState>())
        {
            if (RefundTransitions.Succeed(refund) is { Allowed: true } succeed) Assert.NotEmpty(succeed.Events);
            if (RefundTransitions.Fail(refund) is { Allowed: true } fail) Assert.NotEmpty(fail.Events);
        }
    }

    [Fact]
    public void TerminalStates_RefuseEveryEvent()
    {
        foreach (var order in Enum.GetValues<OrderStatus>())
            Assert.False(PaymentTransitions.Confirm(PaymentStatus.Succeeded, order).Allowed);
        Assert.False(PaymentTransitions.Fail(PaymentStatus.Succeeded).Allowed);
        Assert.False(PaymentTransitions.Cancel(PaymentStatus.Succeeded).Allowed);
        Assert.False(OrderTransitions.Pay(OrderStatus.Paid).Allowed);
        Assert.False(OrderTransitions.Expire(OrderStatus.Paid).Allowed);
        foreach (var refund in new[] { RefundState.Succeeded, RefundState.Failed })
        {
            Assert.False(RefundTransitions.Succeed(refund).Allowed);
            Assert.False(RefundTransitions.Fail(refund).Allowed);
        }
    }

    [Fact]
    public void ALateSuccess_PaysAClosedOrder_AndIsFlaggedLate()
    {
        Assert.True(OrderTransitions.IsLatePayment(OrderStatus.Expired));
        Assert.True(OrderTransitions.IsLatePayment(OrderStatus.Canceled));
        Assert.False(OrderTransitions.IsLatePayment(OrderStatus.Pending));
        Assert.Equal(OrderStatus.Paid, OrderTransitions.Pay(OrderStatus.Expired).To);
        Assert.False(OrderTransitions.AcceptsPayments(OrderStatus.Expired));
    }
}
