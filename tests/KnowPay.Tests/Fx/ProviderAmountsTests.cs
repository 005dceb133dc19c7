using CsCheck;
using KnowPay.Domain;

namespace KnowPay.Tests.Fx;

public sealed class ProviderAmountsTests
{
    [Fact]
    public void CurrencyTable_ComesFromSixListOne_WithNumericCodes_AndKnowsWithdrawnCodes()
    {
        Assert.Equal(156, Currency.Of("CNY").Numeric);
        Assert.Equal(414, Currency.Of("KWD").Numeric);
        Assert.Equal(800, Currency.Of("UGX").Numeric);
        Assert.Equal(0, Currency.Of("UGX").MinorUnits);
        Assert.False(Currency.TryFind("HRK", out _));
        Assert.True(Currency.IsWithdrawn("hrk"));
        Assert.False(Currency.IsWithdrawn("ABC"));
        Assert.False(Currency.IsWithdrawn("EUR"));
    }

    [Theory]
    // Stripe: ISO minor units except MGA (zero-decimal, ISO 2) and ISK/UGX (× 100, ISO 0).
    [InlineData("stripe", 500, "JPY", 500L, "500")]
    [InlineData("stripe", 1234, "KWD", 1234L, "1.234")]
    [InlineData("stripe", 5000, "UGX", 500000L, "5000.00")]
    [InlineData("stripe", 990, "ISK", 99000L, "990.00")]
    [InlineData("stripe", 12300, "MGA", 123L, "123")]
    [InlineData("stripe", 1999, "USD", 1999L, "19.99")]
    // PayPal: HUF, JPY and TWD without decimals.
    [InlineData("paypal", 10000, "HUF", 100L, "100")]
    [InlineData("paypal", 500, "JPY", 500L, "500")]
    [InlineData("paypal", 1999, "USD", 1999L, "19.99")]
    [InlineData("alipay", 9900, "CNY", 9900L, "99.00")]
    [InlineData("wechatpay", 9900, "CNY", 9900L, "99.00")]
    public void AnAmount_ReachesTheProvider_InItsOwnExponent(string provider, long minor, string currency, long units, string text)
    {
        var money = new Money(minor, Currency.Of(currency));
        Assert.Equal(units, ProviderAmounts.ToProviderUnits(provider, money));
        Assert.Equal(text, ProviderAmounts.ToProviderDecimal(provider, money));
        Assert.True(ProviderAmounts.TryFromProviderUnits(provider, units, money.Currency, out var back));
        Assert.Equal(money, back);
    }

    [Theory]
    [InlineData("paypal", 12345, "HUF")]   // 123.45 HUF: PayPal takes whole forints only
    [InlineData("paypal", 1001, "TWD")]
    [InlineData("stripe", 12345, "MGA")]
    public void AnAmount_WithDigitsTheProviderCannotCarry_IsRefused_NeverRounded(string provider, long minor, string currency)
    {
        var money = new Money(minor, Currency.Of(currency));
        Assert.False(ProviderAmounts.Fits(provider, money));
        Assert.Throws<ArgumentException>(() => ProviderAmounts.ToProviderUnits(provider, money));
    }

    [Fact]
    public void UgxFromStripe_NotEndingIn00_IsNotAnIsoAmount() =>
        Assert.False(ProviderAmounts.TryFromProviderUnits("stripe", 500050, Currency.Of("UGX"), out _));

    [Fact]
    public void EveryCurrency_RoundTripsThroughEveryProvider_WhenItFits() =>
        Gen.Select(Gen.Long[0, 1_000_000_000_000], Gen.Int[0, Currency.All.Count - 1], Gen.Int[0, 3].Select(k => new[] { "stripe", "paypal", "alipay", "wechatpay" }[k]))
            .Sample((minor, i, provider) =>
            {
                var money = new Money(minor, Currency.All.ElementAt(i));
                if (!ProviderAmounts.TryToProviderUnits(provider, money, out var units)) return;
                Assert.True(ProviderAmounts.TryFromProviderUnits(provider, units, money.Currency, out var back));
                Assert.Equal(money, back);
                Assert.True(Money.TryParseDecimal(ProviderAmounts.ToProviderDecimal(provider, money), money.Currency, out var parsed));
                Assert.Equal(money, parsed);
            });
}
