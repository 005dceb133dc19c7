namespace KnowPay.Domain;

/// <summary>Readable ledger account ids, one per merchant and currency.</summary>
public static class Accounts
{
    public static string ProviderClearing(string provider, string currency) => $"provider:{provider}:clearing:{currency}";
    public static string ProviderFees(string provider, string currency) => $"provider:{provider}:fees:{currency}";
    public static string PlatformRevenue(string currency) => $"platform:revenue:{currency}";
    public static string CreatorPending(string creatorId, string currency) => $"creator:{creatorId}:pending:{currency}";
    public static string CreatorAvailable(string creatorId, string currency) => $"creator:{creatorId}:available:{currency}";
    public static string Refunds(string currency) => $"refunds:{currency}";
    public static string PayoutsInTransit(string currency) => $"payouts:in_transit:{currency}";
    /// <summary>What the merchant owes a customer from a downgrade, spent on their next invoices (credit-negative).</summary>
    public static string CustomerCredit(string customerId, string currency) => $"customer:{customerId}:credit:{currency}";

    /// <summary>The FX account of one currency pair (the price's, then the paid one): it holds the position in both currencies.</summary>
    public static string Fx(string priced, string paid) => $"fx:{priced}:{paid}";
    /// <summary>Realised FX: the provider's conversion less what the locked quote implied (credit-negative = a gain).</summary>
    public static string FxGainLoss(string currency) => $"fx_gain_loss:{currency}";

    public static bool IsProviderClearing(string account) => account.StartsWith("provider:", StringComparison.Ordinal) && account.Contains(":clearing:", StringComparison.Ordinal);
}

/// <summary>One line of a journal. Debits are positive, credits negative; a journal sums to zero per currency.</summary>
public sealed record Posting(string Account, string Currency, long Amount);

public static class Postings
{
    /// <summary>
    /// Payment confirmed: the provider owes us the amount (clearing, debit); the creator's share is payable
    /// but held (pending, credit); the fee is owed to the provider (fees, credit); the rest is platform revenue.
    /// </summary>
    public static IReadOnlyList<Posting> PaymentConfirmed(string provider, string creatorId, Money amount, RevenueSplit split)
    {
        var c = amount.Currency.Code;
        if (split.Total != amount.MinorUnits) throw new InvalidOperationException("split does not sum to the amount");
        return NonZero(
            new Posting(Accounts.ProviderClearing(provider, c), c, amount.MinorUnits),
            new Posting(Accounts.CreatorPending(creatorId, c), c, -split.Creator),
            new Posting(Accounts.ProviderFees(provider, c), c, -split.Fee),
            new Posting(Accounts.PlatformRevenue(c), c, -split.Platform));
    }

    /// <summary>
    /// Refund succeeded: the provider pays the learner back from our clearing (credit); the creator's part is clawed
    /// back from pending first, then available (which may go negative, visible in the statement); the rest comes out
    /// of platform revenue. The provider fee is not returned by providers, so it stays booked (platform bears it).
    /// </summary>
    public static IReadOnlyList<Posting> RefundSucceeded(string provider, string creatorId, string currency, long refund, long creatorPart, long creatorPendingBalance)
    {
        // Balances are credit-negative: a creator holding 100 in pending has a balance of -100.
        var fromPending = Math.Min(creatorPart, Math.Max(0, -creatorPendingBalance));
        return NonZero(
            new Posting(Accounts.ProviderClearing(provider, currency), currency, -refund),
            new Posting(Accounts.CreatorPending(creatorId, currency), currency, fromPending),
            new Posting(Accounts.CreatorAvailable(creatorId, currency), currency, creatorPart - fromPending),
            new Posting(Accounts.PlatformRevenue(currency), currency, refund - creatorPart));
    }

    /// <summary>The refund window is over: the creator's held funds for one payment become available.</summary>
    public static IReadOnlyList<Posting> HoldReleased(string creatorId, string currency, long amount) => NonZero(
        new Posting(Accounts.CreatorPending(creatorId, currency), currency, amount),
        new Posting(Accounts.CreatorAvailable(creatorId, currency), currency, -amount));

    /// <summary>A payout leaves the creator's available balance and is in transit until the provider settles or fails it.</summary>
    public static IReadOnlyList<Posting> PayoutStarted(string creatorId, string currency, long amount) => NonZero(
        new Posting(Accounts.CreatorAvailable(creatorId, currency), currency, amount),
        new Posting(Accounts.PayoutsInTransit(currency), currency, -amount));

    /// <summary>
    /// The provider paid the creator out of the funds it holds for us: in transit is cleared against that provider's
    /// clearing account (the money the provider owes us goes down by what it paid on our behalf).
    /// </summary>
    public static IReadOnlyList<Posting> PayoutPaid(string provider, string currency, long amount) => NonZero(
        new Posting(Accounts.PayoutsInTransit(currency), currency, amount),
        new Posting(Accounts.ProviderClearing(provider, currency), currency, -amount));

    /// <summary>The provider refused or failed the transfer: the money goes back to the creator's available balance.</summary>
    public static IReadOnlyList<Posting> PayoutFailed(string creatorId, string currency, long amount) => NonZero(
        new Posting(Accounts.PayoutsInTransit(currency), currency, amount),
        new Posting(Accounts.CreatorAvailable(creatorId, currency), currency, -amount));

    /// <summary>
    /// The provider's bill states the real fee of a payment: the fee owed to the provider moves from what was posted to what
    /// was billed, and the platform, which bears provider fees, absorbs the difference (a fee above the estimate costs it).
    /// </summary>
    public static IReadOnlyList<Posting> FeeTrueUp(string provider, string currency, long postedFee, long billedFee) => NonZero(
        new Posting(Accounts.ProviderFees(provider, currency), currency, postedFee - billedFee),
        new Posting(Accounts.PlatformRevenue(currency), currency, billedFee - postedFee));

    public static IReadOnlyList<Posting> NonZero(params Posting[] postings)
    {
        if (postings.GroupBy(p => p.Currency).Any(g => g.Sum(p => p.Amount) != 0))
            throw new InvalidOperationException("journal does not balance");
        return postings.Where(p => p.Amount != 0).ToList();
    }
}
