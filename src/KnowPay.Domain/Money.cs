using System.Globalization;

namespace KnowPay.Domain;

/// <summary>An amount in integer minor units of a currency. Never a double; decimal only at the edge.</summary>
public readonly record struct Money(long MinorUnits, Currency Currency)
{
    public static Money Zero(Currency currency) => new(0, currency);

    /// <summary>The provider's decimal string ("99.00" for 9900 CNY, "500" for 500 JPY, "1.234" for 1234 KWD).</summary>
    public string ToDecimalString()
    {
        if (Currency.MinorUnits == 0) return MinorUnits.ToString(CultureInfo.InvariantCulture);
        var scale = Pow10(Currency.MinorUnits);
        var sign = MinorUnits < 0 ? "-" : "";
        var abs = Math.Abs(MinorUnits);
        return sign + (abs / scale).ToString(CultureInfo.InvariantCulture) + "." +
               (abs % scale).ToString(CultureInfo.InvariantCulture).PadLeft(Currency.MinorUnits, '0');
    }

    /// <summary>Parses a provider decimal string exactly; more decimals than the currency has is an error, never rounded.</summary>
    public static bool TryParseDecimal(string? text, Currency currency, out Money money)
    {
        money = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            return false;
        return TryFromDecimal(value, currency, out money);
    }

    /// <summary>Converts a major-unit decimal to minor units when it has no more decimals than the currency allows.</summary>
    public static bool TryFromDecimal(decimal value, Currency currency, out Money money)
    {
        money = default;
        var scaled = value * Pow10(currency.MinorUnits);
        if (scaled != decimal.Truncate(scaled)) return false;
        if (scaled > long.MaxValue || scaled < long.MinValue) return false;
        money = new Money((long)scaled, currency);
        return true;
    }

    public decimal ToDecimal() => (decimal)MinorUnits / Pow10(Currency.MinorUnits);

    public static Money operator +(Money a, Money b) => new(checked(a.MinorUnits + b.Same(a).MinorUnits), a.Currency);
    public static Money operator -(Money a, Money b) => new(checked(a.MinorUnits - b.Same(a).MinorUnits), a.Currency);

    Money Same(Money other) =>
        other.Currency == Currency ? this : throw new InvalidOperationException($"currency mismatch {Currency} vs {other.Currency}");

    static long Pow10(int n)
    {
        long r = 1;
        for (var i = 0; i < n; i++) r *= 10;
        return r;
    }

    public override string ToString() => $"{ToDecimalString()} {Currency.Code}";
}
