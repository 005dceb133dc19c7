using KnowPay.Domain;

namespace KnowPay.Tests.Domain;

public sealed class ProrationTests
{
    static readonly DateTime Start = new(2028, 3, 1, 8, 0, 0, DateTimeKind.Utc);
    static readonly DateTime End = Start.AddDays(30);

    [Fact]
    public void UpgradeAtTheMiddleOfA30DayPeriod_CreditsHalfTheOldPrice_ChargesHalfTheNew()
    {
        var lines = Proration.For(3000, 9000, Start, End, Start.AddDays(15));
        Assert.Equal(1500, lines.Credit);
        Assert.Equal(4500, lines.Charge);
        Assert.Equal(3000, lines.Net);
        Assert.Equal(15 * 86_400, lines.UnusedSeconds);
        Assert.Equal(30 * 86_400, lines.PeriodSeconds);
    }

    [Fact]
    public void DowngradeAtTheMiddle_NetsACredit()
    {
        var lines = Proration.For(9000, 3000, Start, End, Start.AddDays(15));
        Assert.Equal((4500, 1500, -3000), (lines.Credit, lines.Charge, lines.Net));
    }

    [Fact]
    public void EachLineIsRoundedOnceHalfAwayFromZero_FromWholeSeconds()
    {
        // 1 of 3 days left: 100 × 1/3 = 33.33 → 33 and 200 × 1/3 = 66.67 → 67; a sub-second part of the change time is dropped.
        var threeDays = Proration.For(100, 200, Start, Start.AddDays(3), Start.AddDays(2).AddMilliseconds(999));
        Assert.Equal((33, 67), (threeDays.Credit, threeDays.Charge));
        Assert.Equal(86_400, threeDays.UnusedSeconds);
        // exactly half of an odd amount: 1 × 1/2 = 0.5 → 1; 3 × 1/2 = 1.5 → 2
        var half = Proration.For(1, 3, Start, Start.AddSeconds(2), Start.AddSeconds(1));
        Assert.Equal((1, 2), (half.Credit, half.Charge));
    }

    [Fact]
    public void ChangeAtThePeriodStart_IsTheWholePrice_AndOneSecondBeforeTheEnd_IsTheLastSecondsShare()
    {
        Assert.Equal((3000, 9000), (Proration.For(3000, 9000, Start, End, Start).Credit, Proration.For(3000, 9000, Start, End, Start).Charge));
        var last = Proration.For(3000, 9000, Start, End, End.AddSeconds(-1));
        Assert.Equal((0, 0), (last.Credit, last.Charge));   // 3000 / 2,592,000 s < half a fen
    }

    [Fact]
    public void ChangeOutsideThePeriod_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Proration.For(3000, 9000, Start, End, End));
        Assert.Throws<ArgumentOutOfRangeException>(() => Proration.For(3000, 9000, Start, End, Start.AddSeconds(-1)));
    }

    [Fact]
    public void CreditGrantedThenSpent_EachJournalBalances_AndEveryAccountNetsToZero()
    {
        var granted = CreditBalance.Granted("cus_1", "cr_1", "CNY", 3000, 7000);
        var applied = CreditBalance.Applied("cus_1", "cr_1", "CNY", 3000, 7000);
        Assert.Equal(0, granted.Sum(p => p.Amount));
        Assert.Equal(0, applied.Sum(p => p.Amount));
        Assert.Equal(-3000, granted.Single(p => p.Account == Accounts.CustomerCredit("cus_1", "CNY")).Amount);
        Assert.Equal(2100, granted.Single(p => p.Account == Accounts.CreatorPending("cr_1", "CNY")).Amount);
        Assert.Equal(900, granted.Single(p => p.Account == Accounts.PlatformRevenue("CNY")).Amount);
        Assert.All(granted.Concat(applied).GroupBy(p => p.Account), g => Assert.Equal(0, g.Sum(p => p.Amount)));
    }
}
