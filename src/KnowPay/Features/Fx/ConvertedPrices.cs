using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Fx;

/// <summary>A product's price in its own currency, converted into the order's at a locked quote.</summary>
public sealed record ConvertedPrice(string PriceId, Money Priced, Money Converted, FxQuote Quote);

/// <summary>
/// Presentment in a currency the product has no price in, when the merchant allows converted prices: the product's
/// first one-time price (its own currency) converted by a quote, rounded once (<see cref="FxMath.TryConvert"/>).
/// </summary>
public static class ConvertedPrices
{
    public static async Task<(ConvertedPrice? Price, ProblemHttpResult? Problem)> PriceAsync(
        KnowPayDb db, string merchantId, string productId, Currency to, FxOptions options, DateTime now, CancellationToken ct)
    {
        var merchant = await db.Merchants.AsNoTracking().Where(m => m.Id == merchantId)
            .Select(m => new { m.AllowConvertedPrices, m.FxMarkupBps }).SingleAsync(ct);
        var price = merchant.AllowConvertedPrices
            ? await db.ProductPrices.AsNoTracking().Where(p => p.ProductId == productId && p.Active && p.RecurringInterval == null)
                .OrderBy(p => p.CreatedAt).ThenBy(p => p.Currency).FirstOrDefaultAsync(ct)
            : null;
        if (price is null)
            return (null, Problems.Invalid("currency_unsupported", "currency", $"Product '{productId}' has no price in {to.Code}."));
        var priced = new Money(price.Amount, Currency.Of(price.Currency));
        var (quote, problem) = await FxQuotes.QuoteAsync(db, merchantId, merchant.FxMarkupBps, priced.Currency, to, options, now, ct);
        if (problem is not null) return (null, problem);
        if (!FxMath.TryConvert(priced, to, quote!.Rate, out var converted) || converted.MinorUnits <= 0)
            return (null, Problems.Invalid("amount_invalid", "currency", $"{priced} does not convert to a payable amount of {to.Code}."));
        return (new ConvertedPrice(price.Id, priced, converted, quote), null);
    }

    /// <summary>
    /// Before a new payment of an order whose quote has expired: a fresh quote and amount, written only if the order is still
    /// pending on the quote read (a conditional update; the loser re-reads). Payments already started keep their own amount.
    /// </summary>
    public static async Task<ProblemHttpResult?> RefreshAsync(KnowPayDb db, Order order, FxOptions options, DateTime now, CancellationToken ct)
    {
        if (order.FxQuoteId is null || order.FxExpiresAt > now || order.Status != OrderStatus.Pending) return null;
        var markup = await db.Merchants.Where(m => m.Id == order.MerchantId).Select(m => m.FxMarkupBps).SingleAsync(ct);
        var priced = new Money(order.FxFromAmount!.Value, Currency.Of(order.FxFrom!));
        var to = Currency.Of(order.Currency);
        var (quote, problem) = await FxQuotes.QuoteAsync(db, order.MerchantId, markup, priced.Currency, to, options, now, ct);
        if (problem is not null) return problem;
        if (!FxMath.TryConvert(priced, to, quote!.Rate, out var converted) || converted.MinorUnits <= 0)
            return Problems.Invalid("amount_invalid", "currency", $"{priced} does not convert to a payable amount of {to.Code}.");
        // A creator paid in the learner's currency converts at the order's quote: it moves with it.
        var creatorRate = order.CreatorCurrency == order.Currency ? quote.Rate : order.CreatorFxRate;
        var won = await db.Orders.Where(o => o.Id == order.Id && o.FxQuoteId == order.FxQuoteId && o.Status == OrderStatus.Pending)
            .ExecuteUpdateAsync(s => s.SetProperty(o => o.Amount, converted.MinorUnits).SetProperty(o => o.FxQuoteId, quote.Id)
                .SetProperty(o => o.FxRate, quote.Rate).SetProperty(o => o.FxSource, quote.Source).SetProperty(o => o.FxExpiresAt, quote.ExpiresAt)
                .SetProperty(o => o.CreatorFxRate, creatorRate), ct);
        if (won == 0) return Problems.Conflict("order_changed", $"Order '{order.Id}' changed meanwhile; try again.");
        (order.Amount, order.FxQuoteId, order.FxRate, order.FxSource, order.FxExpiresAt, order.CreatorFxRate) =
            (converted.MinorUnits, quote.Id, quote.Rate, quote.Source, quote.ExpiresAt, creatorRate);
        return null;
    }
}
