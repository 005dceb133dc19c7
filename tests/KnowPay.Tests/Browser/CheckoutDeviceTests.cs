using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Features.Checkout;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

/// <summary>
/// The device-aware checkout in real Chromium with a phone viewport (390x844) and a phone or WeChat user agent: inside
/// WeChat it gets the openid by OAuth (sandbox authorize and access_token), pays with JSAPI through the sandbox's
/// WeixinJSBridge and lands paid; a phone browser pays through Alipay WAP and WeChat Pay H5 and lands back on the
/// checkout, paid. The order's state is checked through the API. Screenshots: artifacts/screenshots/checkout-{locale}-{device}-*.png.
/// </summary>
[Collection("server")]
public sealed class CheckoutDeviceTests(Servers servers, ITestOutputHelper output)
{
    public const string WeChatUserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
                                          "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN";
    public const string PhoneUserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
                                         "Version/17.4 Mobile/15E148 Safari/604.1";
    const string DesktopUserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

    [Theory]
    [InlineData(WeChatUserAgent, CheckoutDevice.WeChat)]
    [InlineData("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 MicroMessenger/8.0.49", CheckoutDevice.WeChat)]
    [InlineData(PhoneUserAgent, CheckoutDevice.Phone)]
    [InlineData("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36", CheckoutDevice.Phone)]
    [InlineData(DesktopUserAgent, CheckoutDevice.Desktop)]
    [InlineData(null, CheckoutDevice.Desktop)]
    public void TheUserAgent_TellsTheDevice(string? userAgent, CheckoutDevice device) => Assert.Equal(device, CheckoutDevices.Of(userAgent));

    [SkippableTheory]
    [InlineData("en", "Pay in WeChat", Db.Sqlite)]
    [InlineData("zh-CN", "微信内支付", Db.Postgres)]
    public async Task InsideWeChat_TheCheckoutGetsTheOpenIdByOAuth_PaysWithJsapi_AndLandsPaid_ThenSkipsOAuth(string locale, string jsapiLabel, Db db)
    {
        var server = await servers.Get(db);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var customer = "wx-learner-" + locale;
        var order = await m.OrderAsync(productId, customer: customer);
        var orderId = (string)order["id"]!;

        var page = await chromium.NewPageAsync(390, 844, locale, WeChatUserAgent);
        var visited = new List<string>();
        page.Request += (_, r) => { if (r.IsNavigationRequest) lock (visited) visited.Add(r.Url); };
        await page.GotoAsync((string)order["checkout_url"]!);
        await Expect(page.Locator($".pay-option[data-provider=wechatpay][data-method=jsapi]")).ToBeVisibleAsync();
        Assert.Contains(visited, u => u.Contains("/connect/oauth2/authorize?appid=", StringComparison.Ordinal) && u.Contains("scope=snsapi_base", StringComparison.Ordinal));
        Assert.Contains(visited, u => u.Contains($"/checkout/{orderId}/wechat-oauth?", StringComparison.Ordinal) && u.Contains("code=", StringComparison.Ordinal));
        var openId = await server.QueryAsync(d => d.Customers.Where(c => c.MerchantId == m.MerchantId && c.ExternalId == customer).Select(c => c.WeChatOpenId).SingleAsync());
        Assert.Matches("^o[A-Za-z0-9_-]{27}$", openId!);

        // WeChat Pay first, Alipay hidden with a hint to open the page in the browser.
        Assert.Equal("wechatpay", await page.Locator(".pay-option").First.GetAttributeAsync("data-provider"));
        await Expect(page.Locator(".pay-option[data-provider=wechatpay] .pay-method").First).ToHaveTextAsync(jsapiLabel);
        Assert.Equal(0, await page.Locator(".pay-option[data-provider=alipay]").CountAsync());
        await Expect(page.Locator("#open-in-browser")).ToBeVisibleAsync();
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-wechat-390x844", output);

        await page.ClickAsync(".pay-option[data-provider=wechatpay][data-method=jsapi]");
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await m.WaitForOrderAsync(orderId, "paid");
        var payment = await server.QueryAsync(d => d.Payments.SingleAsync(p => p.OrderId == orderId));
        Assert.Equal(("wechatpay", "jsapi"), (payment.Provider, payment.Method));
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-wechat-paid-390x844", output);

        // The openid is remembered: the customer's next checkout in WeChat does not go through OAuth.
        var next = await m.OrderAsync(productId, customer: customer);
        visited.Clear();
        await page.GotoAsync((string)next["checkout_url"]!);
        await Expect(page.Locator(".pay-option[data-provider=wechatpay][data-method=jsapi]")).ToBeVisibleAsync();
        Assert.DoesNotContain(visited, u => u.Contains("/connect/oauth2/", StringComparison.Ordinal));
        AssertNoCheckoutErrors(chromium);
    }

    [SkippableTheory]
    [InlineData("en", "alipay", "wap", "Alipay on this phone")]
    [InlineData("zh-CN", "alipay", "wap", "手机支付宝")]
    [InlineData("en", "wechatpay", "h5", "WeChat Pay on this phone")]
    [InlineData("zh-CN", "wechatpay", "h5", "手机微信支付")]
    public async Task InAPhoneBrowser_TheLearnerPaysOnTheProvidersPhonePage_AndLandsBackPaid(string locale, string provider, string method, string label)
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, customer: $"phone-{provider}-{locale}");
        var orderId = (string)order["id"]!;

        var page = await chromium.NewPageAsync(390, 844, locale, PhoneUserAgent);
        await page.GotoAsync((string)order["checkout_url"]!);
        await Expect(page.Locator($".pay-option[data-provider={provider}][data-method={method}] .pay-method")).ToHaveTextAsync(label);
        Assert.Equal(0, await page.Locator(".pay-option[data-method=qr]").CountAsync());   // a QR code is useless on the phone that shows it
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-phone-390x844", output);

        await page.ClickAsync($".pay-option[data-provider={provider}][data-method={method}]");
        await chromium.ArriveAsync(page, u => u.Contains("/sandbox/", StringComparison.Ordinal));
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-phone-{provider}-{method}-390x844", output);
        await page.ClickAsync("#pay");
        await chromium.ArriveAsync(page, u => u.Contains($"/checkout/{orderId}?", StringComparison.Ordinal));
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await m.WaitForOrderAsync(orderId, "paid");
        var payment = await server.QueryAsync(d => d.Payments.SingleAsync(p => p.OrderId == orderId));
        Assert.Equal((provider, method), (payment.Provider, payment.Method));
        await Chromium.ScreenshotAsync(page, $"checkout-{locale}-phone-{provider}-paid-390x844", output);
        AssertNoCheckoutErrors(chromium);
    }

    [SkippableFact]
    public async Task BackFromTheProviderUnpaid_ThePageSaysStillPending_AndOffersToRetry()
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, customer: "phone-unpaid");
        var orderId = (string)order["id"]!;

        var page = await chromium.NewPageAsync(390, 844, "en", PhoneUserAgent);
        await page.GotoAsync((string)order["checkout_url"]!);
        await page.ClickAsync(".pay-option[data-provider=wechatpay][data-method=h5]");
        await chromium.ArriveAsync(page, u => u.Contains("/sandbox/", StringComparison.Ordinal));
        // The learner leaves the cashier without paying: H5's redirect_url is reached whether or not they paid.
        var back = new Uri(page.Url).Query.Split('&').Single(p => p.StartsWith("redirect_url=", StringComparison.Ordinal))["redirect_url=".Length..];
        await page.GotoAsync(Uri.UnescapeDataString(back));
        await Expect(page.Locator("#returned")).ToBeVisibleAsync();
        await Expect(page.Locator("#returned")).ToHaveAttributeAsync("data-state", "pending");
        await Chromium.ScreenshotAsync(page, "checkout-en-phone-returned-pending-390x844", output);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
        await page.ClickAsync("#retry");
        await Expect(page.Locator("#choose")).ToBeVisibleAsync();
        AssertNoCheckoutErrors(chromium);
    }

    [SkippableFact]
    public async Task ThePhoneCheckout_SendsTheLearnersConnectionAddressAsPayerIp_NotAForwardedForTheHostDoesNotTrust()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId, customer: "phone-ip");
        var token = ((string)order["checkout_url"]!).Split("token=")[1];
        using var learner = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        learner.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", PhoneUserAgent);
        learner.DefaultRequestHeaders.TryAddWithoutValidation("X-Forwarded-For", "198.51.100.9");   // forwarded headers are not enabled here

        var started = await learner.PostAsJsonAsync($"/checkout/{order["id"]}/payments?token={token}", new { provider = "wechatpay", method = "h5" });
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        var h5 = (string)JsonNode.Parse(await started.Content.ReadAsStringAsync())!["next_action"]!["redirect_url"]!;
        // The sandbox's H5 cashier opens only for the order's payer_client_ip: this learner's 127.0.0.1.
        var cashier = await learner.GetStringAsync(h5);
        Assert.Contains("id=\"pay\"", cashier);
        Assert.DoesNotContain(KnowPay.Sandbox.WeChatPay.WeChatPaySimulator.H5IpMismatch, cashier);
    }

    /// <summary>The checkout's own pages logged no error; the simulators' buyer pages have no favicon (a 404 Chromium logs against them).</summary>
    static void AssertNoCheckoutErrors(Chromium chromium)
    {
        var errors = chromium.Errors.Where(e => !e.Contains("/sandbox/", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [SkippableFact]
    public async Task TheOAuthCallback_RefusesAForgedStateOrAnotherOrdersState()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var a = await m.OrderAsync(productId, customer: "oauth-a");
        var b = await m.OrderAsync(productId, customer: "oauth-b");
        using var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(server.BaseUrl) };
        noRedirects.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", WeChatUserAgent);

        // The checkout of order a inside WeChat redirects to the authorize URL with a state bound to a.
        var start = await noRedirects.GetAsync((string)a["checkout_url"]!);
        Assert.Equal(HttpStatusCode.Redirect, start.StatusCode);
        var authorize = start.Headers.Location!.ToString();
        Assert.Contains("/connect/oauth2/authorize?appid=", authorize);
        Assert.EndsWith("&response_type=code&scope=snsapi_base&state=" + authorize.Split("&state=")[1].Split('#')[0] + "#wechat_redirect", authorize);
        var state = Uri.UnescapeDataString(authorize.Split("&state=")[1].Split('#')[0]);

        var forged = await noRedirects.GetAsync($"/checkout/{a["id"]}/wechat-oauth?code=x&state={Uri.EscapeDataString(state[..^2] + "AA")}");
        Assert.Equal(HttpStatusCode.NotFound, forged.StatusCode);
        var otherOrder = await noRedirects.GetAsync($"/checkout/{b["id"]}/wechat-oauth?code=x&state={Uri.EscapeDataString(state)}");
        Assert.Equal(HttpStatusCode.NotFound, otherOrder.StatusCode);
        var pageToken = ((string)a["checkout_url"]!).Split("token=")[1];
        var tokenAsState = await noRedirects.GetAsync($"/checkout/{a["id"]}/wechat-oauth?code=x&state={pageToken}");
        Assert.Equal(HttpStatusCode.NotFound, tokenAsState.StatusCode);
        // A right state with a bad code: back to the page without OAuth, no openid remembered.
        var badCode = await noRedirects.GetAsync($"/checkout/{a["id"]}/wechat-oauth?code=nope&state={Uri.EscapeDataString(state)}");
        Assert.Equal(HttpStatusCode.Redirect, badCode.StatusCode);
        Assert.Contains("oauth=failed", badCode.Headers.Location!.ToString());
        Assert.Null(await server.QueryAsync(d => d.Customers.Where(c => c.MerchantId == m.MerchantId && c.ExternalId == "oauth-a").Select(c => c.WeChatOpenId).SingleAsync()));
    }
}
