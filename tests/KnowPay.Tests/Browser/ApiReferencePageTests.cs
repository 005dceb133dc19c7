using KnowPay.Tests.Infrastructure;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

/// <summary>The API reference at /docs, as a developer opens it on a self-hosted install that may have no internet access.</summary>
[Collection("server")]
public sealed class ApiReferencePageTests(Servers servers, ITestOutputHelper output)
{
    static readonly string[] Groups = ["Orders", "Payments", "Refunds", "Products", "Customers", "Creators", "Entitlements", "Events", "Webhook endpoints", "Ledger", "Payouts"];

    [SkippableFact]
    public async Task Docs_InChromium_ShowsTheIntroductionAndResourceGroups_AndReachesNoHostedService()
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var page = await chromium.NewPageAsync(1280, 900);
        var origin = new Uri(server.BaseUrl).GetLeftPart(UriPartial.Authority);
        var external = new List<string>();
        page.Request += (_, request) =>
        {
            if (request.Url.StartsWith("http", StringComparison.Ordinal) && !request.Url.StartsWith(origin, StringComparison.Ordinal))
                lock (external) external.Add(request.Url);
        };

        await page.GotoAsync($"{server.BaseUrl}/docs");
        await Expect(page.GetByText("Authentication").First).ToBeVisibleAsync(new() { Timeout = 20_000 });
        await Expect(page.GetByText("KnowPay-Signature").First).ToBeAttachedAsync();
        var sidebar = await page.Locator("body").InnerTextAsync();
        foreach (var group in Groups) Assert.Contains(group, sidebar);
        Assert.DoesNotContain("CreateOrder\n", sidebar); // the old class-name groups

        var links = await page.EvalOnSelectorAllAsync<string[]>("a[href]", "links => links.filter(a => a.checkVisibility()).map(a => a.href)");
        var hosted = links.Where(l => l.StartsWith("http", StringComparison.Ordinal) && !l.StartsWith(origin, StringComparison.Ordinal)).ToList();
        await Chromium.ScreenshotAsync(page, "api-reference", output);
        output.WriteLine($"links: {links.Length}, outside this server: {string.Join(", ", hosted)}; requests outside: {string.Join(", ", external)}");
        Assert.Empty(hosted);
        Assert.Empty(external);
        foreach (var text in new[] { "Ask AI", "Generate SDK", "Deploy", "Open in Scalar", "Powered by Scalar" })
            Assert.Equal(0, await page.Locator($"text={text} >> visible=true").CountAsync());
        Assert.Empty(chromium.Errors);
    }
}
