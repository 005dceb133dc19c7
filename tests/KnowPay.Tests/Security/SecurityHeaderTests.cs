using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
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

    /// <summary>A real TLS endpoint (a self-signed certificate from a file, as the README configures one): answers over https
    /// carry HSTS, and plain http is redirected to the https port. The host is not loopback, which HSTS leaves out.</summary>
    [SkippableFact]
    public async Task WithAKestrelCertificate_HttpsAnswersCarryHsts_AndHttpIsRedirected()
    {
        var pfx = Path.Combine(Path.GetTempPath(), "knowpay-tls-" + Guid.NewGuid().ToString("N")[..12] + ".pfx");
        using (var rsa = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=pay.example.test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("pay.example.test");
            request.CertificateExtensions.Add(san.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test-password"));
        }
        var (httpPort, httpsPort) = (FreePort(), FreePort());
        await using var server = await KnowPayServer.StartAsync(Db.Sqlite, new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Http:Url"] = $"http://127.0.0.1:{httpPort}",
            ["Kestrel:Endpoints:Https:Url"] = $"https://127.0.0.1:{httpsPort}",
            ["Kestrel:Endpoints:Https:Certificate:Path"] = pfx,
            ["Kestrel:Endpoints:Https:Certificate:Password"] = "test-password",
        });
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert?.Subject == "CN=pay.example.test" };
        using var client = new HttpClient(handler);

        using var secure = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{httpsPort}/health/live");
        secure.Headers.Host = $"pay.example.test:{httpsPort}";
        var answer = await client.SendAsync(secure);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.StartsWith("max-age=", string.Join(",", answer.Headers.GetValues("Strict-Transport-Security")));

        using var plain = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{httpPort}/health/live");
        plain.Headers.Host = $"pay.example.test:{httpPort}";
        var redirect = await client.SendAsync(plain);
        Assert.Equal(HttpStatusCode.TemporaryRedirect, redirect.StatusCode);
        Assert.Equal($"https://pay.example.test:{httpsPort}/health/live", redirect.Headers.Location?.ToString());
        Assert.False(redirect.Headers.Contains("Strict-Transport-Security")); // HSTS is only sent over https
        File.Delete(pfx);
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
