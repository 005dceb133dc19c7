using KnowPay.Domain;

namespace KnowPay.Data;

/// <summary>
/// One transfer of a creator's available balance through a provider. Created (pending) in the same transaction as its
/// "payout" journal; settled (paid) or reversed (failed) exactly once by a conditional update plus a unique journal.
/// (merchant, creator, currency, sequence) is unique: two batches racing for one creator cannot both pay it.
/// </summary>
public sealed class Payout
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string CreatorId { get; init; }
    public required string BatchId { get; init; }
    public required string Provider { get; init; }
    public long Amount { get; init; }
    public required string Currency { get; init; }
    public int Sequence { get; init; }
    public PayoutStatus Status { get; set; }
    public string? ProviderTransferNo { get; set; }
    public string? FailureCode { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? LastSentAt { get; set; }
    public DateTime? PaidAt { get; set; }
    public DateTime? FailedAt { get; set; }
}
