using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using KnowPay.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

/// <summary>
/// axe-core in real Chromium: the checkout (choice, QR and paid states on a desktop; choice and back-unpaid in a phone
/// browser; choice and paid inside WeChat, phone viewport and user agent) and the dashboard have no serious or critical
/// violation in en and zh-CN, the browser's language choosing the page's. Screenshots: artifacts/screenshots/checkout-{locale}-*.png.
/// </summary>
[Collection("server")]
public sealed class CheckoutAccessibilityTests(Servers servers, ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("en", "Alipay", "WeChat Pay", "99.00 CNY", "Pay with")]
    [InlineData("zh-CN", "支付宝", "微信支付", "¥99.00", "选择支付方式")]
    public async Task Checkout_InTheBrowsersLanguage_HasNoSeriousOrCriticalAxeViolation_InEachState(
        string locale, string alipay, string wechatPay, string price, string payWith)
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, customer: "a11y-" + locale);

        var page = await chromium.NewPageAsync(1280, 800, locale);
        await page.GotoAsync((string)order["checkout_url"]!);
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", locale);
        await Expect(page.Locator("#price")).ToHaveTextAsync(price);
        await Expect(page.Locator("#choose-heading")).ToHaveTextAsync(payWith);
        await Expect(page.Locator(".pay-option[data-provider=alipay][data-method=qr] .pay-name")).ToHaveTextAsync(alipay);
        await Expect(page.Locator(".pay-option[data-provider=wechatpay][data-method=qr] .pay-name")).ToHaveTextAsync(wechatPay);
        await AssertAccessibleAsync(page, "choice");
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-1280x800", output);

        // Keyboard: the first Tab stops on the language switch, then the payment options in page order.
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("A", await page.EvaluateAsync<string>("document.activeElement.tagName"));
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("pay-option", await page.EvaluateAsync<string>("document.activeElement.className"));

        await page.ClickAsync(".pay-option[data-provider=sandbox][data-method=qr]");
        await Expect(page.Locator("#qr")).ToBeVisibleAsync();
        await Expect(page.Locator("#action-hint")).ToBeFocusedAsync();   // the new state is announced where focus is
        await AssertAccessibleAsync(page, "qr");

        var phone = await chromium.NewPageAsync(390, 844, locale);
        await phone.GotoAsync((string)order["checkout_url"]!);
        await Expect(phone.Locator("#qr")).ToBeVisibleAsync();               // the pending payment is resumed
        await AssertAccessibleAsync(phone, "qr, phone");
        await Chromium.ScreenshotAsync(phone, $"checkout-{locale}-qr-390x844", output);

        var paymentId = await server.QueryAsync(d => Task.FromResult(d.Payments.Single(p => p.OrderId == (string)order["id"]!).Id));
        await m.BuyerPaysAsync(paymentId);
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await AssertAccessibleAsync(page, "paid");
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-paid-1280x800", output);
        Assert.Empty(chromium.Errors);
    }

    [SkippableTheory]
    [InlineData("en", "Alipay on this phone")]
    [InlineData("zh-CN", "手机支付宝")]
    public async Task Checkout_InAPhoneBrowser_HasNoSeriousOrCriticalAxeViolation_ChoosingAndBackUnpaid(string locale, string wapLabel)
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, customer: "a11y-phone-" + locale);

        var page = await chromium.NewPageAsync(390, 844, locale, CheckoutDeviceTests.PhoneUserAgent);
        await page.GotoAsync((string)order["checkout_url"]!);
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", locale);
        await Expect(page.Locator(".pay-option[data-provider=alipay][data-method=wap] .pay-method")).ToHaveTextAsync(wapLabel);
        await AssertAccessibleAsync(page, "phone choice");
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-phone-a11y-390x844", output);

        // Back from the H5 cashier without paying: the still-pending state with its retry button.
        await page.ClickAsync(".pay-option[data-provider=wechatpay][data-method=h5]");
        await chromium.ArriveAsync(page, u => u.Contains("/sandbox/", StringComparison.Ordinal));
        var back = new Uri(page.Url).Query.Split('&').Single(p => p.StartsWith("redirect_url=", StringComparison.Ordinal))["redirect_url=".Length..];
        await page.GotoAsync(Uri.UnescapeDataString(back));
        await Expect(page.Locator("#returned")).ToHaveAttributeAsync("data-state", "pending");
        await AssertAccessibleAsync(page, "phone returned pending");
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-phone-a11y-returned-pending-390x844", output);
    }

    [SkippableTheory]
    [InlineData("en", "Pay in WeChat")]
    [InlineData("zh-CN", "微信内支付")]
    public async Task Checkout_InsideWeChat_HasNoSeriousOrCriticalAxeViolation_ChoosingAndPaid(string locale, string jsapiLabel)
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, customer: "a11y-wechat-" + locale);

        var page = await chromium.NewPageAsync(390, 844, locale, CheckoutDeviceTests.WeChatUserAgent);
        await page.GotoAsync((string)order["checkout_url"]!);                    // through OAuth, back to the checkout
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", locale);
        await Expect(page.Locator(".pay-option[data-provider=wechatpay][data-method=jsapi] .pay-method")).ToHaveTextAsync(jsapiLabel);
        await Expect(page.Locator("#open-in-browser")).ToBeVisibleAsync();
        await AssertAccessibleAsync(page, "wechat choice");

        await page.ClickAsync(".pay-option[data-provider=wechatpay][data-method=jsapi]");
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await AssertAccessibleAsync(page, "wechat paid");
    }

    [SkippableTheory]
    [InlineData("en")]
    [InlineData("zh-CN")]
    public async Task Dashboard_HasNoSeriousOrCriticalAxeViolation_SignedOutAndIn(string locale)
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var page = await chromium.NewPageAsync(1280, 800, locale);
        await page.GotoAsync($"{server.BaseUrl}/dashboard");
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", locale);
        await AssertAccessibleAsync(page, "sign-in");
        await page.FillAsync("#api_key", m.Secret);
        await page.ClickAsync("#sign-in");
        await Expect(page.Locator("#live")).ToHaveAttributeAsync("data-state", "live");
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", locale);
        await AssertAccessibleAsync(page, "dashboard");
        await Chromium.ScreenshotAsync(page, $"dashboard-{locale}-1280x800", output);
    }

    async Task AssertAccessibleAsync(IPage page, string state)
    {
        var result = await page.RunAxe();
        var blocking = result.Violations.Where(v => v.Impact is "serious" or "critical").ToList();
        foreach (var v in result.Violations)
            output.WriteLine($"{state}: axe {v.Impact} {v.Id}: {v.Help} — {string.Join(" | ", v.Nodes.Select(n => n.Html))}");
        Assert.True(blocking.Count == 0, $"{state}: " + string.Join("\n", blocking.Select(v =>
            $"{v.Impact} {v.Id}: {v.Help} — {string.Join(" | ", v.Nodes.Select(n => $"{n.Html} {string.Join("; ", n.Any.Concat(n.All).Concat(n.None).Select(c => c.Message))}"))}")));
    }
}
