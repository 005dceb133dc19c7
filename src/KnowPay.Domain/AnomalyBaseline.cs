namespace KnowPay.Domain;

/// <summary>
/// One merchant's tally of one metric at one provider as an exponentially weighted history of hourly buckets: every hour
/// the tallies decay by 2^(−1/half-life) and the hour's counts are added. <see cref="Total"/> counts what a rate is taken
/// over (payments, paid payments, risk decisions) and <see cref="Hits"/> those it counts (succeeded, refunded, blocked):
/// the baseline rate is Hits ÷ Total, so a busy hour weighs more than a quiet one, and Total is the baseline's effective
/// sample size. <see cref="Hours"/> is the folded hours' own decayed tally, so that Total ÷ Hours is the weighted mean
/// volume per hour, also over a short history.
/// </summary>
public sealed record AnomalyBaseline(double Total, double Hits, double Hours)
{
    public static AnomalyBaseline Empty { get; } = new(0, 0, 0);

    public double Rate => Total > 0 ? Hits / Total : 0;

    /// <summary>The weighted mean of <see cref="Total"/> per folded hour.</summary>
    public double HourlyVolume => Hours > 0 ? Total / Hours : 0;

    /// <summary>Adds an hour's bucket <paramref name="hours"/> after the last one folded (the hours between had nothing).</summary>
    public AnomalyBaseline Fold(long total, long hits, double halfLifeHours, int hours = 1)
    {
        var decay = Decay(halfLifeHours, hours);
        return new(Total * decay + total, Hits * decay + hits, Hours * decay + 1);
    }

    /// <summary>What an hour's weight is multiplied by after <paramref name="hours"/> hours.</summary>
    public static double Decay(double halfLifeHours, double hours) => Math.Pow(2, -hours / halfLifeHours);
}

/// <summary>Which way a rate moves when something is wrong: success falls, refunds and blocks rise.</summary>
public enum AnomalyDirection { Falls, Rises }

/// <summary>
/// When a window is an anomaly: see <see cref="AnomalyJudge"/>. MinRateChange is in rate points (0.1 = ten points);
/// VolumeFactor is how many times above or below its expected volume a window must be; MinSameHourSamples is how many
/// days an hour of day's rate baseline must have learnt from before a rate is judged against it.
/// </summary>
public sealed record AnomalyThresholds(int MinAttempts, double MinBaselineAttempts, double ZScore, double MinRateChange, double VolumeFactor = 3,
    int MinSameHourSamples = 7);

/// <summary>Which baseline a window was judged against: its hours of day's, or the pooled one of every hour.</summary>
public enum AnomalyBaselineKind { SameHour, EveryHour }

/// <summary>
/// An hour of day's baseline as a window sees it: how many hours (one a day) it has learnt from, and the share of the
/// window that falls in that hour of day.
/// </summary>
public sealed record HourOfDayBaseline(AnomalyBaseline Baseline, int Samples, double Share);

/// <summary>
/// The verdict on one window: its value (a rate, or a count for volume), the baseline's (the baseline rate, or the expected
/// count), the z-score and whether it fires; TooFew = not enough data to say either way.
/// </summary>
public sealed record AnomalyVerdict(double Rate, double BaselineRate, double Z, bool Anomalous, bool TooFew);

public static class AnomalyJudge
{
    /// <summary>
    /// A window of <paramref name="total"/> is anomalous when it has at least MinAttempts, the baseline at least
    /// MinBaselineAttempts, and its rate is both ZScore standard errors and MinRateChange beyond the baseline rate in the
    /// <paramref name="direction"/> that means trouble. The z-score (binomial standard error at the baseline rate,
    /// Laplace-smoothed so that a baseline of 100 % or 0 % still has a spread) says the change is not chance; the absolute
    /// change says it matters, which z alone does not at high volume (98 → 97 % over 10,000 attempts is z ≈ −7).
    /// </summary>
    public static AnomalyVerdict Rate(AnomalyBaseline baseline, long total, long hits, AnomalyDirection direction, AnomalyThresholds t)
    {
        var p0 = baseline.Rate;
        var rate = total > 0 ? (double)hits / total : p0;
        if (total < t.MinAttempts || baseline.Total < t.MinBaselineAttempts) return new(rate, p0, 0, false, true);
        var smoothed = (baseline.Hits + 1) / (baseline.Total + 2);
        var z = (rate - p0) / Math.Sqrt(smoothed * (1 - smoothed) / total);
        var beyond = direction == AnomalyDirection.Falls ? z <= -t.ZScore && p0 - rate >= t.MinRateChange : z >= t.ZScore && rate - p0 >= t.MinRateChange;
        return new(rate, p0, z, beyond, false);
    }

    /// <summary>
    /// The baseline a rate's window is judged against: the blend of the hours of day it covers, each weighted by its share
    /// of the window, once every one of them has learnt from MinSameHourSamples days and holds MinBaselineAttempts; before,
    /// the pooled baseline of every hour. An hour of day learns once a day, so it warms up in weeks, the pool in hours.
    /// </summary>
    public static (AnomalyBaseline Baseline, AnomalyBaselineKind Kind) RateBaseline(AnomalyBaseline everyHour,
        IReadOnlyList<HourOfDayBaseline> hours, AnomalyThresholds t)
    {
        var warm = hours.Count > 0 && hours.All(h => h.Samples >= t.MinSameHourSamples && h.Baseline.Total >= t.MinBaselineAttempts);
        if (!warm) return (everyHour, AnomalyBaselineKind.EveryHour);
        var share = hours.Sum(h => h.Share);
        return (new(hours.Sum(h => h.Baseline.Total * h.Share) / share, hours.Sum(h => h.Baseline.Hits * h.Share) / share,
            hours.Sum(h => h.Baseline.Hours * h.Share) / share), AnomalyBaselineKind.SameHour);
    }

    /// <summary>
    /// A window of <paramref name="count"/> against the <paramref name="expected"/> count its baseline predicts is anomalous
    /// when it is ZScore Poisson standard deviations (√expected) away and at least VolumeFactor times above or below it.
    /// Too few to judge: a baseline under MinBaselineAttempts, or both the count and the expectation under MinAttempts (a
    /// quiet merchant's hour says nothing either way).
    /// </summary>
    public static AnomalyVerdict Volume(double expected, double baselineWeight, long count, AnomalyThresholds t)
    {
        if (Math.Max(count, expected) < t.MinAttempts || baselineWeight < t.MinBaselineAttempts) return new(count, expected, 0, false, true);
        var z = (count - expected) / Math.Sqrt(Math.Max(expected, 1));
        var far = count >= expected * t.VolumeFactor || count * t.VolumeFactor <= expected;
        return new(count, expected, z, Math.Abs(z) >= t.ZScore && far, false);
    }
}
