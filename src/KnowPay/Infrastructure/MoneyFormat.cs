using System.Globalization;
using KnowPay.Domain;

namespace KnowPay.Infrastructure;

/// <summary>
/// An amount as the checkout and dashboard show it. The rule (README, "Languages"): exactly the currency's minor-unit
/// digits (<see cref="Currency.MinorUnits"/>; never rounded), thousands grouped with ",", "." before the decimals;
/// the locale's home currency (zh-CN: CNY, en: USD) as symbol and amount (¥99.00, $15.00), every other currency as
/// amount and ISO code (99.00 CNY in en, 15.00 USD in zh-CN, 2,000 JPY) — ¥ alone would not tell CNY from JPY.
/// </summary>
public static class MoneyFormat
{
    static readonly Dictionary<string, (string Currency, string Symbol)> HomeCurrency = new(StringComparer.OrdinalIgnoreCase)
    {
        ["zh"] = ("CNY", "¥"),
        ["en"] = ("USD", "$"),
    };

    public static string Format(Money money, CultureInfo culture) => Format(money.MinorUnits, money.Currency.Code, culture);

    /// <summary>Minor units as decimal, so a dashboard sum past <see cref="long.MaxValue"/> still formats exactly.</summary>
    public static string Format(decimal minorUnits, string currency, CultureInfo culture)
    {
        if (!Currency.TryFind(currency, out var c)) return $"{minorUnits.ToString(CultureInfo.InvariantCulture)} {currency}";
        var digits = (Math.Abs(minorUnits) / Pow10(c.MinorUnits)).ToString("N" + c.MinorUnits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var sign = minorUnits < 0 ? "-" : "";
        return HomeCurrency.TryGetValue(Language(culture), out var home) && home.Currency == c.Code
            ? $"{sign}{home.Symbol}{digits}"
            : $"{sign}{digits} {c.Code}";
    }

    static string Language(CultureInfo culture) => culture.Name.Split('-')[0];

    static decimal Pow10(int n)
    {
        var r = 1m;
        for (var i = 0; i < n; i++) r *= 10;
        return r;
    }
}
