namespace KnowPay.Domain;

/// <summary>
/// ISO 4217 as kept in <c>Iso4217.csv</c> (SIX's list one; its header names the edition). The one source of minor-unit
/// exponents: codes whose minor unit is "N.A." (precious metals, XDR, test codes) are not money KnowPay can take and are
/// left out; withdrawn codes are only remembered, to be refused by name.
/// </summary>
internal static class CurrencyTable
{
    static readonly (IReadOnlyDictionary<string, Currency> Active, IReadOnlySet<string> Withdrawn) Rows = Load();

    internal static IReadOnlyDictionary<string, Currency> ByCode => Rows.Active;
    internal static IReadOnlySet<string> Withdrawn => Rows.Withdrawn;

    static (IReadOnlyDictionary<string, Currency>, IReadOnlySet<string>) Load()
    {
        using var stream = typeof(CurrencyTable).Assembly.GetManifestResourceStream("KnowPay.Domain.Iso4217.csv")
            ?? throw new InvalidOperationException("Iso4217.csv is not embedded");
        using var reader = new StreamReader(stream);
        var active = new Dictionary<string, Currency>(StringComparer.Ordinal);
        var withdrawn = new HashSet<string>(StringComparer.Ordinal);
        var header = true;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            if (header) { header = false; continue; }
            var f = line.Split(',');
            if (f[3] == "withdrawn") withdrawn.Add(f[0]);
            else if (int.TryParse(f[2], System.Globalization.CultureInfo.InvariantCulture, out var minor))
                active.TryAdd(f[0], new Currency(f[0], minor) { Numeric = int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture) });
        }
        return (active, withdrawn);
    }
}
