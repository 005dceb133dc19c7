namespace KnowPay.Data;

/// <summary>
/// The first request seen for an Idempotency-Key. The primary key (merchant, key) is the arbiter between
/// concurrent requests: the insert that wins executes, every other one replays or is refused.
/// </summary>
public sealed class IdempotencyRecord
{
    public required string MerchantId { get; init; }
    public required string Key { get; init; }
    public required string RequestHash { get; init; }
    public required string Path { get; init; }
    public int? StatusCode { get; set; }
    public string? ContentType { get; set; }
    public byte[]? ResponseBody { get; set; }
    public DateTime CreatedAt { get; init; }
    /// <summary>When the current attempt claimed the key; a key still in progress a lease after it is taken over by a
    /// retry (its attempt died). Null on keys stored before leases existed: such a key's lease has expired.</summary>
    public DateTime? ClaimedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
}
