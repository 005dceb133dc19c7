namespace KnowPay.Domain;

public enum BillingInterval { Day, Week, Month, Year }

/// <summary>
/// A recurring price's period, as Stripe's: <see cref="Interval"/> × <see cref="Count"/>. Month and year periods are anchored
/// on the start day and clamped to the month's end (Jan 31 → Feb 28/29 → Mar 31): period N is computed from the anchor, never
/// by adding to the previous period's end, so a clamp in February does not drift the day of every later period.
/// </summary>
public sealed record BillingSchedule(BillingInterval Interval, int Count)
{
    /// <summary>At most one year per period (365 days, 52 weeks, 12 months, 1 year… up to Stripe's own limits).</summary>
    public static int MaxCount(BillingInterval interval) => interval switch
    {
        BillingInterval.Day => 365,
        BillingInterval.Week => 52,
        BillingInterval.Month => 12,
        _ => 1,
    };

    /// <summary>Reads day|week|month|year and a count ≥ 1; the error code names what is wrong.</summary>
    public static bool TryParse(string? interval, int? count, out BillingSchedule schedule, out string errorCode)
    {
        schedule = new BillingSchedule(BillingInterval.Month, 1);
        BillingInterval parsed;
        switch (interval)
        {
            case "day": parsed = BillingInterval.Day; break;
            case "week": parsed = BillingInterval.Week; break;
            case "month": parsed = BillingInterval.Month; break;
            case "year": parsed = BillingInterval.Year; break;
            default: errorCode = "recurring_interval_invalid"; return false;
        }
        var n = count ?? 1;
        if (n < 1 || n > MaxCount(parsed))
        {
            errorCode = "recurring_interval_count_invalid";
            return false;
        }
        schedule = new BillingSchedule(parsed, n);
        errorCode = "";
        return true;
    }

    public string IntervalName => Interval.ToString().ToLowerInvariant();

    /// <summary>The start of period <paramref name="n"/> (0 = the anchor itself), computed from the anchor.</summary>
    public DateTime PeriodStart(DateTime anchor, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var steps = checked(n * Count);
        return Interval switch
        {
            BillingInterval.Day => anchor.AddDays(steps),
            BillingInterval.Week => anchor.AddDays(7 * steps),
            // AddMonths clamps to the month's last day; from the anchor each time, so 31 → 29 → 31, not 31 → 29 → 29.
            BillingInterval.Month => anchor.AddMonths(steps),
            _ => anchor.AddYears(steps),
        };
    }

    /// <summary>The end of period <paramref name="n"/>: the start of the next.</summary>
    public DateTime PeriodEnd(DateTime anchor, int n) => PeriodStart(anchor, n + 1);
}

/// <summary>
/// The dunning schedule (<c>Billing:RetryDays</c>, default [1, 3, 5, 7]): retry k happens RetryDays[k] days after the first
/// failed attempt of the invoice; after the last retry fails, the subscription becomes unpaid or canceled.
/// </summary>
public sealed record DunningSchedule(IReadOnlyList<int> RetryDays)
{
    public static readonly DunningSchedule Default = new([1, 3, 5, 7]);

    /// <param name="firstFailureAt">When the invoice's first attempt failed.</param>
    /// <param name="failedAttempts">Attempts failed so far, the first included.</param>
    /// <returns>When to try again, or null when the retries are exhausted.</returns>
    public DateTime? NextAttemptAt(DateTime firstFailureAt, int failedAttempts) =>
        failedAttempts >= 1 && failedAttempts - 1 < RetryDays.Count ? firstFailureAt.AddDays(RetryDays[failedAttempts - 1]) : null;

    /// <summary>Days strictly increasing and positive: each retry later than the one before.</summary>
    public static bool IsValid(IReadOnlyList<int> days) => days.Count <= 20 && days.Select((d, i) => d > 0 && (i == 0 || d > days[i - 1])).All(ok => ok);
}
