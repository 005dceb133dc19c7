using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Features.Ledger;

public static class Journals
{
    /// <summary>
    /// A balanced journal for one money event; (merchant, source type, source id) is unique in the database.
    /// Pass <paramref name="paymentId"/> for every journal that moves a payment's money (refunds, releases): the
    /// invariant check compares each payment's captured − refunded with its clearing postings through it.
    /// A payment_confirmed journal is linked to its payment without it. The journal and its entries are dated
    /// <paramref name="now"/>; a day already closed refuses them (<see cref="LedgerPeriods"/>).
    /// </summary>
    public static LedgerJournal Build(string merchantId, string sourceType, string sourceId, string description, IReadOnlyList<Posting> postings, DateTime now,
        string? paymentId = null, DateOnly? correctsDay = null)
    {
        if (postings.GroupBy(p => p.Currency).Any(g => g.Sum(p => p.Amount) != 0))
            throw new InvalidOperationException($"journal for {sourceType} {sourceId} does not balance");
        var journal = new LedgerJournal
        {
            Id = Ids.New("jrn"), MerchantId = merchantId, SourceType = sourceType, SourceId = sourceId, Description = description, CreatedAt = now,
            PaymentId = paymentId ?? (sourceType == "payment_confirmed" ? sourceId : null), CorrectsDay = correctsDay,
        };
        foreach (var p in postings)
            journal.Entries.Add(new LedgerEntry
            {
                JournalId = journal.Id, MerchantId = merchantId, Account = p.Account, Currency = p.Currency, Amount = p.Amount, CreatedAt = now,
            });
        return journal;
    }
}
