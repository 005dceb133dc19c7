namespace KnowPay.Sandbox;

/// <summary>
/// The exchange rates every simulated provider quotes: one mid-rate table (CNY per unit) and a spread against whoever converts,
/// as a real provider's rate is never the mid rate. A merchant's settlement gets the mid rate less the spread; a learner paying
/// in their own currency pays the mid rate plus it. Rates have 8 decimals (WeChat Pay states them as an integer ratio × 10^8).
/// </summary>
public static class SandboxFx
{
    public const int SpreadBps = 50;

    /// <summary>Mid rates in CNY per major unit and each currency's minor-unit digits (ISO 4217).</summary>
    static readonly Dictionary<string, (decimal CnyPerUnit, int Exponent)> Table = new(StringComparer.Ordinal)
    {
        ["CNY"] = (1m, 2), ["USD"] = (7.1000m, 2), ["EUR"] = (7.7000m, 2), ["GBP"] = (9.0000m, 2), ["HKD"] = (0.9100m, 2),
        ["JPY"] = (0.0480m, 0), ["SGD"] = (5.3000m, 2), ["AUD"] = (4.7000m, 2), ["KWD"] = (23.1000m, 3),
    };

    public static bool Supports(string? currency) => currency is not null && Table.ContainsKey(currency);

    /// <summary>Units of <paramref name="to"/> the merchant is credited per unit of <paramref name="from"/>.</summary>
    public static decimal SettlementRate(string from, string to) => Rate(from, to, -SpreadBps);

    /// <summary>Units of <paramref name="to"/> a learner pays per unit of <paramref name="from"/>.</summary>
    public static decimal PayerRate(string from, string to) => Rate(from, to, SpreadBps);

    /// <summary>Minor units of <paramref name="from"/> converted at <paramref name="rate"/> into minor units of <paramref name="to"/>, rounded half away from zero.</summary>
    public static long Convert(long minorUnits, string from, string to, decimal rate) =>
        (long)Math.Round(minorUnits * rate * Pow10(Table[to].Exponent) / Pow10(Table[from].Exponent), 0, MidpointRounding.AwayFromZero);

    /// <summary>A decimal string of minor units in the currency's own digits ("12.34", "1234" for JPY, "1.234" for KWD).</summary>
    public static string Major(long minorUnits, string currency) =>
        (minorUnits / Pow10(Table[currency].Exponent)).ToString("F" + Table[currency].Exponent.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    public static bool TryMinor(string? major, string currency, out long minorUnits)
    {
        minorUnits = 0;
        if (!Table.TryGetValue(currency, out var c) || !decimal.TryParse(major, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)) return false;
        var scaled = value * Pow10(c.Exponent);
        if (scaled != decimal.Truncate(scaled) || scaled <= 0 || scaled > long.MaxValue) return false;
        minorUnits = (long)scaled;
        return true;
    }

    static decimal Rate(string from, string to, int spreadBps)
    {
        if (from == to) return 1m;
        var mid = Table[from].CnyPerUnit / Table[to].CnyPerUnit;
        return Math.Round(mid * (10_000 + spreadBps) / 10_000, 8, MidpointRounding.ToZero);
    }

    static decimal Pow10(int exponent) => exponent switch { 0 => 1m, 1 => 10m, 2 => 100m, 3 => 1000m, _ => (decimal)Math.Pow(10, exponent) };
}
