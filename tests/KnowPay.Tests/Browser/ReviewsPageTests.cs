using System.Net.Http.Json;
using KnowPay.Tests.Infrastructure;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

public sealed class ReviewsPageTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task ReviewsPage_InChromium_ListsOpenReviews_ApproveLetsTheOrderBePaid_InEnglishAndChinese()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var rules = await m.Http.PutAsJsonAsync("/v1/risk/rules", new { rules = new[] { new { id = "big_new_accounts", rule = "review if :amount: > 5000 and :account_age_days: < 1" } } });
        Assert.True(rules.IsSuccessStatusCode, await rules.Content.ReadAsStringAsync());
        async Task<(string Order, string Review)> HeldAsync(string customer)
        {
            var order = await m.PostOkAsync("/v1/orders", new
            {
                customer_external_id = customer, product_id = productId, currency = "CNY",
                risk_context = new { ip = "192.0.2.10", account_created_at = DateTime.UtcNow.AddHours(-2) },
            });
            var review = (await m.GetOkAsync($"/v1/reviews?order_id={order["id"]}"))["data"]!.AsArray().Single()!;
            return ((string)order["id"]!, (string)review["id"]!);
        }
        var (approved, approvedReview) = await HeldAsync("rev-a");
        var (waiting, _) = await HeldAsync("rev-b");

        var page = await chromium.NewPageAsync(1280, 900);
        await page.GotoAsync($"{server.BaseUrl}/dashboard");
        await page.FillAsync("#api_key", m.Secret);
        await page.ClickAsync("#sign-in");
        await page.ClickAsync("#reviews-link");
        await Expect(page.Locator("h1")).ToContainTextAsync("Risk reviews");
        var row = page.Locator($"#open-reviews tr[data-order={approved}]");
        await Expect(row.Locator(".review-amount")).ToHaveTextAsync("99.00 CNY");
        await Expect(row.Locator(".review-rule")).ToHaveTextAsync("big_new_accounts");
        await Expect(row.Locator(".review-score")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d{1,2}$"));
        await Expect(row.Locator(".review-age")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+ min$"));
        await Expect(page.Locator("#open-reviews tbody tr")).ToHaveCountAsync(2);
        await Chromium.ScreenshotAsync(page, "reviews-1280x900", output);

        await row.Locator("button.approve").ClickAsync();
        await Expect(page.Locator($"#open-reviews tr[data-order={approved}]")).ToHaveCountAsync(0);
        await Expect(page.Locator($"#decided-reviews tr[data-order={approved}] .review-status")).ToHaveTextAsync("approved");
        await Expect(page.Locator($"#open-reviews tr[data-order={waiting}]")).ToHaveCountAsync(1);
        var review = await m.GetOkAsync($"/v1/reviews/{approvedReview}");
        Assert.Equal("approved", (string?)review["status"]);
        Assert.Equal("dashboard", (string?)review["decided_by"]);

        // The approved order proceeds: the learner's payment starts and completes.
        var payment = await m.PaymentAsync(approved);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync(approved, "paid");
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{waiting}"))["status"]);

        await page.GotoAsync($"{server.BaseUrl}/dashboard/reviews?locale=zh-CN");
        await Expect(page.Locator("h1")).ToContainTextAsync("风控审核");
        await Expect(page.Locator($"#open-reviews tr[data-order={waiting}] button.approve")).ToHaveTextAsync("通过");
        await Expect(page.Locator($"#decided-reviews tr[data-order={approved}] .review-status")).ToHaveTextAsync("已通过");
        await page.Context.CloseAsync();
        Assert.Empty(chromium.Errors);
    }
}
