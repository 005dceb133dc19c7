namespace KnowPay.Data;

/// <summary>
/// One reference rate as its source gave it: <see cref="Rate"/> units of <see cref="Quote"/> per unit of <see cref="Base"/>,
/// valid as of <see cref="AsOf"/>. ECB rows are shared (MerchantId ""); a merchant's manual table is its own. One row per
/// (merchant, source, base, quote): a refresh replaces it, and its timestamp says how old it is.
/// </summary>
public sealed class FxRate
{
    public required string MerchantId { get; init; }
    public required string Source { get; init; }
    public required string Base { get; init; }
    public required string Quote { get; init; }
    public decimal Rate { get; set; }
    public DateTime AsOf { get; set; }
    public DateTime UpdatedAt { get; set; }
}

/// <summary>
/// A source's rate for one UTC day (the day of its <see cref="AsOf"/>), kept after the current <see cref="FxRate"/> row moves
/// on, so a report converts each day's money at that day's rate. One row per (merchant, source, base, quote, day).
/// </summary>
public sealed class FxDailyRate
{
    public required string MerchantId { get; init; }
    public required string Source { get; init; }
    public required string Base { get; init; }
    public required string Quote { get; init; }
    public DateOnly Day { get; init; }
    public decimal Rate { get; set; }
    public DateTime AsOf { get; set; }
}
