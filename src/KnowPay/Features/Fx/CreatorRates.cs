using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Features.Fx;

/// <summary>
/// The rate a creator's share converts at into the creator's payout currency, locked on the order at its creation like the
/// price's quote: the order's own quote when the learner pays in the creator's currency, else a fresh quote at the mid rate
/// (the merchant's markup is the learner's price, not the creator's). No rate (missing or stale) never refuses the order nor,
/// later, its payment: the creator is then credited in the price's currency, as for a creator without a payout currency.
/// </summary>
public static class CreatorRates
{
    public static async Task<(string? Currency, decimal? Rate)> LockAsync(KnowPayDb db, string merchantId, string? payoutCurrency, string priceCurrency,
        ConvertedPrice? converted, FxOptions options, DateTime now, CancellationToken ct)
    {
        if (payoutCurrency is null || payoutCurrency == priceCurrency) return (null, null);
        if (converted is not null && converted.Converted.Currency.Code == payoutCurrency) return (payoutCurrency, converted.Quote.Rate);
        var (quote, _) = await FxQuotes.QuoteAsync(db, merchantId, 0, Currency.Of(priceCurrency), Currency.Of(payoutCurrency), options, now, ct);
        return quote is null ? (null, null) : (payoutCurrency, quote.Rate);
    }
}
