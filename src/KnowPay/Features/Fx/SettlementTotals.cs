using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Fx;

/// <summary>Money as of a time: <see cref="MinorUnits"/> of <see cref="Currency"/>, summed in decimal so large sums stay exact.</summary>
public sealed record DatedAmount(decimal MinorUnits, string Currency, DateTime At);

/// <summary>A currency left out of a converted total, and the UTC days that had no stored rate to the settlement currency.</summary>
public sealed record UnconvertedCurrency(string Currency, IReadOnlyList<DateOnly> Days);

/// <summary>
/// A total in the merchant's settlement currency: <see cref="Amount"/> minor units of <see cref="Currency"/>, the sum of
/// <see cref="Converted"/> currencies at each day's rate (from <see cref="Sources"/>); <see cref="Unconverted"/> are not in it.
/// </summary>
public sealed record SettlementTotal(string Currency, decimal Amount, IReadOnlyList<string> Converted, IReadOnlyList<string> Sources,
    IReadOnlyList<UnconvertedCurrency> Unconverted);

/// <summary>The stored daily rates (FxDailyRate) of some UTC days: the merchant's manual table and the ECB's, per day.</summary>
public sealed class DailyRates(IReadOnlyDictionary<DateOnly, (List<SourceRate> Manual, List<SourceRate> Euro)> byDay)
{
    public static async Task<DailyRates> ReadAsync(KnowPayDb db, string merchantId, IEnumerable<DateOnly> days, CancellationToken ct)
    {
        var wanted = days.Distinct().ToList();
        var rows = wanted.Count == 0 ? [] : await db.FxDailyRates.AsNoTracking()
            .Where(r => wanted.Contains(r.Day) && (r.MerchantId == merchantId && r.Source == FxQuotes.ManualSource ||
                                                   r.MerchantId == "" && r.Source == FxQuotes.EcbSource && r.Base == "EUR"))
            .ToListAsync(ct);
        return new(rows.GroupBy(r => r.Day).ToDictionary(g => g.Key, g => (
            g.Where(r => r.Source == FxQuotes.ManualSource).Select(r => new SourceRate(r.Base, r.Quote, r.Rate, r.AsOf)).ToList(),
            g.Where(r => r.Source == FxQuotes.EcbSource).Select(r => new SourceRate(r.Base, r.Quote, r.Rate, r.AsOf)).ToList())));
    }

    /// <summary>That day's mid rate from→to, as a quote would pick it (manual first, else the ECB crossed through EUR); none = no rate.</summary>
    public (decimal Mid, string? Source)? Mid(DateOnly day, string from, string to) =>
        byDay.TryGetValue(day, out var rates) && FxQuotes.Mid(rates.Manual, rates.Euro, from, to) is ({ } mid, _, { } source) ? (mid, source) : null;
}

/// <summary>
/// Totals in the merchant's settlement currency: each (currency, UTC day) sum × that day's mid rate (no markup: a report,
/// not a price), added in decimal and rounded once, half away from zero, to the settlement currency's minor unit. A currency
/// with any day lacking a rate is left out whole and named, never converted at another day's rate.
/// </summary>
public static class SettlementTotals
{
    /// <summary>Null when nothing is in another currency than <paramref name="settlement"/> (the per-currency total says it all).</summary>
    public static SettlementTotal? Convert(IReadOnlyCollection<DatedAmount> amounts, string settlement, DailyRates rates)
    {
        if (!Currency.TryFind(settlement, out var target) || amounts.All(a => a.Currency == target.Code)) return null;
        var exact = 0m;
        var converted = new List<string>();
        var sources = new SortedSet<string>(StringComparer.Ordinal);
        var unconverted = new List<UnconvertedCurrency>();
        foreach (var currency in amounts.GroupBy(a => a.Currency).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var days = currency.GroupBy(a => DateOnly.FromDateTime(a.At)).OrderBy(d => d.Key)
                .Select(d => (Day: d.Key, Sum: d.Sum(a => a.MinorUnits), Rate: currency.Key == target.Code ? (1m, null) : rates.Mid(d.Key, currency.Key, target.Code)))
                .ToList();
            if (!Currency.TryFind(currency.Key, out var from) || days.Any(d => d.Rate is null))
            {
                unconverted.Add(new(currency.Key, [.. days.Where(d => d.Rate is null).Select(d => d.Day)]));
                continue;
            }
            foreach (var d in days)
            {
                exact += d.Sum * d.Rate!.Value.Mid * FxMath.Scale(target.MinorUnits - from.MinorUnits);
                if (d.Rate.Value.Source is { } source) sources.Add(source);
            }
            converted.Add(currency.Key);
        }
        return new(target.Code, Math.Round(exact, 0, MidpointRounding.AwayFromZero), converted, [.. sources], unconverted);
    }
}
