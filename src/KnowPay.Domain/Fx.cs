namespace KnowPay.Domain;

/// <summary>
/// Currency conversion, exact. A rate is units of the target currency per unit of the source, in major units
/// (USD per CNY ≈ 0.14). The conversion policy, written once: the amount is rounded ONCE to the target's minor unit,
/// half away from zero (the rounding of <see cref="RevenueSplit"/>'s fee); rates are never rounded after the markup.
/// </summary>
public static class FxMath
{
    /// <summary>Cross rates (via the source's base) keep this many decimals, rounded half away from zero.</summary>
    public const int CrossRateDecimals = 12;

    /// <summary>The learner pays the mid rate plus the merchant's markup: mid × (10000 + bps) / 10000, exact in decimal.</summary>
    public static decimal WithMarkup(decimal mid, int markupBps)
    {
        if (markupBps is < 0 or > 10_000) throw new ArgumentOutOfRangeException(nameof(markupBps));
        return mid * (10_000 + markupBps) / 10_000m;
    }

    /// <summary>from→to from two rates against one base (ECB: EUR→from and EUR→to).</summary>
    public static decimal Cross(decimal baseToFrom, decimal baseToTo) =>
        Math.Round(baseToTo / baseToFrom, CrossRateDecimals, MidpointRounding.AwayFromZero);

    /// <summary>The amount in the target currency: amount × rate, scaled between the exponents, rounded once.</summary>
    public static bool TryConvert(Money from, Currency to, decimal rate, out Money converted)
    {
        converted = default;
        if (rate <= 0 || from.MinorUnits < 0) return false;
        try
        {
            var exact = from.MinorUnits * rate * Scale(to.MinorUnits - from.Currency.MinorUnits);
            var rounded = Math.Round(exact, 0, MidpointRounding.AwayFromZero);
            if (rounded > long.MaxValue) return false;
            converted = new Money((long)rounded, to);
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary>
    /// The part of <paramref name="whole"/> that corresponds to <paramref name="part"/> of <paramref name="of"/>,
    /// cumulative so that partial refunds never drift: portion(before + now) − portion(before), and the last
    /// part returns exactly what is left (portion(of) = whole). Rounded half away from zero.
    /// </summary>
    public static long Portion(long whole, long before, long now, long of)
    {
        if (before < 0 || now < 0 || before + now > of || of <= 0) throw new ArgumentOutOfRangeException(nameof(now));
        return Cumulative(whole, before + now, of) - Cumulative(whole, before, of);
    }

    static long Cumulative(long whole, long x, long of)
    {
        var n = (Int128)whole * x;
        var q = n / of;
        if ((n % of) * 2 >= of) q++;
        return (long)q;
    }

    /// <summary>10^digits: moves minor units from one currency's exponent to another's (digits = to − from).</summary>
    public static decimal Scale(int digits) => digits >= 0 ? Pow10(digits) : 1m / Pow10(-digits);

    static decimal Pow10(int n)
    {
        var r = 1m;
        for (var i = 0; i < n; i++) r *= 10;
        return r;
    }
}

/// <summary>
/// A presentment currency other than the price's: the learner pays <see cref="Paid"/> (what the provider collects), the
/// price was <see cref="Priced"/> (the creator's/product's currency), locked by the order's quote.
/// </summary>
public sealed record Conversion(Money Priced, Money Paid);

public static class FxPostings
{
    /// <summary>
    /// Payment confirmed in another currency than the price. Balanced per currency through the pair's FX account:
    /// paid currency: clearing + paid, fee − fee (borne by the platform's revenue in that currency), FX − paid;
    /// priced currency: FX + priced, creator − share of the price (at the locked rate), platform − the rest.
    /// The FX account holds the open position: what was collected in one currency against what was booked in the other.
    /// </summary>
    public static IReadOnlyList<Posting> PaymentConfirmed(string provider, string creatorId, Conversion fx, RevenueSplit pricedSplit, long fee)
    {
        var (p, q) = (fx.Paid.Currency.Code, fx.Priced.Currency.Code);
        if (pricedSplit.Fee != 0 || pricedSplit.Total != fx.Priced.MinorUnits) throw new InvalidOperationException("split does not sum to the price");
        var account = Accounts.Fx(q, p);
        return Postings.NonZero(
            new Posting(Accounts.ProviderClearing(provider, p), p, fx.Paid.MinorUnits),
            new Posting(Accounts.ProviderFees(provider, p), p, -fee),
            new Posting(Accounts.PlatformRevenue(p), p, fee),
            new Posting(account, p, -fx.Paid.MinorUnits),
            new Posting(account, q, fx.Priced.MinorUnits),
            new Posting(Accounts.CreatorPending(creatorId, q), q, -pricedSplit.Creator),
            new Posting(Accounts.PlatformRevenue(q), q, -pricedSplit.Platform));
    }

    /// <summary>
    /// A refund of <paramref name="refund"/> in the paid currency: the provider pays it back from clearing; its locked-rate
    /// counterpart <paramref name="pricedPart"/> (<see cref="FxMath.Portion"/>) leaves the FX account in the priced currency,
    /// clawed back from the creator (pending first, then available) and the platform as a refund in the price's currency.
    /// </summary>
    public static IReadOnlyList<Posting> RefundSucceeded(string provider, string creatorId, Conversion fx, long refund, long pricedPart,
        long creatorPart, long creatorPendingBalance)
    {
        var (p, q) = (fx.Paid.Currency.Code, fx.Priced.Currency.Code);
        var account = Accounts.Fx(q, p);
        var fromPending = Math.Min(creatorPart, Math.Max(0, -creatorPendingBalance));
        return Postings.NonZero(
            new Posting(Accounts.ProviderClearing(provider, p), p, -refund),
            new Posting(account, p, refund),
            new Posting(account, q, -pricedPart),
            new Posting(Accounts.CreatorPending(creatorId, q), q, fromPending),
            new Posting(Accounts.CreatorAvailable(creatorId, q), q, creatorPart - fromPending),
            new Posting(Accounts.PlatformRevenue(q), q, pricedPart - creatorPart));
    }

    /// <summary>
    /// The provider settled a payment into the price's currency: <paramref name="settled"/> (its minor units, the provider's
    /// rounding) against the price the locked quote stood for. The difference revalues the pair's FX account in that currency
    /// and is realised on the gain/loss account: settled − priced, exact (both are integers of one currency; nothing is rounded here).
    /// </summary>
    public static IReadOnlyList<Posting> PaymentSettled(Conversion fx, long settled) => Difference(fx, settled - fx.Priced.MinorUnits);

    /// <summary>
    /// The provider settled a refund: it took <paramref name="settled"/> of the price's currency where the refund journal
    /// released <paramref name="pricedPart"/> (the refund's locked-rate counterpart, <see cref="FxMath.Portion"/>). Taking more is a loss.
    /// </summary>
    public static IReadOnlyList<Posting> RefundSettled(Conversion fx, long pricedPart, long settled) => Difference(fx, pricedPart - settled);

    /// <summary>
    /// The creator's lines of <paramref name="postings"/> (a payment's or a refund's, in the share's currency) moved into the
    /// creator's payout currency through the pair's FX account <c>fx:{payout}:{share}</c>: it takes the share's side in the
    /// share's currency and gives <paramref name="converted"/> (the locked-rate counterpart, <see cref="CreatorConversion"/>)
    /// in the payout currency. A credit goes to pending; a claw-back takes pending first, then available, as in the share's currency.
    /// </summary>
    public static IReadOnlyList<Posting> CreatorConverted(IReadOnlyList<Posting> postings, string creatorId, CreatorConversion conversion, long converted,
        long creatorPendingBalance)
    {
        var (s, c) = (conversion.Share.Currency.Code, conversion.Converted.Currency.Code);
        bool IsCreatorsInShare(Posting p) => p.Currency == s && p.Account.StartsWith($"creator:{creatorId}:", StringComparison.Ordinal);
        var share = postings.Where(IsCreatorsInShare).Sum(p => p.Amount);
        // A small part of the share may convert to nothing (rounded once, cumulatively); nothing never converts to something.
        if (converted < 0 || (share == 0 && converted != 0)) throw new InvalidOperationException("the converted part does not match the share");
        var signed = share < 0 ? -converted : converted;   // credit-negative: the creator earned it; positive: clawed back
        var fromPending = signed < 0 ? signed : Math.Min(signed, Math.Max(0, -creatorPendingBalance));
        var account = Accounts.Fx(c, s);
        return Postings.NonZero([
            .. postings.Where(p => !IsCreatorsInShare(p)),
            new Posting(account, s, share),
            new Posting(account, c, -signed),
            new Posting(Accounts.CreatorPending(creatorId, c), c, fromPending),
            new Posting(Accounts.CreatorAvailable(creatorId, c), c, signed - fromPending)]);
    }

    static IReadOnlyList<Posting> Difference(Conversion fx, long gain)
    {
        var q = fx.Priced.Currency.Code;
        return Postings.NonZero(
            new Posting(Accounts.Fx(q, fx.Paid.Currency.Code), q, gain),
            new Posting(Accounts.FxGainLoss(q), q, -gain));
    }
}

/// <summary>
/// A creator paid in another currency than the one its share is computed in (the price's): the share, and the share
/// converted once at the order's locked rate (<see cref="FxMath.TryConvert"/>). Refunds give back cumulative parts of both.
/// </summary>
public sealed record CreatorConversion(Money Share, Money Converted)
{
    /// <summary>The share converted at <paramref name="rate"/> (payout units per share unit); null when it does not fit a long.</summary>
    public static CreatorConversion? At(Money share, Currency payout, decimal rate) =>
        share.Currency != payout && FxMath.TryConvert(share, payout, rate, out var converted) ? new CreatorConversion(share, converted) : null;

    /// <summary>
    /// The payout-currency counterpart of <paramref name="part"/> of the share after <paramref name="before"/> of it went back:
    /// cumulative (<see cref="FxMath.Portion"/>), so that parts summing to the share return exactly <see cref="Converted"/>.
    /// </summary>
    public long PartOf(long before, long part) =>
        Share.MinorUnits == 0 ? 0 : FxMath.Portion(Converted.MinorUnits, before, part, Share.MinorUnits);
}
