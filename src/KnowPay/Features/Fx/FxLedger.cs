using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Ledger;
using KnowPay.Providers;

namespace KnowPay.Features.Fx;

/// <summary>The ledger side of a converted price: which journals a payment and its refunds post (see <see cref="FxPostings"/>).</summary>
public static class FxLedger
{
    /// <summary>The locked conversion of a payment of an order priced in another currency; null for a price in the paid currency.</summary>
    public static Conversion? Of(Order order, Payment payment) =>
        order.FxFrom is { } from && from != payment.Currency && order.FxFromAmount is { } priced
            ? new Conversion(new Money(priced, Currency.Of(from)), new Money(payment.Amount, Currency.Of(payment.Currency)))
            : null;

    /// <summary>
    /// The confirmation's journal: the creator's share computed in the price's currency (at the locked rate when the learner paid
    /// in another), the fee in the paid one; a creator with another payout currency is credited in it (<see cref="CreatorConversionOf(Order, Payment)"/>).
    /// </summary>
    public static IReadOnlyList<Posting> PaymentConfirmed(Payment payment, Order order, ProviderFee fee)
    {
        var amount = new Money(payment.Amount, Currency.Of(payment.Currency));
        IReadOnlyList<Posting> postings;
        if (Of(order, payment) is not { } fx)
            postings = Postings.PaymentConfirmed(payment.Provider, order.CreatorId, amount, RevenueSplit.For(payment.Amount, order.CreatorShareBps, fee));
        else
        {
            var pricedSplit = RevenueSplit.For(fx.Priced.MinorUnits, order.CreatorShareBps, ProviderFee.None);
            postings = FxPostings.PaymentConfirmed(payment.Provider, order.CreatorId, fx, pricedSplit, RevenueSplit.For(payment.Amount, 0, fee).Fee);
        }
        return CreatorConversionOf(order, payment) is { } creator
            ? FxPostings.CreatorConverted(postings, order.CreatorId, creator, creator.Converted.MinorUnits, creatorPendingBalance: 0)
            : postings;
    }

    /// <summary>
    /// The creator's share of a payment converted into the creator's payout currency at the rate locked on the order; null when
    /// the creator is credited in the price's currency (no payout currency, the same one, or no rate when the order was created).
    /// </summary>
    public static CreatorConversion? CreatorConversionOf(Order order, Payment payment) =>
        CreatorConversionOf(order.CreatorCurrency, order.CreatorFxRate,
            Of(order, payment)?.Priced ?? new Money(payment.Amount, Currency.Of(payment.Currency)), order.CreatorShareBps);

    /// <param name="priced">What the share is a share of: the price, in the price's currency.</param>
    public static CreatorConversion? CreatorConversionOf(string? creatorCurrency, decimal? creatorFxRate, Money priced, int creatorShareBps) =>
        creatorCurrency is { } payout && creatorFxRate is { } rate
            ? CreatorConversion.At(new Money(RefundSplit.CreatorPart(0, priced.MinorUnits, creatorShareBps), priced.Currency), Currency.Of(payout), rate)
            : null;

    /// <summary>
    /// A refund's <paramref name="postings"/> with the creator's <paramref name="creatorPart"/> (share's currency) given back in the
    /// payout currency: its cumulative counterpart at the locked rate, so that a full refund in any parts returns exactly what was credited.
    /// </summary>
    public static IReadOnlyList<Posting> CreatorRefunded(CreatorConversion creator, Order order, Payment payment, long refundedBefore, long creatorPart,
        IReadOnlyList<Posting> postings, long creatorPendingBalance)
    {
        var pricedBefore = Of(order, payment) is { } fx ? FxMath.Portion(fx.Priced.MinorUnits, 0, refundedBefore, fx.Paid.MinorUnits) : refundedBefore;
        var shareBefore = RefundSplit.CreatorPart(0, pricedBefore, order.CreatorShareBps);
        return FxPostings.CreatorConverted(postings, order.CreatorId, creator, creator.PartOf(shareBefore, creatorPart), creatorPendingBalance);
    }

    /// <summary>
    /// What a refund of <paramref name="refund"/> (paid currency) after <paramref name="refundedBefore"/> gives back in the price's
    /// currency and of it the creator's part, both cumulative so that any number of parts returns exactly the price and the share.
    /// </summary>
    public static (long PricedPart, long CreatorPart) RefundParts(Conversion fx, long refundedBefore, long refund, int creatorShareBps)
    {
        var pricedBefore = FxMath.Portion(fx.Priced.MinorUnits, 0, refundedBefore, fx.Paid.MinorUnits);
        var pricedPart = FxMath.Portion(fx.Priced.MinorUnits, refundedBefore, refund, fx.Paid.MinorUnits);
        return (pricedPart, RefundSplit.CreatorPart(pricedBefore, pricedPart, creatorShareBps));
    }

    /// <summary>The journals of the provider's settlement differences, one per payment and one per refund (the unique source key).</summary>
    public const string PaymentSettledSource = "fx_payment_settled", RefundSettledSource = "fx_refund_settled";

    /// <summary>
    /// The FX gain/loss journal of a converted payment the provider settled into the price's currency (settled − price, exact);
    /// null when there is none: a price in the paid currency, a settlement in another currency than the price's (the locked
    /// quote implies no amount there), or no difference.
    /// </summary>
    public static LedgerJournal? PaymentSettled(Order order, Payment payment, ProviderSettlement? settlement, DateTime now) =>
        InPriceCurrency(order, payment, settlement) is ({ } fx, var settled)
            ? Journal(order, payment, PaymentSettledSource, payment.Id, FxPostings.PaymentSettled(fx, settled),
                $"FX: {payment.Provider} settled payment {payment.Id} as {settled} {fx.Priced.Currency.Code} for a price of {fx.Priced.MinorUnits}", now)
            : null;

    /// <summary>
    /// The FX gain/loss journal of a refund of a converted payment the provider settled in the price's currency: the
    /// <paramref name="pricedPart"/> its refund journal released at the locked rate less what the provider took (exact); null as for a payment.
    /// </summary>
    public static LedgerJournal? RefundSettled(Order order, Payment payment, string refundId, long pricedPart, ProviderSettlement? settlement, DateTime now) =>
        InPriceCurrency(order, payment, settlement) is ({ } fx, var taken)
            ? Journal(order, payment, RefundSettledSource, refundId, FxPostings.RefundSettled(fx, pricedPart, taken),
                $"FX: {payment.Provider} settled refund {refundId} as {taken} {fx.Priced.Currency.Code} for {pricedPart} at the locked rate", now)
            : null;

    /// <summary>The payment's conversion and the settled amount, when the provider settled in the price's currency.</summary>
    static (Conversion Fx, long Settled)? InPriceCurrency(Order order, Payment payment, ProviderSettlement? settlement) =>
        Of(order, payment) is { } fx && settlement is { Amount: { } settled, Currency: { } currency } && currency == fx.Priced.Currency.Code
            ? (fx, settled) : null;

    static LedgerJournal? Journal(Order order, Payment payment, string sourceType, string sourceId, IReadOnlyList<Posting> postings, string description, DateTime now) =>
        postings.Count == 0 ? null : Journals.Build(order.MerchantId, sourceType, sourceId, description, postings, now, paymentId: payment.Id);
}
