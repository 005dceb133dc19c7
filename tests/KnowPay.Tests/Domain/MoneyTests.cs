using CsCheck;
using KnowPay.Domain;

namespace KnowPay.Tests.Domain;

public sealed class MoneyTests
{
    [Theory]
    [InlineData("CNY", 2)]
    [InlineData("USD", 2)]
    [InlineData("JPY", 0)]
    [InlineData("KRW", 0)]
    [InlineData("KWD", 3)]
    [InlineData("BHD", 3)]
    [InlineData("CLF", 4)]
    [InlineData("eur", 2)]
    public void CurrencyTable_HasIsoMinorUnits(string code, int minor) => Assert.Equal(minor, Currency.Of(code).MinorUnits);

    [Fact]
    public void CurrencyTable_IsTheFullIsoList_AndRefusesUnknownCodes()
    {
        Assert.True(Currency.All.Count >= 150);
        Assert.False(Currency.TryFind("XAU", out _)); // gold has no minor unit: not money we take
        Assert.False(Currency.TryFind("ABC", out _));
        Assert.False(Currency.TryFind(null, out _));
    }

    [Theory]
    [InlineData(9900, "CNY", "99.00")]
    [InlineData(1, "CNY", "0.01")]
    [InlineData(500, "JPY", "500")]
    [InlineData(1234, "KWD", "1.234")]
    [InlineData(-205, "USD", "-2.05")]
    [InlineData(0, "EUR", "0.00")]
    public void ToDecimalString_UsesTheCurrencyExponent(long minor, string currency, string expected) =>
        Assert.Equal(expected, new Money(minor, Currency.Of(currency)).ToDecimalString());

    [Theory]
    [InlineData("99.00", "CNY", 9900)]
    [InlineData("99.5", "CNY", 9950)]
    [InlineData("500", "JPY", 500)]
    [InlineData("1.234", "KWD", 1234)]
    public void TryParseDecimal_IsExact(string text, string currency, long expected)
    {
        Assert.True(Money.TryParseDecimal(text, Currency.Of(currency), out var money));
        Assert.Equal(expected, money.MinorUnits);
    }

    [Theory]
    [InlineData("99.001", "CNY")]
    [InlineData("500.5", "JPY")]
    [InlineData("1.2345", "KWD")]
    [InlineData("abc", "CNY")]
    [InlineData("", "CNY")]
    [InlineData("1e3", "CNY")]
    public void TryParseDecimal_RefusesMoreDecimalsThanTheCurrencyHas_NeverRounds(string text, string currency) =>
        Assert.False(Money.TryParseDecimal(text, Currency.Of(currency), out _));

    [Fact]
    public void DecimalStringRoundTrip_Property() =>
        Gen.Select(Gen.Long[-1_000_000_000_000, 1_000_000_000_000], Gen.Int[0, Currency.All.Count - 1].Select(i => Currency.All.ElementAt(i)))
            .Sample((minor, currency) =>
            {
                var money = new Money(minor, currency);
                return Money.TryParseDecimal(money.ToDecimalString(), currency, out var back) && back == money;
            });

    [Fact]
    public void Addition_RefusesMixedCurrencies() =>
        Assert.Throws<InvalidOperationException>(() => new Money(1, Currency.Of("CNY")) + new Money(1, Currency.Of("USD")));

    [Fact]
    public void LargestRemainder_PartsAlwaysSumToTheWhole_AndStayWithinOneOfTheExactShare_Property() =>
        Gen.Select(Gen.Long[0, 10_000_000_000], Gen.Long[0, 100_000].Array[1, 8])
            .Where((_, w) => w.Sum() > 0)
            .Sample((total, weights) =>
            {
                var parts = Allocation.LargestRemainder(total, weights);
                var sum = weights.Sum();
                return parts.Sum() == total && parts.Select((p, i) =>
                {
                    var exact = (decimal)total * weights[i] / sum;
                    return p >= Math.Floor(exact) && p <= Math.Floor(exact) + 1;
                }).All(ok => ok);
            });

    [Fact]
    public void LargestRemainder_GivesLeftoverUnitsToLargestRemainders_TiesToTheEarlierPart()
    {
        Assert.Equal([34, 33, 33], Allocation.LargestRemainder(100, [1, 1, 1]));
        Assert.Equal([1, 0], Allocation.LargestRemainder(1, [5000, 5000]));
        Assert.Equal([6930, 2970], Allocation.LargestRemainder(9900, [7000, 3000]));
    }

    [Fact]
    public void RevenueSplit_CreatorPlatformAndFeeSumToTheAmount_Property() =>
        Gen.Select(Gen.Long[0, 100_000_000], Gen.Int[0, 10_000], Gen.Int[0, 1000], Gen.Long[0, 500])
            .Sample((amount, share, feeBps, feeFixed) =>
            {
                var split = RevenueSplit.For(amount, share, new ProviderFee(feeBps, feeFixed));
                return split.Creator + split.Platform + split.Fee == amount && split.Fee <= amount && split.Creator >= 0 && split.Fee >= 0;
            });

    [Fact]
    public void RevenueSplit_FeeRoundsHalfAwayFromZero_AndComesOutOfThePlatformShare()
    {
        // 9900 × 0.6 % = 59.4 → 59; creator 70 % of gross = 6930; platform = 9900 − 6930 − 59.
        Assert.Equal(new RevenueSplit(6930, 2911, 59), RevenueSplit.For(9900, 7000, new ProviderFee(60, 0)));
        // 250 × 0.6 % = 1.5 → 2 (half away from zero), plus fixed 30.
        Assert.Equal(32, RevenueSplit.For(250, 5000, new ProviderFee(60, 30)).Fee);
    }

    [Fact]
    public void RefundSplit_PartialRefundsInAnyOrderReturnExactlyTheCreatorsShare_Property() =>
        Gen.Select(Gen.Long[1, 10_000_000], Gen.Int[0, 10_000], Gen.Int[1, 6])
            .Sample((amount, share, parts) =>
            {
                var pieces = Allocation.LargestRemainder(amount, Enumerable.Repeat(1L, parts).ToArray());
                long before = 0, creator = 0;
                foreach (var piece in pieces)
                {
                    creator += RefundSplit.CreatorPart(before, piece, share);
                    before += piece;
                }
                return creator == RevenueSplit.For(amount, share, ProviderFee.None).Creator;
            });

    [Fact]
    public void Ids_ArePrefixedAndTimeSortable()
    {
        var ids = Enumerable.Range(0, 200).Select(_ => Ids.New("ord")).ToList();
        Assert.All(ids, id => Assert.Matches("^ord_[0-9a-hjkmnp-tv-z]{26}$", id));
        Assert.Equal(ids.Order(StringComparer.Ordinal), ids);
    }
}
