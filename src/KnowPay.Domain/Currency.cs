namespace KnowPay.Domain;

/// <summary>An ISO 4217 currency and the number of digits of its minor unit (CNY 2, JPY 0, KWD 3).</summary>
public sealed record Currency(string Code, int MinorUnits)
{
    /// <summary>The ISO 4217 numeric code (156 for CNY).</summary>
    public int Numeric { get; init; }

    /// <summary>An active ISO 4217 currency that is money (a minor unit is defined); withdrawn and unknown codes are not found.</summary>
    public static bool TryFind(string? code, out Currency currency)
    {
        if (code is not null && CurrencyTable.ByCode.TryGetValue(code.ToUpperInvariant(), out var found))
        {
            currency = found;
            return true;
        }
        currency = null!;
        return false;
    }

    /// <summary>True for a code ISO 4217 withdrew (HRK, MRO, …): refused with its own code rather than "unknown".</summary>
    public static bool IsWithdrawn(string? code) => code is not null && CurrencyTable.Withdrawn.Contains(code.ToUpperInvariant());

    public static Currency Of(string code) =>
        TryFind(code, out var c) ? c : throw new ArgumentException($"unknown currency '{code}'", nameof(code));

    public static IReadOnlyCollection<Currency> All => (IReadOnlyCollection<Currency>)CurrencyTable.ByCode.Values;

    public override string ToString() => Code;
}
