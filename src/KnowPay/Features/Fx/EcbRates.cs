using System.Globalization;
using System.Xml.Linq;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Fx;

/// <summary>A reference rate as a source publishes it: units of Quote per unit of Base, as of a time.</summary>
public sealed record SourceRate(string Base, string Quote, decimal Rate, DateTime AsOf);

/// <summary>A source of reference rates the fx_rates job stores (shared by every merchant).</summary>
public interface IFxRateSource
{
    string Name { get; }
    Task<IReadOnlyList<SourceRate>> FetchAsync(CancellationToken ct);
}

/// <summary>
/// The ECB's euro foreign exchange reference rates, <c>eurofxref-daily.xml</c>:
/// <c>&lt;gesmes:Envelope&gt;&lt;Cube&gt;&lt;Cube time="2026-12-03"&gt;&lt;Cube currency="USD" rate="1.0512"/&gt;…</c>, units per EUR.
/// The rates are set at 14:15 CET on the day named: that instant is their timestamp.
/// </summary>
public sealed class EcbRateSource(IHttpClientFactory http, IOptions<FxOptions> options, FxSourceUrl url) : IFxRateSource
{
    public const string HttpClientName = "fx-ecb";
    public string Name => "ecb";

    public async Task<IReadOnlyList<SourceRate>> FetchAsync(CancellationToken ct)
    {
        if (url.Resolve(options.Value) is not { } address) return [];
        var text = await http.CreateClient(HttpClientName).GetStringAsync(address, ct);
        return Parse(text);
    }

    public static IReadOnlyList<SourceRate> Parse(string xml)
    {
        XNamespace ns = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref";
        var day = XDocument.Parse(xml).Descendants(ns + "Cube").FirstOrDefault(c => c.Attribute("time") is not null)
            ?? throw new FormatException("no <Cube time=…> in the ECB file");
        var date = DateTime.ParseExact((string)day.Attribute("time")!, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        var asOf = date.AddHours(13).AddMinutes(15); // 14:15 CET
        return day.Elements(ns + "Cube")
            .Select(c => (Code: (string?)c.Attribute("currency"), Rate: (string?)c.Attribute("rate")))
            .Where(c => Currency.TryFind(c.Code, out _) && decimal.TryParse(c.Rate, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var r) && r > 0)
            .Select(c => new SourceRate("EUR", c.Code!, decimal.Parse(c.Rate!, CultureInfo.InvariantCulture), asOf))
            .ToList();
    }
}

/// <summary>Fx:SourceUrl, or the embedded sandbox's ECB file when it runs and none is set.</summary>
public sealed class FxSourceUrl(PublicUrl publicUrl, IServiceProvider services)
{
    public string? Resolve(FxOptions options) =>
        options.SourceUrl is { Length: > 0 } url ? url
        : services.GetService(typeof(KnowPay.Sandbox.SandboxOptions)) is KnowPay.Sandbox.SandboxOptions sandbox
            ? publicUrl.Combine(sandbox.BasePath + "/ecb/eurofxref-daily.xml") : null;
}

/// <summary>The fx_rates job: fetches every source and replaces the shared rows, each with its own timestamp.</summary>
public sealed class FxRateRefresh(IEnumerable<IFxRateSource> sources, IServiceScopeFactory scopes, IOptions<FxOptions> options, ILogger<FxRateRefresh> log) : IJob
{
    public string Name => "fx_rates";
    public TimeSpan Every => TimeSpan.FromMinutes(options.Value.RefreshMinutes);

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var stored = 0;
        foreach (var source in sources)
        {
            var rates = await source.FetchAsync(ct);
            if (rates.Count == 0) continue;
            await using var scope = scopes.CreateAsyncScope();
            stored += await StoreAsync(scope.ServiceProvider.GetRequiredService<KnowPayDb>(), "", source.Name, rates, now, ct);
            log.LogInformation("FX: {Count} {Source} rates as of {AsOf:u}", rates.Count, source.Name, rates[0].AsOf);
        }
        return stored;
    }

    /// <summary>Replaces the (merchant, source) rows by <paramref name="rates"/> in one transaction; a source's older rate never overwrites a newer one.</summary>
    public static async Task<int> StoreAsync(KnowPayDb db, string merchantId, string source, IReadOnlyList<SourceRate> rates, DateTime now, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var existing = await db.FxRates.Where(r => r.MerchantId == merchantId && r.Source == source).ToListAsync(ct);
        var byPair = existing.ToDictionary(r => (r.Base, r.Quote));
        foreach (var rate in rates)
        {
            if (byPair.TryGetValue((rate.Base, rate.Quote), out var row))
            {
                if (row.AsOf > rate.AsOf && source != FxQuotes.ManualSource) continue; // the merchant's own table is as they PUT it
                row.Rate = rate.Rate;
                row.AsOf = rate.AsOf;
                row.UpdatedAt = now;
            }
            else db.FxRates.Add(new FxRate { MerchantId = merchantId, Source = source, Base = rate.Base, Quote = rate.Quote, Rate = rate.Rate, AsOf = rate.AsOf, UpdatedAt = now });
        }
        if (source == FxQuotes.ManualSource)
            db.FxRates.RemoveRange(existing.Where(r => !rates.Any(x => x.Base == r.Base && x.Quote == r.Quote)));
        await StoreDaysAsync(db, merchantId, source, rates, ct);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
        {
            return 0; // another node stored the same fetch first
        }
        await tx.CommitAsync(ct);
        return rates.Count;
    }

    /// <summary>
    /// Keeps each rate as its UTC day's rate too (FxDailyRate), which a later refresh or PUT leaves in place: the latest
    /// as_of of a day wins for a source, and the merchant's own table is as they last PUT it for that day.
    /// </summary>
    static async Task StoreDaysAsync(KnowPayDb db, string merchantId, string source, IReadOnlyList<SourceRate> rates, CancellationToken ct)
    {
        var days = rates.Select(r => DateOnly.FromDateTime(r.AsOf)).Distinct().ToList();
        var stored = (await db.FxDailyRates.Where(r => r.MerchantId == merchantId && r.Source == source && days.Contains(r.Day)).ToListAsync(ct))
            .ToDictionary(r => (r.Day, r.Base, r.Quote));
        foreach (var rate in rates)
        {
            var day = DateOnly.FromDateTime(rate.AsOf);
            if (stored.TryGetValue((day, rate.Base, rate.Quote), out var row))
            {
                if (row.AsOf > rate.AsOf && source != FxQuotes.ManualSource) continue;
                row.Rate = rate.Rate;
                row.AsOf = rate.AsOf;
            }
            else db.FxDailyRates.Add(new FxDailyRate { MerchantId = merchantId, Source = source, Base = rate.Base, Quote = rate.Quote, Day = day, Rate = rate.Rate, AsOf = rate.AsOf });
        }
    }
}
