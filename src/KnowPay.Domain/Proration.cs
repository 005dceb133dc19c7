namespace KnowPay.Domain;

/// <summary>
/// A price change inside a paid period, as Stripe's create_prorations: a credit for the old price's unused time and a charge
/// for the new price over the same time, each a share of its price by whole seconds (unused ÷ period), rounded once half away
/// from zero to the minor unit, as the provider fee in <see cref="RevenueSplit"/> is.
/// </summary>
public sealed record ProrationLines(long Credit, long Charge, long UnusedSeconds, long PeriodSeconds)
{
    /// <summary>What the change costs the customer: positive owes, negative is a credit.</summary>
    public long Net => Charge - Credit;
}

public static class Proration
{
    /// <param name="changeAt">Inside [periodStart, periodEnd); truncated to the second.</param>
    public static ProrationLines For(long oldAmount, long newAmount, DateTime periodStart, DateTime periodEnd, DateTime changeAt)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(oldAmount);
        ArgumentOutOfRangeException.ThrowIfNegative(newAmount);
        var period = WholeSeconds(periodEnd - periodStart);
        if (period <= 0) throw new ArgumentException("the period must be at least one second long", nameof(periodEnd));
        if (changeAt < periodStart || changeAt >= periodEnd) throw new ArgumentOutOfRangeException(nameof(changeAt), "the change must fall inside the period");
        var unused = WholeSeconds(periodEnd - changeAt.AddTicks(-(changeAt.Ticks % TimeSpan.TicksPerSecond)));
        return new ProrationLines(Share(oldAmount, unused, period), Share(newAmount, unused, period), unused, period);
    }

    /// <summary>amount × part ÷ whole, rounded half away from zero (amounts and parts are never negative here).</summary>
    public static long Share(long amount, long part, long whole)
    {
        var numerator = (Int128)amount * part;
        var q = numerator / whole;
        if (numerator % whole * 2 >= whole) q++;
        return (long)q;
    }

    static long WholeSeconds(TimeSpan span) => span.Ticks / TimeSpan.TicksPerSecond;
}

/// <summary>
/// A customer's credit balance (<see cref="Accounts.CustomerCredit"/>). Granting it takes the amount back from the creator
/// (their share of it, by largest remainder as a refund's) and the platform; spending it on an invoice books that invoice's
/// revenue the same way, without a provider (no fee). So granting then spending the same amount nets every account to zero.
/// </summary>
public static class CreditBalance
{
    public static IReadOnlyList<Posting> Granted(string customerId, string creatorId, string currency, long amount, int creatorBasisPoints)
    {
        var creator = CreatorPart(amount, creatorBasisPoints);
        return Postings.NonZero(
            new Posting(Accounts.CreatorPending(creatorId, currency), currency, creator),
            new Posting(Accounts.PlatformRevenue(currency), currency, amount - creator),
            new Posting(Accounts.CustomerCredit(customerId, currency), currency, -amount));
    }

    public static IReadOnlyList<Posting> Applied(string customerId, string creatorId, string currency, long amount, int creatorBasisPoints)
    {
        var creator = CreatorPart(amount, creatorBasisPoints);
        return Postings.NonZero(
            new Posting(Accounts.CustomerCredit(customerId, currency), currency, amount),
            new Posting(Accounts.CreatorPending(creatorId, currency), currency, -creator),
            new Posting(Accounts.PlatformRevenue(currency), currency, -(amount - creator)));
    }

    static long CreatorPart(long amount, int creatorBasisPoints)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        return amount == 0 ? 0 : Allocation.LargestRemainder(amount, [creatorBasisPoints, 10_000 - creatorBasisPoints])[0];
    }
}
