namespace KnowPay.Data;

/// <summary>One money event, posted once: unique per (merchant, source type, source id).</summary>
public sealed class LedgerJournal
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    /// <summary>payment_confirmed, refund, hold_release, payout, payout_failed, adjustment, …</summary>
    public required string SourceType { get; init; }
    public required string SourceId { get; init; }
    /// <summary>The payment this journal concerns (payment, refund, hold release), for the per-payment invariant; null otherwise.</summary>
    public string? PaymentId { get; init; }
    public string? Description { get; init; }
    public DateTime CreatedAt { get; init; }
    /// <summary>The closed day a later correction concerns: it is posted on an open day and names the closed one here.</summary>
    public DateOnly? CorrectsDay { get; init; }
    public List<LedgerEntry> Entries { get; init; } = [];
}

/// <summary>Append-only: never updated or deleted (triggers refuse it on PostgreSQL and SQLite).</summary>
public sealed class LedgerEntry
{
    public long Id { get; init; }
    public required string JournalId { get; init; }
    public required string MerchantId { get; init; }
    public required string Account { get; init; }
    public required string Currency { get; init; }
    /// <summary>Debit positive, credit negative.</summary>
    public long Amount { get; init; }
    public DateTime CreatedAt { get; init; }
}
