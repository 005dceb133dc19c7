using System.Net.Http.Json;
using KnowPay.Tests.Infrastructure;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

[Collection("server")]
public sealed class DashboardSettlementTotalPageTests(Servers servers, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Dashboard_InChromium_ShowsThePaidTotalInTheSettlementCurrency_LabelledWithTheDaysRate_InEnglishAndChinese()
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        Assert.True((await m.Http.PutAsJsonAsync("/v1/fx/settings", new { settlement_currency = "USD" })).IsSuccessStatusCode);
        var rates = await m.Http.PutAsJsonAsync("/v1/fx/rates", new { rates = new[] { new { @base = "CNY", quote = "USD", rate = 0.14m } } });
        Assert.True(rates.IsSuccessStatusCode, await rates.Content.ReadAsStringAsync());
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));

        var page = await chromium.NewPageAsync(1280, 800);
        await page.GotoAsync($"{server.BaseUrl}/dashboard?locale=en");
        await page.FillAsync("#api_key", m.Secret);
        await page.ClickAsync("#sign-in");
        await Expect(page.Locator("#live")).ToHaveAttributeAsync("data-state", "live");
        await Expect(page.Locator("#kpi-volume-converted")).ToHaveTextAsync("");

        var order = await m.OrderAsync(productId);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        // 9900 fen × 0.14 = 1386 cents, under the per-currency figure it converts.
        await Expect(page.Locator("#kpi-volume")).ToHaveTextAsync("99.00 CNY", new() { Timeout = 10_000 });
        await Expect(page.Locator("#kpi-volume-converted")).ToHaveTextAsync("≈ $13.86 at the day's manual rate");
        await Expect(page.Locator("#kpi-volume-unconverted")).ToHaveTextAsync("");
        await Chromium.ScreenshotAsync(page, "dashboard-settlement-total", output);

        await page.GotoAsync($"{server.BaseUrl}/dashboard?locale=zh-CN");
        await Expect(page.Locator("#kpi-volume")).ToHaveTextAsync("¥99.00", new() { Timeout = 10_000 });
        await Expect(page.Locator("#kpi-volume-converted")).ToHaveTextAsync("≈ 13.86 USD（按当日手动设定汇率）");
        await page.Context.CloseAsync();
        Assert.Empty(chromium.Errors);
    }
}
