using System.Globalization;
using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Tests.Localization;

public sealed class MoneyFormatTests
{
    static readonly CultureInfo Zh = new("zh-CN"), En = new("en");

    [Theory]
    [InlineData("zh-CN", 9900, "CNY", "¥99.00")]          // the locale's home currency: symbol only
    [InlineData("en", 9900, "CNY", "99.00 CNY")]           // any other: amount and ISO code
    [InlineData("en", 1500, "USD", "$15.00")]
    [InlineData("zh-CN", 1500, "USD", "15.00 USD")]
    [InlineData("en", 2000, "JPY", "2,000 JPY")]            // JPY has no minor unit: no decimals
    [InlineData("zh-CN", 2000, "JPY", "2,000 JPY")]         // ¥ alone would read as CNY
    [InlineData("zh-CN", 129900, "CNY", "¥1,299.00")]
    [InlineData("en", 1234567, "KWD", "1,234.567 KWD")]     // three-digit minor unit
    [InlineData("en", 1, "EUR", "0.01 EUR")]
    [InlineData("zh-CN", -500, "CNY", "-¥5.00")]
    [InlineData("en", -205, "USD", "-$2.05")]
    [InlineData("en", 0, "CNY", "0.00 CNY")]
    public void Format_FollowsTheRuleInTheReadme(string culture, long minor, string currency, string expected) =>
        Assert.Equal(expected, MoneyFormat.Format(new Money(minor, Currency.Of(currency)), new CultureInfo(culture)));

    [Fact]
    public void Format_TakesTheLanguageOfARegionalCulture_AndKeepsAnUnknownCurrencyAsGiven()
    {
        Assert.Equal("¥99.00", MoneyFormat.Format(9900, "CNY", new CultureInfo("zh-TW")));
        Assert.Equal("$15.00", MoneyFormat.Format(1500, "usd", new CultureInfo("en-GB")));
        Assert.Equal("123 ABC", MoneyFormat.Format(123, "ABC", En));
    }

    [Fact]
    public void Format_IsExactPastLongMaxValue_ForDashboardSums()
    {
        var sum = (decimal)long.MaxValue + long.MaxValue;
        Assert.Equal("¥184,467,440,737,095,516.14", MoneyFormat.Format(sum, "CNY", Zh));
    }

    [Fact]
    public void Format_UsesTheCurrencyTablesExponent_ForEveryCurrency()
    {
        foreach (var c in Currency.All)
        {
            var text = MoneyFormat.Format(new Money(1, c), En);
            var digits = text.Split(' ')[0].TrimStart('$');
            Assert.Equal(c.MinorUnits == 0 ? "1" : "0." + new string('0', c.MinorUnits - 1) + "1", digits);
        }
    }
}
