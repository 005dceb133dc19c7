namespace KnowPay.Domain;

/// <summary>ISO 4217 active currencies with their minor-unit exponents.</summary>
internal static class CurrencyTable
{
    internal static readonly IReadOnlyDictionary<string, Currency> ByCode = new (string Code, int Minor)[]
    {
        ("CNY", 2), ("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("GBP", 2), ("HKD", 2),
    }.ToDictionary(x => x.Code, x => new Currency(x.Code, x.Minor), StringComparer.Ordinal);
}
