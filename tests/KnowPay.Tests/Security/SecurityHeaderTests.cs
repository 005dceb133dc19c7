using KnowPay.Infrastructure;
using KnowPay.Tests.Browser;
using KnowPay.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Security;

/// <summary>No Server header; a Content-Security-Policy on every HTML page, under which the pages still work in Chromium.</summary>
[Collection("server")]
public sealed class SecurityHeaderTests(Servers servers, Xunit.Abstractions.ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Answers_CarryNoServerHeader()
    {
        var server = await servers.Get(Db.Sqlite);
        foreach (var path in new[] { "/health/live", "/docs/", "/no-such-page", "/openapi/v1.json" })
        {
            var response = await server.Anonymous.GetAsync(path);
            Assert.False(response.Headers.Contains("Server"), $"{path}: Server: {string.Join(",", response.Headers.Server)}");
        }
    }

    [SkippableFact]
    public async Task DocsAndSandboxPages_HaveACsp_AndWorkUnderItInChromium_WithoutViolations()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var payment = await m.PaymentAsync((string)(await m.OrderAsync(productId))["id"]!);
        var pages = new[] { "/docs/", $"/sandbox/sandboxpay/pay/{payment["id"]}", "/dashboard", (string)(await m.OrderAsync(productId, customer: "l2"))["checkout_url"]! };
        foreach (var page in pages)
        {
            var response = await server.Anonymous.GetAsync(page);
            Assert.StartsWith("text/html", response.Content.Headers.ContentType?.MediaType);
            var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'self'", csp);
            Assert.Contains("frame-ancestors 'none'", csp);
            Assert.DoesNotContain("'unsafe-inline'", csp.Split(';').Single(d => d.Trim().StartsWith("script-src", StringComparison.Ordinal)));
        }

        await using var chromium = await Chromium.LaunchAsync();
        if (chromium is null) return;
        var docs = await chromium.NewPageAsync();
        await docs.GotoAsync($"{server.BaseUrl}/docs/");
        // The served page has a dozen elements; the reference renders hundreds once its scripts (one inline) have run.
        await docs.WaitForFunctionAsync("() => document.querySelectorAll('*').length > 200", null, new() { Timeout = 20_000 });
        await docs.WaitForLoadStateAsync(Microsoft.Playwright.LoadState.NetworkIdle);
        await Chromium.ScreenshotAsync(docs, "docs-1280x800", output);
        Assert.True(chromium.Errors.Count == 0, string.Join("\n", chromium.Errors)); // CSP violations are console errors
        // A fresh trade: the sandbox's compressed clock ends an old one soon.
        var fresh = await m.PaymentAsync((string)(await m.OrderAsync(productId, customer: "l3"))["id"]!);
        var buyer = await chromium.NewPageAsync();
        await buyer.GotoAsync($"{server.BaseUrl}/sandbox/sandboxpay/pay/{fresh["id"]}");
        await buyer.ClickAsync("#pay");
        await Expect(buyer.Locator("#status")).ToHaveTextAsync("PAID");
        Assert.DoesNotContain(chromium.Errors, e => e.Contains("Content Security Policy", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData("http://127.0.0.1:5000", null, false)]
    [InlineData("http://+:80;https://+:443", null, true)]
    [InlineData(null, "https://0.0.0.0:8443", true)]
    [InlineData(null, "http://0.0.0.0:8080", false)]
    public void HstsAndHttpsRedirection_AreOnOnlyWithAnHttpsEndpoint(string? urls, string? kestrelEndpoint, bool tls)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = urls, ["Kestrel:Endpoints:Main:Url"] = kestrelEndpoint,
        }).Build();
        Assert.Equal(tls, SecurityHeaders.TlsConfigured(config));
    }
}
