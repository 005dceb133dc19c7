using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Fx;

public sealed record FxRateInput(string? Base, string? Quote, decimal? Rate, DateTime? AsOf);
public sealed record PutFxRatesRequest(List<FxRateInput>? Rates);
public sealed record PutFxSettingsRequest(bool? AllowConvertedPrices, int? MarkupBps, string? SettlementCurrency);

public sealed record FxRateView(string Base, string Quote, decimal Rate, string Source, DateTime AsOf)
{
    public string Object => "fx_rate";
}

public sealed record FxSettingsView(bool AllowConvertedPrices, int MarkupBps, string SettlementCurrency)
{
    public string Object => "fx_settings";

    public static FxSettingsView From(Merchant m) => new(m.AllowConvertedPrices, m.FxMarkupBps, m.SettlementCurrency);
}

/// <summary>An FX quote as the API shows it; on GET /v1/fx/quote also the amount converted (indicative: nothing is locked).</summary>
public sealed record FxQuoteView(string Id, string From, string To, decimal Rate, string Source, DateTime ExpiresAt,
    decimal? MidRate = null, int? MarkupBps = null, DateTime? RateAsOf = null, long? Amount = null, long? ConvertedAmount = null)
{
    public string Object => "fx_quote";

    public static FxQuoteView? Of(Order o) => o.FxQuoteId is null ? null
        : new(o.FxQuoteId, o.FxFrom!, o.Currency, o.FxRate!.Value, o.FxSource!, o.FxExpiresAt!.Value, Amount: o.FxFromAmount, ConvertedAmount: o.Amount);
}

/// <summary>GET /v1/fx/quote, GET and PUT /v1/fx/rates (the merchant's manual table), GET and PUT /v1/fx/settings (markup, converted
/// prices, the merchant's settlement currency).</summary>
public static class FxEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/fx/quote", Quote).RequireScope("orders:read").Produces(StatusCodes.Status422UnprocessableEntity); // fx_rate_unavailable, fx_rate_stale
        v1.MapGet("/fx/rates", ListRates).RequireScope("orders:read");
        v1.MapPut("/fx/rates", PutRates).RequireScope("catalog:write");
        v1.MapGet("/fx/settings", GetSettings).RequireScope("orders:read");
        v1.MapPut("/fx/settings", PutSettings).RequireScope("catalog:write");
    }

    static async Task<Results<Ok<FxQuoteView>, ProblemHttpResult>> Quote(string? from, string? to, long? amount, AuthenticatedMerchant merchant,
        KnowPayDb db, IOptions<FxOptions> options, IOptions<MoneyOptions> money, TimeProvider clock, CancellationToken ct)
    {
        if (!Currency.TryFind(from, out var source)) return CurrencyProblems.NotTaken("from", from);
        if (!Currency.TryFind(to, out var target)) return CurrencyProblems.NotTaken("to", to);
        if (source == target) return Problems.Invalid("currency_invalid", "to", "from and to are the same currency.");
        if (amount is not > 0) return Problems.Invalid("amount_invalid", "amount", "amount is a positive integer in the minor unit of from.");
        if (!money.Value.Limit.Allows(amount.Value, source)) return Problems.Invalid("amount_too_large", "amount", money.Value.Limit.Describe(source));
        var markup = await db.Merchants.Where(m => m.Id == merchant.Id).Select(m => m.FxMarkupBps).SingleAsync(ct);
        var (quote, problem) = await FxQuotes.QuoteAsync(db, merchant.Id, markup, source, target, options.Value, clock.GetUtcNow().UtcDateTime, ct);
        if (problem is not null) return problem;
        if (!FxMath.TryConvert(new Money(amount.Value, source), target, quote!.Rate, out var converted) || !money.Value.Limit.Allows(converted.MinorUnits, target))
            return Problems.Invalid("amount_too_large", "amount", money.Value.Limit.Describe(target));
        return TypedResults.Ok(new FxQuoteView(quote.Id, quote.From, quote.To, quote.Rate, quote.Source, quote.ExpiresAt,
            quote.MidRate, quote.MarkupBps, quote.RateAsOf, amount, converted.MinorUnits));
    }

    static async Task<Ok<List<FxRateView>>> ListRates(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct) =>
        TypedResults.Ok(await db.FxRates.AsNoTracking().Where(r => r.MerchantId == merchant.Id || r.MerchantId == "")
            .OrderBy(r => r.Source).ThenBy(r => r.Base).ThenBy(r => r.Quote)
            .Select(r => new FxRateView(r.Base, r.Quote, r.Rate, r.Source, r.AsOf)).ToListAsync(ct));

    /// <summary>Replaces the merchant's manual table: these pairs, each with its as_of (default now), and no others.</summary>
    static async Task<Results<Ok<List<FxRateView>>, ProblemHttpResult>> PutRates(PutFxRatesRequest body, AuthenticatedMerchant merchant,
        KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (body.Rates is null or { Count: > 500 }) return Problems.Invalid("rates_invalid", "rates", "rates is a list of at most 500 {base, quote, rate, as_of}.");
        var rates = new List<SourceRate>();
        for (var i = 0; i < body.Rates.Count; i++)
        {
            var r = body.Rates[i];
            if (!Currency.TryFind(r.Base, out var b)) return CurrencyProblems.NotTaken($"rates[{i}].base", r.Base);
            if (!Currency.TryFind(r.Quote, out var q)) return CurrencyProblems.NotTaken($"rates[{i}].quote", r.Quote);
            if (b == q || rates.Any(x => x.Base == b.Code && x.Quote == q.Code))
                return Problems.Invalid("rates_invalid", $"rates[{i}]", "each pair once, base and quote different.");
            if (r.Rate is not (> 0 and < 1_000_000_000m)) return Problems.Invalid("rate_invalid", $"rates[{i}].rate", "rate is a positive number of quote units per base unit.");
            var asOf = r.AsOf?.ToUniversalTime() ?? now;
            if (asOf > now.AddMinutes(5)) return Problems.Invalid("rate_invalid", $"rates[{i}].as_of", "as_of is not in the future.");
            rates.Add(new SourceRate(b.Code, q.Code, r.Rate.Value, asOf));
        }
        await FxRateRefresh.StoreAsync(db, merchant.Id, FxQuotes.ManualSource, rates, now, ct);
        return TypedResults.Ok(rates.Select(r => new FxRateView(r.Base, r.Quote, r.Rate, FxQuotes.ManualSource, r.AsOf)).ToList());
    }

    static async Task<Ok<FxSettingsView>> GetSettings(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct) =>
        TypedResults.Ok(FxSettingsView.From(await db.Merchants.AsNoTracking().SingleAsync(m => m.Id == merchant.Id, ct)));

    static async Task<Results<Ok<FxSettingsView>, ProblemHttpResult>> PutSettings(PutFxSettingsRequest body, AuthenticatedMerchant merchant,
        KnowPayDb db, CancellationToken ct)
    {
        if (body.MarkupBps is not null and not (>= 0 and <= 2_000))
            return Problems.Invalid("markup_invalid", "markup_bps", "markup_bps is between 0 and 2000 (20 %).");
        Currency? settlement = null;
        if (body.SettlementCurrency is not null && !Currency.TryFind(body.SettlementCurrency, out settlement))
            return CurrencyProblems.NotTaken("settlement_currency", body.SettlementCurrency);
        var row = await db.Merchants.SingleAsync(m => m.Id == merchant.Id, ct);
        if (body.AllowConvertedPrices is { } allow) row.AllowConvertedPrices = allow;
        if (body.MarkupBps is { } bps) row.FxMarkupBps = bps;
        if (settlement is not null) row.SettlementCurrency = settlement.Code;
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(FxSettingsView.From(row));
    }
}
