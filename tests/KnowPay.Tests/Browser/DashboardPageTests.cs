using KnowPay.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

[Collection("server")]
public sealed class DashboardPageTests(Servers servers, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Dashboard_InChromium_SignsInWithAKey_AndItsNumbersChangeLiveAsSandboxPaymentsFlow()
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));

        var page = await chromium.NewPageAsync(1280, 800);
        await page.GotoAsync($"{server.BaseUrl}/dashboard");
        await page.FillAsync("#api_key", "sk_test_wrong");
        await page.ClickAsync("#sign-in");
        await Expect(page.Locator(".error")).ToContainTextAsync("not valid");
        chromium.Errors.Clear(); // the 401 answer to the wrong key is logged by Chromium as a failed resource
        await page.FillAsync("#api_key", m.Secret);
        await page.ClickAsync("#sign-in");
        await Expect(page.Locator("#live")).ToHaveAttributeAsync("data-state", "live");
        await Expect(page.Locator("#kpi-succeeded")).ToHaveTextAsync("0");

        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "knowpay_dashboard");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.DoesNotContain(m.Secret, cookie.Value);
        Assert.Equal("", await page.EvaluateAsync<string>("document.cookie"));

        // Payments flow; the page updates from the event stream without a reload.
        var navigations = 0;
        page.FrameNavigated += (_, _) => navigations++;
        for (var i = 0; i < 4; i++)
        {
            var order = await m.OrderAsync(productId, customer: $"learner-{i}");
            var payment = await m.PaymentAsync((string)order["id"]!);
            if (i < 3)
            {
                await m.BuyerPaysAsync((string)payment["id"]!);
                await m.WaitForOrderAsync((string)order["id"]!, "paid");
            }
        }
        await Expect(page.Locator("#kpi-succeeded")).ToHaveTextAsync("3", new() { Timeout = 10_000 });
        await Expect(page.Locator("#kpi-volume")).ToHaveTextAsync("297.00 CNY");
        await Expect(page.Locator("#orders tr")).ToHaveCountAsync(4);
        await Expect(page.Locator(".provider[data-provider=sandbox] .provider-rate")).ToHaveTextAsync("100.0% · 3/3");
        Assert.NotEqual("–", await page.InnerTextAsync("#kpi-p50"));
        Assert.NotEqual("0.00", await page.InnerTextAsync("#kpi-pps"));
        Assert.Equal(0, navigations);
        await Chromium.ScreenshotAsync(page, "dashboard-1280x800", output);

        var phone = await chromium.NewPageAsync(390, 844);
        await phone.GotoAsync($"{server.BaseUrl}/dashboard");
        await phone.FillAsync("#api_key", m.Secret);
        await phone.ClickAsync("#sign-in");
        await Expect(phone.Locator("#kpi-succeeded")).ToHaveTextAsync("3");
        var overflow = await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth > window.innerWidth");
        Assert.False(overflow, "the dashboard scrolls sideways at 390 px");
        await Chromium.ScreenshotAsync(phone, "dashboard-390x844", output);

        await page.Context.CloseAsync();
        await phone.Context.CloseAsync();
        Assert.Empty(chromium.Errors);
    }
}
