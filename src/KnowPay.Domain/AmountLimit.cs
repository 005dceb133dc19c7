namespace KnowPay.Domain;

/// <summary>
/// The largest amount one price, order, refund or payout may carry, set in major units and the same for every currency
/// (10,000,000.00 CNY = 1,000,000,000 minor units, 10,000,000 JPY = 10,000,000). Bounded so that sums of many amounts
/// stay far inside a 64-bit integer: no single merchant's prices can overflow a balance.
/// </summary>
public readonly record struct AmountLimit(long MaxMajorUnits)
{
    public const long DefaultMaxMajorUnits = 10_000_000;

    /// <summary>The ceiling for <see cref="MaxMajorUnits"/>: times 10^4 (the largest minor-unit exponent) it still leaves room for 90,000 such amounts in a long.</summary>
    public const long CeilingMajorUnits = 10_000_000_000;

    public static AmountLimit Default => new(DefaultMaxMajorUnits);

    /// <summary>The limit in the currency's minor units.</summary>
    public long MaxMinorUnits(Currency currency)
    {
        var max = MaxMajorUnits;
        for (var i = 0; i < currency.MinorUnits; i++) max = checked(max * 10);
        return max;
    }

    /// <summary>True when the amount (minor units) is within the limit; a non-positive amount is another rule's business.</summary>
    public bool Allows(long amount, Currency currency) => amount <= MaxMinorUnits(currency);

    /// <summary>The same for an amount read as a decimal, before it is known to fit a long.</summary>
    public bool Allows(decimal amount, Currency currency) => amount <= MaxMinorUnits(currency);

    /// <summary>"amount is at most 1000000000 (10000000.00 CNY)": the detail of an <c>amount_too_large</c> answer.</summary>
    public string Describe(Currency currency)
    {
        var max = MaxMinorUnits(currency);
        return $"amount is at most {max} minor units ({new Money(max, currency).ToDecimalString()} {currency.Code}).";
    }

    /// <summary>A database sum (computed in numeric/decimal) as minor units; false when it does not fit a long.</summary>
    public static bool TryToMinorUnits(decimal sum, out long minorUnits)
    {
        minorUnits = 0;
        if (sum != decimal.Truncate(sum) || sum > long.MaxValue || sum < long.MinValue) return false;
        minorUnits = (long)sum;
        return true;
    }
}
