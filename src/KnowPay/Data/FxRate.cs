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
