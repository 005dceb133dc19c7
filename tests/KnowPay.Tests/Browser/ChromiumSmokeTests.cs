namespace KnowPay.Tests.Browser;

public sealed class ChromiumSmokeTests
{
    [SkippableFact]
    public async Task Chromium_Launches_AndRendersAPage()
    {
        await using var chromium = await Chromium.LaunchAsync();
        var page = await chromium.NewPageAsync();
        await page.SetContentAsync("<h1 id=x>hello</h1>");
        Assert.Equal("hello", await page.InnerTextAsync("#x"));
        Assert.Empty(chromium.Errors);
    }
}
