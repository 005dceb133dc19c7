using KnowPay.Domain;

namespace KnowPay.Tests.Domain;

public sealed class AnomalyBaselineTests
{
    static readonly AnomalyThresholds Defaults = new(MinAttempts: 30, MinBaselineAttempts: 200, ZScore: 4, MinDrop: 0.1);

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
        Assert.Equal(50, later.Settled, 9);
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
        var v = AnomalyJudge.Judge(Week(), 40, 24, Defaults);
        Assert.True(v.Anomalous);
        Assert.False(v.TooFew);
        Assert.True(v.Z < -10, $"z = {v.Z}");
    }

    [Fact]
    public void FewerAttemptsThanTheMinimum_NeverFire_AndSaySo()
    {
        var v = AnomalyJudge.Judge(Week(), 29, 0, Defaults);
        Assert.False(v.Anomalous);
        Assert.True(v.TooFew);
    }

    [Fact]
    public void ASmallDropAtHighVolume_IsSignificant_ButBelowMinDrop_DoesNotFire()
    {
        var v = AnomalyJudge.Judge(Week(), 10_000, 9_700, Defaults);
        Assert.True(v.Z < -4, $"z = {v.Z}");
        Assert.False(v.Anomalous);
    }

    [Fact]
    public void ANewBaseline_IsNotTrusted()
    {
        var young = AnomalyBaseline.Empty.Fold(100, 98, 168);
        var v = AnomalyJudge.Judge(young, 100, 10, Defaults);
        Assert.False(v.Anomalous);
        Assert.True(v.TooFew);
    }

    [Fact]
    public void APerfectBaseline_StillHasASpread_SoOneFailureIsNoAlert()
    {
        var v = AnomalyJudge.Judge(Week(1.0), 30, 29, Defaults);
        Assert.False(v.Anomalous);
        Assert.True(double.IsFinite(v.Z));
    }
}
