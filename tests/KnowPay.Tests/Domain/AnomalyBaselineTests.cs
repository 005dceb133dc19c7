using KnowPay.Domain;

namespace KnowPay.Tests.Domain;

public sealed class AnomalyBaselineTests
{
    static readonly AnomalyThresholds Defaults = new(MinAttempts: 30, MinBaselineAttempts: 200, ZScore: 4, MinRateChange: 0.1, VolumeFactor: 3);

    /// <summary>A week of hours at 100 payments and 98 % success.</summary>
    static AnomalyBaseline Week(double rate = 0.98)
    {
        var b = AnomalyBaseline.Empty;
        for (var h = 0; h < 168; h++) b = b.Fold(100, (long)Math.Round(100 * rate), halfLifeHours: 168);
        return b;
    }

    [Fact]
    public void AnHoursWeight_HalvesAfterTheHalfLife()
    {
        var one = AnomalyBaseline.Empty.Fold(100, 100, 168);
        var later = one.Fold(0, 0, 168, hours: 168);
        Assert.Equal(50, later.Total, 9);
        Assert.Equal(1.0, later.Rate, 9);
    }

    [Fact]
    public void Baseline_IsTheWeightedRate_AndVolumeIsPaymentsPerHour()
    {
        var b = Week();
        Assert.Equal(0.98, b.Rate, 9);
        Assert.Equal(100, b.HourlyVolume, 9);
        Assert.Equal(40, AnomalyBaseline.Empty.Fold(40, 40, 168).HourlyVolume, 9);   // one hour is its own mean
    }

    [Fact]
    public void SixtyPercentOverFortyAttempts_AgainstNinetyEight_Fires()
    {
        var v = AnomalyJudge.Rate(Week(), 40, 24, AnomalyDirection.Falls, Defaults);
        Assert.True(v.Anomalous);
        Assert.False(v.TooFew);
        Assert.True(v.Z < -10, $"z = {v.Z}");
    }

    [Fact]
    public void FewerAttemptsThanTheMinimum_NeverFire_AndSaySo()
    {
        var v = AnomalyJudge.Rate(Week(), 29, 0, AnomalyDirection.Falls, Defaults);
        Assert.False(v.Anomalous);
        Assert.True(v.TooFew);
    }

    [Fact]
    public void ASmallDropAtHighVolume_IsSignificant_ButBelowMinRateChange_DoesNotFire()
    {
        var v = AnomalyJudge.Rate(Week(), 10_000, 9_700, AnomalyDirection.Falls, Defaults);
        Assert.True(v.Z < -4, $"z = {v.Z}");
        Assert.False(v.Anomalous);
    }

    [Fact]
    public void ANewBaseline_IsNotTrusted()
    {
        var young = AnomalyBaseline.Empty.Fold(100, 98, 168);
        var v = AnomalyJudge.Rate(young, 100, 10, AnomalyDirection.Falls, Defaults);
        Assert.False(v.Anomalous);
        Assert.True(v.TooFew);
    }

    [Fact]
    public void APerfectBaseline_StillHasASpread_SoOneFailureIsNoAlert()
    {
        var v = AnomalyJudge.Rate(Week(1.0), 30, 29, AnomalyDirection.Falls, Defaults);
        Assert.False(v.Anomalous);
        Assert.True(double.IsFinite(v.Z));
    }

    [Fact]
    public void ARefundRateRisingFromFiveToFiftyPercent_Fires_ButNotWhenJudgedForAFall()
    {
        var b = AnomalyBaseline.Empty;
        for (var h = 0; h < 168; h++) b = b.Fold(100, 5, halfLifeHours: 168);
        Assert.True(AnomalyJudge.Rate(b, 40, 20, AnomalyDirection.Rises, Defaults).Anomalous);
        Assert.False(AnomalyJudge.Rate(b, 40, 20, AnomalyDirection.Falls, Defaults).Anomalous);
        Assert.False(AnomalyJudge.Rate(b, 40, 3, AnomalyDirection.Rises, Defaults).Anomalous);   // 7.5 %: within the spread
    }

    [Theory]
    [InlineData(40, 130, true)]    // more than three times the usual, z = 14
    [InlineData(40, 10, true)]     // under a third of the usual, z = −4.7
    [InlineData(40, 70, false)]    // z = 4.7 but under three times: a busy hour, not an anomaly
    [InlineData(40, 0, true)]      // nothing at all where forty are usual
    [InlineData(10, 0, false)]     // a quiet hour: neither count nor expectation reaches MinAttempts
    public void Volume_FiresOnlyFarFromTheExpectedCount_EitherWay(double expected, long count, bool fires)
    {
        var v = AnomalyJudge.Volume(expected, baselineWeight: 1_000, count, Defaults);
        Assert.Equal(fires, v.Anomalous);
        Assert.Equal(expected, v.BaselineRate);
    }

    [Fact]
    public void Volume_AgainstAYoungBaseline_IsTooFew()
    {
        var v = AnomalyJudge.Volume(40, baselineWeight: 80, 500, Defaults);
        Assert.False(v.Anomalous);
        Assert.True(v.TooFew);
    }
    /// <summary>Days of 03:00 with 100 decisions and 30 blocked: 30 %, the usual at that hour.</summary>
    static HourOfDayBaseline ThreeOClock(int days, double share = 1)
    {
        var b = AnomalyBaseline.Empty;
        for (var d = 0; d < days; d++) b = b.Fold(100, 30, halfLifeHours: 168, hours: 24);
        return new(b, days, share);
    }

    [Fact]
    public void ARateUsualAtItsHourOfDay_IsJudgedAgainstThatHourOnceWarm_NotAgainstThePool()
    {
        var pool = Week(rate: 0.02);   // 2 % over every hour
        var (baseline, kind) = AnomalyJudge.RateBaseline(pool, [ThreeOClock(days: 7)], Defaults);
        Assert.Equal(AnomalyBaselineKind.SameHour, kind);
        Assert.Equal(0.3, baseline.Rate, 9);
        // 30 % of 40: z = 0 against its hour; against the pool z = (0.3 − 0.02) ÷ √(s(1 − s) ÷ 40) with s ≈ 0.02, ≈ 12.6.
        Assert.False(AnomalyJudge.Rate(baseline, 40, 12, AnomalyDirection.Rises, Defaults).Anomalous);
        Assert.True(AnomalyJudge.Rate(pool, 40, 12, AnomalyDirection.Rises, Defaults).Anomalous);
    }

    [Fact]
    public void BeforeItsHourOfDayHasLearntEnoughDays_ARateIsJudgedAgainstThePool()
    {
        var pool = Week(rate: 0.02);
        Assert.Equal((pool, AnomalyBaselineKind.EveryHour), AnomalyJudge.RateBaseline(pool, [ThreeOClock(days: 6)], Defaults));
        // Enough days but too few attempts (MinBaselineAttempts 200): still the pool.
        var quiet = new HourOfDayBaseline(new AnomalyBaseline(150, 45, 7), 7, 1);
        Assert.Equal(AnomalyBaselineKind.EveryHour, AnomalyJudge.RateBaseline(pool, [quiet], Defaults).Kind);
        Assert.Equal(AnomalyBaselineKind.EveryHour, AnomalyJudge.RateBaseline(pool, [], Defaults).Kind);
    }

    [Fact]
    public void AWindowAcrossTwoHoursOfDay_BlendsThemByItsShareInEach_OnlyWhenBothAreWarm()
    {
        var pool = Week(rate: 0.02);
        var four = new HourOfDayBaseline(new AnomalyBaseline(400, 40, 7), 7, 0.75);   // 10 %
        var (blend, kind) = AnomalyJudge.RateBaseline(pool, [ThreeOClock(days: 8, share: 0.25), four], Defaults);
        Assert.Equal(AnomalyBaselineKind.SameHour, kind);
        var three = ThreeOClock(days: 8).Baseline;
        Assert.Equal((0.25 * three.Hits + 0.75 * 40) / (0.25 * three.Total + 0.75 * 400), blend.Rate, 9);
        Assert.Equal(AnomalyBaselineKind.EveryHour, AnomalyJudge.RateBaseline(pool, [ThreeOClock(days: 6, share: 0.25), four], Defaults).Kind);
    }
}
