namespace KnowPay.Providers;

/// <summary>Protocol constants shared by every provider adapter and notification.</summary>
public static class ProviderProtocol
{
    /// <summary>How far a signed timestamp may be from our clock: the window every provider's SDK uses against replays.</summary>
    public static readonly TimeSpan SignatureTolerance = TimeSpan.FromMinutes(5);

    /// <summary>Alipay and WeChat Pay write times and bill days in China Standard Time (UTC+8, no daylight saving).</summary>
    public static readonly TimeSpan ChinaStandardTimeOffset = TimeSpan.FromHours(8);

    /// <summary>Per-attempt timeout of a provider call unless <c>Providers:&lt;Name&gt;:TimeoutMs</c> says otherwise.</summary>
    public const int DefaultTimeoutMs = 5000;
}
