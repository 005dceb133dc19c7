namespace KnowPay.Domain;

/// <summary>A provider's fee schedule: basis points of the amount plus a fixed part in minor units.</summary>
public sealed record ProviderFee(int BasisPoints, long FixedMinorUnits)
{
    public static readonly ProviderFee None = new(0, 0);
}

/// <summary>
/// How one captured payment divides. The rounding policy, written once:
/// 1. The creator's share is the product's basis points of the GROSS amount, allocated by largest remainder
///    between creator and platform (so creator + platform-before-fee = amount exactly).
/// 2. The provider fee is fixed + amount × bps / 10000 rounded half away from zero to the minor unit, capped at
///    the amount; it is borne by the platform: platform = amount − creator − fee (negative only when the creator
///    share plus fee exceeds the amount, which then shows as a platform loss, never as lost money).
/// Creator + platform + fee = amount, always.
/// </summary>
public sealed record RevenueSplit(long Creator, long Platform, long Fee)
{
    public long Total => Creator + Platform + Fee;

    public static RevenueSplit For(long amount, int creatorBasisPoints, ProviderFee fee)
    {
        if (amount < 0) throw new ArgumentOutOfRangeException(nameof(amount));
        if (creatorBasisPoints is < 0 or > 10_000) throw new ArgumentOutOfRangeException(nameof(creatorBasisPoints));
        var shares = Allocation.LargestRemainder(amount, [creatorBasisPoints, 10_000 - creatorBasisPoints]);
        var creator = shares[0];
        var feeAmount = Math.Min(amount, fee.FixedMinorUnits + RoundHalfAwayFromZero((Int128)amount * fee.BasisPoints, 10_000));
        return new RevenueSplit(creator, amount - creator - feeAmount, feeAmount);
    }

    static long RoundHalfAwayFromZero(Int128 numerator, long denominator)
    {
        var q = numerator / denominator;
        var r = numerator % denominator;
        if (r * 2 >= denominator) q++;
        return (long)q;
    }
}

public static class RefundSplit
{
    /// <summary>
    /// The creator's part of a refund, computed cumulatively so that partial refunds never drift: the creator gives
    /// back share(refunded after) − share(refunded before), where share(x) is the largest-remainder creator share of x.
    /// A full refund, in any number of parts, returns exactly the creator's original share.
    /// </summary>
    public static long CreatorPart(long refundedBefore, long refundNow, int creatorBasisPoints)
    {
        if (refundedBefore < 0 || refundNow < 0) throw new ArgumentOutOfRangeException(nameof(refundNow));
        long Share(long x) => Allocation.LargestRemainder(x, [creatorBasisPoints, 10_000 - creatorBasisPoints])[0];
        return Share(refundedBefore + refundNow) - Share(refundedBefore);
    }
}
