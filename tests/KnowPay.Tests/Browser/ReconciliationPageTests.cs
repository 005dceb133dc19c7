using KnowPay.Data;
using KnowPay.Tests.Infrastructure;
using KnowPay.Tests.Reconciliation;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

public sealed class ReconciliationPageTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task ReconciliationPage_InChromium_ShowsRuns_DifferencesByClassWithAmounts_AndTheCloseOfEachDay_InEnglishAndChinese()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var run = await ReconciliationCloseTests.AddRunAsync(server, "wechatpay", today.AddDays(-1), "completed");
        await ReconciliationCloseTests.AddItemAsync(server, run, "amount_mismatch", m.MerchantId, expected: 12_345);
        await ReconciliationCloseTests.AddItemAsync(server, run, "amount_mismatch", m.MerchantId, expected: 100);
        var missing = await ReconciliationCloseTests.AddItemAsync(server, run, "missing_at_provider", m.MerchantId, expected: 5_000);
        await m.PostOkAsync($"/v1/reconciliation/items/{missing}/resolve", new { action = "acknowledge" });
        var closedDay = today.AddDays(-2);
        await server.QueryAsync(async d =>
        {
            d.LedgerCloses.Add(new LedgerClose { Id = "cls_test", MerchantId = m.MerchantId, Currency = "CNY", Day = closedDay, ClosedAt = DateTime.UtcNow, ClosedBy = "test" });
            return await d.SaveChangesAsync();
        });

        var page = await chromium.NewPageAsync(1280, 900);
        await page.GotoAsync($"{server.BaseUrl}/dashboard");
        await page.FillAsync("#api_key", m.Secret);
        await page.ClickAsync("#sign-in");
        await page.ClickAsync("#reconciliation-link");
        await Expect(page.Locator("h1")).ToContainTextAsync("Reconciliation");
        var runRow = page.Locator($"#runs tr[data-run={run}]");
        await Expect(runRow.Locator(".run-status")).ToHaveTextAsync("completed");
        var amounts = page.Locator("#classes tr[data-class=amount_mismatch]");
        await Expect(amounts.Locator(".class-count")).ToHaveTextAsync("2");
        await Expect(amounts.Locator(".class-open")).ToHaveTextAsync("2");
        await Expect(amounts.Locator(".class-amount")).ToHaveTextAsync("124.45 CNY");
        var missingRow = page.Locator("#classes tr[data-class=missing_at_provider]");
        await Expect(missingRow.Locator(".class-open")).ToHaveTextAsync("0");
        await Expect(missingRow.Locator(".class-amount")).ToHaveTextAsync("50.00 CNY");
        await Expect(page.Locator($"#closes tr[data-day='{ReconciliationCloseTests.Iso(closedDay)}'] .day-status")).ToHaveTextAsync("closed (CNY)");
        await Expect(page.Locator($"#closes tr[data-day='{ReconciliationCloseTests.Iso(today.AddDays(-1))}'] .day-status")).ToHaveTextAsync("open");
        await Chromium.ScreenshotAsync(page, "reconciliation-1280x900", output);

        await page.GotoAsync($"{server.BaseUrl}/dashboard/reconciliation?locale=zh-CN");
        await Expect(page.Locator("h1")).ToContainTextAsync("对账");
        await Expect(page.Locator("#classes tr[data-class=amount_mismatch] td").First).ToHaveTextAsync("金额不符");
        await Expect(page.Locator($"#closes tr[data-day='{ReconciliationCloseTests.Iso(closedDay)}'] .day-status")).ToHaveTextAsync("已关账（CNY）");
        var csv = await page.APIRequest.GetAsync($"{server.BaseUrl}/dashboard/reconciliation/runs/{run}.csv");
        Assert.Contains("amount_mismatch", await csv.TextAsync());
        await page.Context.CloseAsync();
        Assert.Empty(chromium.Errors);
    }
}
