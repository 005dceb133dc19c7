using KnowPay.Domain;

namespace KnowPay.Tests.Domain;

/// <summary>Billing periods as Stripe computes them, and the dunning schedule, without I/O.</summary>
public sealed class BillingScheduleTests
{
    static readonly BillingSchedule Monthly = new(BillingInterval.Month, 1);

    [Fact]
    public void MonthEndAnchor_AcrossALeapYear_ClampsToFebruary29_AndReturnsTo31()
    {
        var anchor = new DateTime(2028, 1, 31, 10, 30, 0, DateTimeKind.Utc);
        var starts = Enumerable.Range(0, 13).Select(n => Monthly.PeriodStart(anchor, n).ToString("yyyy-MM-dd")).ToList();
        Assert.Equal(["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31", "2028-06-30", "2028-07-31",
            "2028-08-31", "2028-09-30", "2028-10-31", "2028-11-30", "2028-12-31", "2029-01-31"], starts);
        Assert.Equal(new TimeSpan(10, 30, 0), Monthly.PeriodStart(anchor, 1).TimeOfDay);
    }

    [Fact]
    public void MonthEndAnchor_InACommonYear_ClampsToFebruary28_WithoutDrifting()
    {
        var anchor = new DateTime(2027, 1, 31, 0, 0, 0, DateTimeKind.Utc);
        Assert.Equal(new DateTime(2027, 2, 28, 0, 0, 0, DateTimeKind.Utc), Monthly.PeriodStart(anchor, 1));
        Assert.Equal(new DateTime(2027, 3, 31, 0, 0, 0, DateTimeKind.Utc), Monthly.PeriodStart(anchor, 2));
        Assert.Equal(Monthly.PeriodStart(anchor, 2), Monthly.PeriodEnd(anchor, 1));
        // Repeated addition would drift to the 28th for good: the anchor is what keeps the 31st.
        Assert.Equal(new DateTime(2027, 4, 28, 0, 0, 0, DateTimeKind.Utc), anchor.AddMonths(1).AddMonths(1).AddMonths(1));
        Assert.Equal(new DateTime(2027, 4, 30, 0, 0, 0, DateTimeKind.Utc), Monthly.PeriodStart(anchor, 3));
    }

    [Fact]
    public void YearlyFromFebruary29_IsFebruary28InCommonYears_AndFebruary29Again()
    {
        var yearly = new BillingSchedule(BillingInterval.Year, 1);
        var anchor = new DateTime(2028, 2, 29, 0, 0, 0, DateTimeKind.Utc);
        Assert.Equal(new DateTime(2029, 2, 28, 0, 0, 0, DateTimeKind.Utc), yearly.PeriodStart(anchor, 1));
        Assert.Equal(new DateTime(2032, 2, 29, 0, 0, 0, DateTimeKind.Utc), yearly.PeriodStart(anchor, 4));
    }

    [Theory]
    [InlineData("day", 10, 5, "2026-02-20")]
    [InlineData("week", 2, 3, "2026-02-12")]
    [InlineData("month", 3, 2, "2026-07-01")]
    [InlineData("year", 1, 2, "2028-01-01")]
    public void IntervalTimesCount_GivesPeriodN(string interval, int count, int n, string expected)
    {
        Assert.True(BillingSchedule.TryParse(interval, count, out var schedule, out _));
        var anchor = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        Assert.Equal(expected, schedule.PeriodStart(anchor, n).ToString("yyyy-MM-dd"));
    }

    [Theory]
    [InlineData("month", 0, "recurring_interval_count_invalid")]
    [InlineData("month", 13, "recurring_interval_count_invalid")]
    [InlineData("fortnight", 1, "recurring_interval_invalid")]
    [InlineData(null, 1, "recurring_interval_invalid")]
    [InlineData("MONTH", 1, "recurring_interval_invalid")]
    public void BadIntervals_AreRefused_WithStableCodes(string? interval, int count, string code)
    {
        Assert.False(BillingSchedule.TryParse(interval, count, out _, out var error));
        Assert.Equal(code, error);
    }

    [Fact]
    public void Dunning_RetriesOnTheScheduleFromTheFirstFailure_ThenStops()
    {
        var first = new DateTime(2026, 5, 1, 8, 0, 0, DateTimeKind.Utc);
        var d = DunningSchedule.Default;
        Assert.Equal(first.AddDays(1), d.NextAttemptAt(first, 1));
        Assert.Equal(first.AddDays(3), d.NextAttemptAt(first, 2));
        Assert.Equal(first.AddDays(5), d.NextAttemptAt(first, 3));
        Assert.Equal(first.AddDays(7), d.NextAttemptAt(first, 4));
        Assert.Null(d.NextAttemptAt(first, 5));
        Assert.True(DunningSchedule.IsValid([1, 3, 5, 7]));
        Assert.False(DunningSchedule.IsValid([3, 1]));
        Assert.False(DunningSchedule.IsValid([0]));
    }

    [Fact]
    public void SubscriptionMachine_PastDueRecoversToActive_ExhaustionEndsUnpaidOrCanceled_CanceledIsTerminal()
    {
        var fail = SubscriptionTransitions.Fail(SubscriptionStatus.Active);
        Assert.Equal((true, SubscriptionStatus.PastDue), (fail.Allowed, fail.To));
        Assert.Equal([EventTypes.SubscriptionUpdated], fail.Events);
        Assert.Equal(SubscriptionStatus.Active, SubscriptionTransitions.Pay(SubscriptionStatus.PastDue).To);
        Assert.Equal(SubscriptionStatus.Unpaid, SubscriptionTransitions.Exhaust(SubscriptionStatus.PastDue, cancel: false).To);
        var canceled = SubscriptionTransitions.Exhaust(SubscriptionStatus.PastDue, cancel: true);
        Assert.Equal(SubscriptionStatus.Canceled, canceled.To);
        Assert.Equal([EventTypes.SubscriptionDeleted], canceled.Events);
        Assert.False(SubscriptionTransitions.Pay(SubscriptionStatus.Canceled).Allowed);
        Assert.False(SubscriptionTransitions.Cancel(SubscriptionStatus.Canceled).Allowed);
        Assert.False(SubscriptionTransitions.Expire(SubscriptionStatus.Active).Allowed);
        Assert.Equal(SubscriptionStatus.IncompleteExpired, SubscriptionTransitions.Expire(SubscriptionStatus.Incomplete).To);
        Assert.Equal(SubscriptionStatus.Trialing, SubscriptionTransitions.Initial(14));
        Assert.Equal(SubscriptionStatus.Incomplete, SubscriptionTransitions.Initial(0));
    }

    [Fact]
    public void InvoiceMachine_DraftOpenPaid_VoidAndUncollectible_PaidIsTerminal()
    {
        Assert.Equal(InvoiceStatus.Open, InvoiceTransitions.Finalize(InvoiceStatus.Draft).To);
        Assert.Equal([EventTypes.InvoicePaid], InvoiceTransitions.Pay(InvoiceStatus.Open).Events);
        Assert.False(InvoiceTransitions.Pay(InvoiceStatus.Paid).Allowed);
        Assert.False(InvoiceTransitions.Pay(InvoiceStatus.Void).Allowed);
        Assert.True(InvoiceTransitions.Pay(InvoiceStatus.Uncollectible).Allowed);
        Assert.False(InvoiceTransitions.Void(InvoiceStatus.Paid).Allowed);
        var failed = InvoiceTransitions.PaymentFailed(InvoiceStatus.Open);
        Assert.Equal((InvoiceStatus.Open, InvoiceStatus.Open), (failed.From, failed.To));
        Assert.Equal([EventTypes.InvoicePaymentFailed], failed.Events);
        Assert.Equal([EventTypes.InvoiceMarkedUncollectible], InvoiceTransitions.MarkUncollectible(InvoiceStatus.Open).Events);
    }
}
