namespace KnowPay.Domain;

/// <summary>Rules for the creator's held (pending) funds and payouts. Balances are credit-negative, as in the ledger.</summary>
public static class Holds
{
    /// <summary>
    /// What one payment releases from pending to available when its refund window ends: the creator's share of what
    /// is still captured (share(amount) − share(refunded), the same cumulative shares the refunds use), capped at what
    /// the creator still holds in pending, since refunds of any payment claw back from pending first. Never negative.
    /// </summary>
    public static long Releasable(long amount, long refunded, int creatorBasisPoints, long creatorPendingBalance)
    {
        var remaining = RefundSplit.CreatorPart(0, amount, creatorBasisPoints) - RefundSplit.CreatorPart(0, Math.Min(refunded, amount), creatorBasisPoints);
        return Math.Max(0, Math.Min(remaining, -creatorPendingBalance));
    }

    /// <summary>What a payout batch pays a creator: the whole available amount when it reaches the minimum, else nothing.</summary>
    public static long Payable(long creatorAvailableBalance, long minimumAmount)
    {
        var owed = -creatorAvailableBalance;
        return owed > 0 && owed >= minimumAmount ? owed : 0;
    }
}

public enum PayoutStatus { Pending, InTransit, Paid, Failed }
