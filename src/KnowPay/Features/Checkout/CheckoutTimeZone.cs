using System.Globalization;
using System.Text.RegularExpressions;
using KnowPay.Providers;

namespace KnowPay.Features.Checkout;

/// <summary>
/// The time zone the checkout shows times in: <c>?tz=</c> (an IANA id such as America/New_York) when given and known,
/// else the page language's: zh-CN → China Standard Time (UTC+8, no daylight saving since 1991, so a fixed offset is
/// exact), en → UTC.
/// </summary>
public static partial class CheckoutTimeZone
{
    public const string QueryKey = "tz";

    static readonly TimeZoneInfo China = TimeZoneInfo.CreateCustomTimeZone("Asia/Shanghai", ProviderProtocol.ChinaStandardTimeOffset, "China Standard Time", "China Standard Time");

    public static TimeZoneInfo For(string? tz, string lang) =>
        Requested(tz) ?? (lang == "zh-CN" ? China : TimeZoneInfo.Utc);

    /// <summary>The IANA zone asked for, or null: an id of the tz database's shape only, so no path reaches the zone lookup.</summary>
    public static TimeZoneInfo? Requested(string? tz) =>
        tz is { Length: > 0 } && IanaId().IsMatch(tz) && !tz.Contains("..", StringComparison.Ordinal) &&
        TimeZoneInfo.TryFindSystemTimeZoneById(tz, out var zone) ? zone : null;

    /// <summary>The instant in the zone: the <c>&lt;time datetime&gt;</c> value (with its offset) and the text shown, e.g. "2026-12-03 22:00 UTC+08:00".</summary>
    public static (string Attribute, string Text) Show(DateTime utc, TimeZoneInfo zone)
    {
        var local = TimeZoneInfo.ConvertTime(new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc)), zone);
        var offset = local.Offset == TimeSpan.Zero ? "UTC"
            : "UTC" + (local.Offset < TimeSpan.Zero ? "-" : "+") + local.Offset.ToString(@"hh\:mm", CultureInfo.InvariantCulture);
        return (local.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture),
            local.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " " + offset);
    }

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")]
    private static partial Regex IanaId();
}
