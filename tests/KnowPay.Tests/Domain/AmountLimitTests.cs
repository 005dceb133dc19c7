using KnowPay.Domain;

namespace KnowPay.Tests.Domain;

public sealed class AmountLimitTests
{
    [Theory]
    [InlineData("CNY", 1_000_000_000L)]
    [InlineData("JPY", 10_000_000L)]
    [InlineData("KWD", 10_000_000_000L)]
    [InlineData("CLF", 100_000_000_000L)]
    public void MaxMinorUnits_ScalesTheMajorUnitLimitByTheCurrencyExponent(string currency, long expected) =>
        Assert.Equal(expected, AmountLimit.Default.MaxMinorUnits(Currency.Of(currency)));

    [Fact]
    public void Allows_TheLimitItself_AndRefusesOneMinorUnitMore()
    {
        var cny = Currency.Of("CNY");
        Assert.True(AmountLimit.Default.Allows(1_000_000_000L, cny));
        Assert.False(AmountLimit.Default.Allows(1_000_000_001L, cny));
        Assert.False(AmountLimit.Default.Allows(4_611_686_018_427_387_903L, cny));
        Assert.False(AmountLimit.Default.Allows(long.MaxValue, cny));
        Assert.False(AmountLimit.Default.Allows(decimal.MaxValue, cny));
    }

    [Fact]
    public void TheCeilingTimesTheLargestExponent_LeavesRoomForManyAmountsInALong()
    {
        var max = new AmountLimit(AmountLimit.CeilingMajorUnits).MaxMinorUnits(Currency.All.MaxBy(c => c.MinorUnits)!);
        Assert.True(long.MaxValue / max >= 90_000);
    }

    [Fact]
    public void Describe_NamesTheLimitInMinorAndMajorUnits() =>
        Assert.Equal("amount is at most 1000000000 minor units (10000000.00 CNY).", AmountLimit.Default.Describe(Currency.Of("CNY")));

    [Fact]
    public void TryToMinorUnits_RefusesSumsBeyondALong()
    {
        Assert.True(AmountLimit.TryToMinorUnits(-42m, out var small));
        Assert.Equal(-42, small);
        Assert.True(AmountLimit.TryToMinorUnits(long.MaxValue, out var max));
        Assert.Equal(long.MaxValue, max);
        Assert.False(AmountLimit.TryToMinorUnits(3m * 4_611_686_018_427_387_903L, out _));
        Assert.False(AmountLimit.TryToMinorUnits((decimal)long.MinValue - 1, out _));
    }
}
