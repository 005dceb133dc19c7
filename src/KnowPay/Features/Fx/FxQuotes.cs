using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Fx;

/// <summary>A quote: <see cref="Rate"/> (the mid rate plus the merchant's markup) units of To per unit of From.</summary>
public sealed record FxQuote(string Id, string From, string To, decimal Rate, decimal MidRate, int MarkupBps, string Source, DateTime RateAsOf, DateTime ExpiresAt);

/// <summary>
/// Quotes from the stored rates: the merchant's manual table first (the pair or its inverse), else the ECB's euro rates
/// (crossed through EUR). A missing rate or one older than Fx:MaxAgeHours is a problem with a stable code, never a guess.
/// </summary>
public static class FxQuotes
{
    public const string ManualSource = "manual";
    public const string EcbSource = "ecb";

    public static async Task<(FxQuote? Quote, ProblemHttpResult? Problem)> QuoteAsync(
        KnowPayDb db, string merchantId, int markupBps, Currency from, Currency to, FxOptions options, DateTime now, CancellationToken ct)
    {
        var (mid, asOf, source) = await MidAsync(db, merchantId, from.Code, to.Code, ct);
        if (mid is null)
            return (null, Problems.Of(StatusCodes.Status422UnprocessableEntity, "fx_rate_unavailable", $"No rate from {from.Code} to {to.Code}: load the ECB rates or PUT /v1/fx/rates."));
        if (now - asOf > TimeSpan.FromHours(options.MaxAgeHours))
            return (null, Problems.Of(StatusCodes.Status422UnprocessableEntity, "fx_rate_stale",
                $"The {source} rate from {from.Code} to {to.Code} is as of {asOf:u}, older than Fx:MaxAgeHours ({options.MaxAgeHours} h); no conversion until it is refreshed."));
        return (new FxQuote(Ids.New("fxq"), from.Code, to.Code, FxMath.WithMarkup(mid.Value, markupBps), mid.Value, markupBps, source!, asOf,
            now + TimeSpan.FromMinutes(options.QuoteMinutes)), null);
    }

    static async Task<(decimal? Mid, DateTime AsOf, string? Source)> MidAsync(KnowPayDb db, string merchantId, string from, string to, CancellationToken ct)
    {
        var manual = await db.FxRates.AsNoTracking()
            .Where(r => r.MerchantId == merchantId && r.Source == ManualSource && (r.Base == from && r.Quote == to || r.Base == to && r.Quote == from))
            .Select(r => new SourceRate(r.Base, r.Quote, r.Rate, r.AsOf)).ToListAsync(ct);
        var euro = await db.FxRates.AsNoTracking()
            .Where(r => r.MerchantId == "" && r.Source == EcbSource && r.Base == "EUR" && (r.Quote == from || r.Quote == to))
            .Select(r => new SourceRate(r.Base, r.Quote, r.Rate, r.AsOf)).ToListAsync(ct);
        return Mid(manual, euro, from, to);
    }

    /// <summary>
    /// The mid rate from→to out of a merchant's manual rates (the pair, else its inverse) and the ECB's euro rates (crossed
    /// through EUR); none when neither has both currencies.
    /// </summary>
    public static (decimal? Mid, DateTime AsOf, string? Source) Mid(IReadOnlyCollection<SourceRate> manual, IReadOnlyCollection<SourceRate> euro, string from, string to)
    {
        if (manual.FirstOrDefault(r => r.Base == from && r.Quote == to) is { } direct) return (direct.Rate, direct.AsOf, ManualSource);
        if (manual.FirstOrDefault(r => r.Base == to && r.Quote == from) is { } inverse)
            return (Math.Round(1m / inverse.Rate, FxMath.CrossRateDecimals, MidpointRounding.AwayFromZero), inverse.AsOf, ManualSource);

        var unit = new SourceRate("EUR", "EUR", 1, DateTime.MaxValue);
        var f = from == "EUR" ? unit : euro.FirstOrDefault(r => r.Base == "EUR" && r.Quote == from);
        var t = to == "EUR" ? unit : euro.FirstOrDefault(r => r.Base == "EUR" && r.Quote == to);
        if (f is null || t is null) return (null, default, null);
        return (FxMath.Cross(f.Rate, t.Rate), f.AsOf < t.AsOf ? f.AsOf : t.AsOf, EcbSource);
    }
}
