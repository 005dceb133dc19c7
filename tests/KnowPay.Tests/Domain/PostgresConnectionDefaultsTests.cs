using KnowPay.Infrastructure;
using Npgsql;

namespace KnowPay.Tests.Domain;

/// <summary>What KnowPay adds to a PostgreSQL connection string, and that it never overrides what the string sets.</summary>
public sealed class PostgresConnectionDefaultsTests
{
    [Fact]
    public void Unset_GetsKnowPaysDefaults()
    {
        var b = new NpgsqlConnectionStringBuilder(Database.TunedForHotPath("Host=db;Database=knowpay;Username=knowpay"));
        Assert.True(b.Multiplexing);
        Assert.True(b.NoResetOnClose);
        Assert.Equal(128, b.MaxAutoPrepare);
        Assert.Equal(16, b.MaxPoolSize);
        Assert.Equal("db", b.Host);
    }

    [Theory]
    [InlineData("Maximum Pool Size=100")]
    [InlineData("MaxPoolSize=100")]
    public void PoolSizeSet_IsKept(string setting)
    {
        var b = new NpgsqlConnectionStringBuilder(Database.TunedForHotPath("Host=db;Database=knowpay;" + setting));
        Assert.Equal(100, b.MaxPoolSize);
    }

    [Fact]
    public void OtherSettings_AreKept()
    {
        var b = new NpgsqlConnectionStringBuilder(Database.TunedForHotPath("Host=db;Multiplexing=false;No Reset On Close=false;Max Auto Prepare=0"));
        Assert.False(b.Multiplexing);
        Assert.False(b.NoResetOnClose);
        Assert.Equal(0, b.MaxAutoPrepare);
    }
}
