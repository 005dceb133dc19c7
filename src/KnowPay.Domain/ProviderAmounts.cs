namespace KnowPay.Domain;

/// <summary>
/// An amount as one provider wants it on the wire: the provider's own exponent for the currency, which may differ from
/// ISO 4217's (PROVIDERS.md, "Cross-border and currencies"). Every adapter converts through here, never by a decimal
/// guess: an amount with digits the provider cannot carry is refused, never rounded.
/// </summary>
public static class ProviderAmounts
{
    // Stripe: MGA is zero-decimal (ISO 2); ISK and UGX are sent × 100, ending in 00 (ISO 0).
    // PayPal: HUF, JPY and TWD take no decimals (ISO 2, 0, 2).
    static readonly Dictionary<string, Dictionary<string, int>> Overrides = new(StringComparer.Ordinal)
    {
        ["stripe"] = new(StringComparer.Ordinal) { ["MGA"] = 0, ["ISK"] = 2, ["UGX"] = 2 },
        ["paypal"] = new(StringComparer.Ordinal) { ["HUF"] = 0, ["JPY"] = 0, ["TWD"] = 0 },
    };

    // PayPal's REST API takes only the currencies of its published list ("Currency codes"); anything else is refused there.
    // Alipay's page, wap and app pay and precreate take a CNY total_amount (trans_currency exists only on alipay.trade.pay).
    static readonly Dictionary<string, HashSet<string>> Carried = new(StringComparer.Ordinal)
    {
        ["alipay"] = new(StringComparer.Ordinal) { "CNY" },
        ["paypal"] = new(StringComparer.Ordinal)
        {
            "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN", "TWD", "NZD", "NOK", "PHP",
            "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
        },
    };

    /// <summary>False when the provider is known to refuse the currency outright; a provider without a list takes any.</summary>
    public static bool Carries(string provider, Currency currency) =>
        !Carried.TryGetValue(provider, out var codes) || codes.Contains(currency.Code);

    /// <summary>The digits after the decimal point that <paramref name="provider"/> uses for the currency.</summary>
    public static int Exponent(string provider, Currency currency) =>
        Overrides.TryGetValue(provider, out var own) && own.TryGetValue(currency.Code, out var e) ? e : currency.MinorUnits;

    /// <summary>True when the provider can carry the amount exactly (HUF 123.45 cannot go to PayPal).</summary>
    public static bool Fits(string provider, Money money) => TryToProviderUnits(provider, money, out _);

    /// <summary>The integer the provider's API takes (Stripe's <c>amount</c>, WeChat Pay's <c>total</c>).</summary>
    public static bool TryToProviderUnits(string provider, Money money, out long units)
    {
        var shift = Exponent(provider, money.Currency) - money.Currency.MinorUnits;
        units = 0;
        if (shift >= 0)
        {
            try { units = checked(money.MinorUnits * Pow10(shift)); }
            catch (OverflowException) { return false; }
            return true;
        }
        var scale = Pow10(-shift);
        if (money.MinorUnits % scale != 0) return false;
        units = money.MinorUnits / scale;
        return true;
    }

    /// <summary>The provider's integer for an amount already checked with <see cref="Fits"/>.</summary>
    public static long ToProviderUnits(string provider, Money money) =>
        TryToProviderUnits(provider, money, out var units) ? units
            : throw new ArgumentException($"{money} does not fit {provider}'s exponent {Exponent(provider, money.Currency)}", nameof(money));

    /// <summary>The provider's decimal string in major units (PayPal's <c>value</c>, Alipay's <c>total_amount</c>).</summary>
    public static string ToProviderDecimal(string provider, Money money)
    {
        var units = ToProviderUnits(provider, money);
        return new Money(units, money.Currency with { MinorUnits = Exponent(provider, money.Currency) }).ToDecimalString();
    }

    /// <summary>A provider's integer back in ISO minor units; false when it has digits ISO's exponent has not (UGX from Stripe not ending in 00).</summary>
    public static bool TryFromProviderUnits(string provider, long units, Currency currency, out Money money)
    {
        money = default;
        var shift = Exponent(provider, currency) - currency.MinorUnits;
        if (shift <= 0)
        {
            try { money = new Money(checked(units * Pow10(-shift)), currency); }
            catch (OverflowException) { return false; }
            return true;
        }
        var scale = Pow10(shift);
        if (units % scale != 0) return false;
        money = new Money(units / scale, currency);
        return true;
    }

    /// <summary>A provider's decimal string back in ISO minor units (any exponent up to ISO's parses exactly).</summary>
    public static bool TryFromProviderDecimal(string? text, Currency currency, out Money money) =>
        Money.TryParseDecimal(text, currency, out money);

    static long Pow10(int n)
    {
        long r = 1;
        for (var i = 0; i < n; i++) r = checked(r * 10);
        return r;
    }
}
