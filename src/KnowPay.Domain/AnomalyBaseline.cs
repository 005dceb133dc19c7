namespace KnowPay.Domain;

/// <summary>
/// One merchant's payments at one provider as an exponentially weighted history of hourly buckets: every hour the tallies
/// decay by 2^(−1/half-life) and the hour's settled and succeeded counts are added. The baseline success rate is
/// <see cref="Succeeded"/> ÷ <see cref="Settled"/>, so a busy hour weighs more than a quiet one, and <see cref="Settled"/>
/// is the baseline's effective sample size. <see cref="Hours"/> is the hours' own decayed tally, so that
/// <see cref="Settled"/> ÷ <see cref="Hours"/> is the weighted mean volume per hour, also over a short history.
/// </summary>
public sealed record AnomalyBaseline(double Settled, double Succeeded, double Hours)
{
    public static AnomalyBaseline Empty { get; } = new(0, 0, 0);

    public double Rate => Settled > 0 ? Succeeded / Settled : 1;

    /// <summary>The weighted mean of settled payments per hour.</summary>
    public double HourlyVolume => Hours > 0 ? Settled / Hours : 0;

    /// <summary>Adds an hour's bucket <paramref name="hours"/> after the last one folded (the hours between had no payments).</summary>
    public AnomalyBaseline Fold(long settled, long succeeded, double halfLifeHours, int hours = 1)
    {
        var decay = Decay(halfLifeHours, hours);
        return new(Settled * decay + settled, Succeeded * decay + succeeded, Hours * decay + 1);
    }

    /// <summary>What an hour's weight is multiplied by after <paramref name="hours"/> hours.</summary>
    public static double Decay(double halfLifeHours, double hours) => Math.Pow(2, -hours / halfLifeHours);
}

/// <summary>When the current window's success rate is an anomaly: see <see cref="AnomalyJudge.Judge"/>.</summary>
public sealed record AnomalyThresholds(int MinAttempts, double MinBaselineAttempts, double ZScore, double MinDrop);

/// <summary>The verdict on one window: its rate, the baseline's, the z-score and whether it fires; TooFew = not enough attempts to say either way.</summary>
public sealed record AnomalyVerdict(double Rate, double BaselineRate, double Z, bool Anomalous, bool TooFew);

public static class AnomalyJudge
{
    /// <summary>
    /// A window of <paramref name="settled"/> attempts is anomalous when it has at least MinAttempts, the baseline at least
    /// MinBaselineAttempts, and its rate is both ZScore standard errors and MinDrop below the baseline rate. The z-score
    /// (binomial standard error at the baseline rate, Laplace-smoothed so that a baseline of 100 % still has a spread) says
    /// the drop is not chance; the absolute drop says it matters, which z alone does not at high volume (98 → 97 % over
    /// 10,000 attempts is z ≈ −7). Too few attempts in the window or the baseline: not anomalous, and TooFew.
    /// </summary>
    public static AnomalyVerdict Judge(AnomalyBaseline baseline, long settled, long succeeded, AnomalyThresholds t)
    {
        var rate = settled > 0 ? (double)succeeded / settled : 1;
        var p0 = baseline.Rate;
        if (settled < t.MinAttempts || baseline.Settled < t.MinBaselineAttempts) return new(rate, p0, 0, false, true);
        var smoothed = (baseline.Succeeded + 1) / (baseline.Settled + 2);
        var z = (rate - p0) / Math.Sqrt(smoothed * (1 - smoothed) / settled);
        return new(rate, p0, z, z <= -t.ZScore && p0 - rate >= t.MinDrop, false);
    }
}
