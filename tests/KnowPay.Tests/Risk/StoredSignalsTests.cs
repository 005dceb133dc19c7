using KnowPay.Domain;
using KnowPay.Features.Risk;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Risk;

/// <summary>A decision's signals stored without their defaults read back as they were decided on.</summary>
public sealed class StoredSignalsTests
{
    static Dictionary<string, object?> RandomSignals(Random rng) => RiskSignals.Catalog.ToDictionary(c => c.Key, c => c.Value == SignalKind.Number
        ? (object?)(rng.Next(3) == 0 ? rng.NextInt64(-5, long.MaxValue / 2) : 0L)
        : rng.Next(3) == 0 ? "v\"é" + rng.Next(1000) : "");

    [Fact]
    public void EveryCatalogSignal_RoundTrips_AndDefaultsAreNotStored()
    {
        var rng = new Random(2205);
        for (var i = 0; i < 2_000; i++)
        {
            var signals = RandomSignals(rng);
            var json = StoredSignals.Write(signals, dense: false);
            Assert.Equal(signals.OrderBy(s => s.Key), StoredSignals.Read(json, null).OrderBy(s => s.Key));
            var stored = Json.Parse(json).AsObject();
            Assert.Equal(signals.Where(s => s.Value is not (0L or "")).Select(s => s.Key).Order(), stored.Select(s => s.Key).Order());
        }
    }

    [Fact]
    public void WithAnUnavailableGroup_ZerosAreStored_AndNothingIsFilledIn()
    {
        var signals = RandomSignals(new Random(5));
        signals.Remove("consumed_progress");
        signals["orders_per_customer_24h"] = 0L;
        var json = StoredSignals.Write(signals, dense: true);
        Assert.Contains("\"orders_per_customer_24h\":0", json);
        var read = StoredSignals.Read(json, "entitlements");
        Assert.False(read.ContainsKey("consumed_progress"));
        Assert.Equal(signals.OrderBy(s => s.Key), read.OrderBy(s => s.Key));
    }

    [Fact]
    public void AStoredDecisionOfTheFullForm_ReadsAsItWas()
    {
        var signals = RandomSignals(new Random(6));
        Assert.Equal(signals.OrderBy(s => s.Key), StoredSignals.Read(System.Text.Json.JsonSerializer.Serialize(signals), null).OrderBy(s => s.Key));
    }
}
