using KnowPay.Infrastructure;

namespace KnowPay.Features.Fx;

/// <summary><c>Fx:*</c>: where reference rates come from and how long a rate and a quote are good for.</summary>
public sealed class FxOptions : IBoundOptions
{
    public static string Section => "Fx";
    /// <summary>The ECB daily reference rates (eurofxref-daily.xml); empty = the embedded sandbox's copy when it runs, else none.</summary>
    [HttpUrl] public string? SourceUrl { get; set; }
    /// <summary>A rate older than this refuses conversion (fx_rate_stale) rather than guess; the ECB publishes on working days.</summary>
    [Between(1, 24 * 30)] public double MaxAgeHours { get; set; } = 96;
    /// <summary>How long a quote (and the converted price on an order) holds before a new payment re-quotes it.</summary>
    [Between(1, 7 * 24 * 60)] public int QuoteMinutes { get; set; } = 30;
    /// <summary>How often the fx_rates job fetches the source.</summary>
    [Between(1, 24 * 60)] public int RefreshMinutes { get; set; } = 60;
}
