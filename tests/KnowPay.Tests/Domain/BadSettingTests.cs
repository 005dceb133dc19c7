using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;

namespace KnowPay.Tests.Domain;

/// <summary>A bad setting stops the start, and the message names the setting.</summary>
public sealed class BadSettingTests
{
    [Theory]
    [InlineData("Providers:Stripe:TimeoutMs", "50", "Providers:Stripe:TimeoutMs must be between 100 and 60000")]
    [InlineData("Providers:Alipay:FeeBps", "-1", "Providers:Alipay:FeeBps must be between 0 and 10000")]
    [InlineData("Webhooks:PollMilliseconds", "0", "Webhooks:PollMilliseconds must be between 1 and 600000")]
    [InlineData("Idempotency:RetentionHours", "12", "Idempotency:RetentionHours must be between 24 and 8760")]
    [InlineData("KnowPay:PublicUrl", "localhost:5080", "KnowPay:PublicUrl must be an absolute http(s) URL")]
    [InlineData("Sandbox:TimeCompression", "0", "Sandbox:TimeCompression must be between 0.001 and 1000000")]
    [InlineData("Jobs:IntervalSeconds", "soon", "Jobs:IntervalSeconds")]
    public async Task ABadSetting_StopsTheStart_NamingTheSetting(string key, string value, string message)
    {
        var failure = await Record.ExceptionAsync(() => StartAsync(new() { [key] = value }));
        Assert.NotNull(failure);
        Assert.Contains(message, failure.Message + string.Join("\n", Inner(failure).Select(e => e.Message)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GoodSettings_Start()
    {
        Assert.Null(await Record.ExceptionAsync(() => StartAsync(new() { ["Providers:Stripe:TimeoutMs"] = "1000", ["Webhooks:PollMilliseconds"] = "200" })));
    }

    static IEnumerable<Exception> Inner(Exception e)
    {
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException) yield return inner;
    }

    static async Task StartAsync(Dictionary<string, string?> settings)
    {
        var config = new Dictionary<string, string?>
        {
            ["Database:Provider"] = "sqlite",
            ["ConnectionStrings:KnowPay"] = $"Data Source={Path.Combine(Path.GetTempPath(), "knowpay-settings-" + Guid.NewGuid().ToString("N")[..12] + ".db")}",
            ["Sandbox:Enabled"] = "true",
            ["Jobs:Enabled"] = "false",
            ["Webhooks:DispatcherEnabled"] = "false",
            ["Demo:Seed"] = "false",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in settings) config[k] = v;
        var app = KnowPayApp.Build(["--environment=Testing"], b =>
        {
            b.Configuration.AddInMemoryCollection(config);
            b.WebHost.UseUrls("http://127.0.0.1:0");
        });
        try
        {
            await app.StartAsync();
            await app.StopAsync();
        }
        finally
        {
            await app.DisposeAsync();
        }
    }
}
