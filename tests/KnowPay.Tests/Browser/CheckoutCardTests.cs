using KnowPay.Domain;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

/// <summary>
/// The hosted checkout with every provider on its sandbox, in real Chromium: cards through Stripe (the page confirms
/// the PaymentIntent with its client secret against the sandbox's buyer API), PayPal's approve page and back, and the
/// Alipay / WeChat Pay QR codes with their simulated buyers.
/// </summary>
[Collection("server")]
public sealed class CheckoutCardTests(Servers servers, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Checkout_Card_4242Pays_ADeclinedCardIsShownAndTheOrderStaysPayableByQr_And3dsCardPaysAfterAuthentication()
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));

        // A card that pays.
        var a = await m.OrderAsync(productId, customer: "card-a");
        var page = await chromium.NewPageAsync(1280, 800);
        await page.GotoAsync((string)a["checkout_url"]!);
        await Expect(page.Locator("#card-slot")).ToBeVisibleAsync();
        await Expect(page.Locator("#card-pay")).ToHaveTextAsync("Pay 99.00 CNY");
        await page.FillAsync("#card-number", "4242 4242 4242 4242");
        await Chromium.ScreenshotAsync(page, "checkout-card-1280x800", output);
        await page.ClickAsync("#card-pay");
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Expect(page.Locator("#status")).ToHaveTextAsync("paid");
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{a["id"]}"))["status"]);
        var paidA = await Payments(server, (string)a["id"]!);
        Assert.Equal(("stripe", PaymentStatus.Succeeded), Assert.Single(paidA));
        await Chromium.ScreenshotAsync(page, "checkout-card-paid-1280x800", output);

        // A card that is declined: a clear message, the order stays payable, and the learner pays by QR instead.
        var b = await m.OrderAsync(productId, customer: "card-b");
        await page.GotoAsync((string)b["checkout_url"]!);
        await page.FillAsync("#card-number", "4000000000000002");
        await page.ClickAsync("#card-pay");
        await Expect(page.Locator("#card-message")).ToHaveTextAsync("Your card was declined. Nothing was charged — try another card or choose another way to pay.");
        await Expect(page.Locator("#card-form")).ToBeVisibleAsync();
        await Expect(page.Locator("#choose")).ToBeVisibleAsync();
        await Chromium.ScreenshotAsync(page, "checkout-card-declined-1280x800", output);
        // Chromium logs the provider's 402 answer as a failed resource; that is the decline itself, not a page error.
        ExpectOnly(chromium, "status of 402");
        await WaitAsync(async () => (await Payments(server, (string)b["id"]!)).Contains(("stripe", PaymentStatus.Failed)));
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{b["id"]}"))["status"]);
        await Expect(page.Locator("#status")).ToHaveTextAsync("pending");

        await page.ClickAsync(".pay-option[data-provider=alipay][data-method=qr]");
        await Expect(page.Locator("#qr")).ToBeVisibleAsync();
        Assert.StartsWith("data:image/svg+xml;base64,", await page.GetAttributeAsync("#qr", "src"));
        var buyer = await page.Context.RunAndWaitForPageAsync(() => page.ClickAsync("#sandbox-buyer"));
        await buyer.ClickAsync("#pay");
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        var paidB = await Payments(server, (string)b["id"]!);
        Assert.Equal([("alipay", PaymentStatus.Succeeded), ("stripe", PaymentStatus.Failed)], paidB.Order().ToList());

        // Phone-sized: a card that asks for authentication (simulated 3-D Secure) pays once the learner confirms.
        var c = await m.OrderAsync(productId, customer: "card-c");
        var phone = await chromium.NewPageAsync(390, 844);
        await phone.GotoAsync((string)c["checkout_url"]!);
        await phone.FillAsync("#card-number", "4000 0000 0000 3220");
        await phone.ClickAsync("#card-pay");
        await Expect(phone.Locator("#card-authenticate")).ToBeVisibleAsync();
        await Chromium.ScreenshotAsync(phone, "checkout-card-authenticate-390x844", output);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{c["id"]}"))["status"]);
        await phone.ClickAsync("#card-authenticate");
        await Expect(phone.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        Assert.False(await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth > window.innerWidth"), "the checkout scrolls sideways at 390 px");
        await Chromium.ScreenshotAsync(phone, "checkout-card-paid-390x844", output);
        Assert.Equal(("stripe", PaymentStatus.Succeeded), Assert.Single(await Payments(server, (string)c["id"]!)));
        Assert.Empty(chromium.Errors);
    }

    [SkippableFact]
    public async Task Checkout_ListsEveryProvider_WeChatPayQrPaysThroughItsBuyer_AndPayPalApprovesAndReturnsToThePaidCheckout()
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"), (1999, "USD"));

        var cny = await m.OrderAsync(productId, customer: "wx");
        var page = await chromium.NewPageAsync(1280, 800);
        await page.GotoAsync((string)cny["checkout_url"]!);
        foreach (var (provider, method, name, label) in new[]
                 {
                     ("alipay", "qr", "Alipay", "QR code"), ("alipay", "page", "Alipay", "Pay page"), ("paypal", "page", "PayPal", "PayPal account"),
                     ("sandbox", "qr", "SandboxPay", "QR code"), ("wechatpay", "qr", "WeChat Pay", "QR code"),
                 })
        {
            var option = page.Locator($".pay-option[data-provider={provider}][data-method={method}]");
            await Expect(option).ToBeVisibleAsync();
            await Expect(option.Locator(".pay-name")).ToHaveTextAsync(name);
            await Expect(option.Locator(".pay-method")).ToHaveTextAsync(label);
        }
        await Expect(page.Locator(".pay-option[data-provider=stripe]")).ToHaveCountAsync(0); // cards use the card form
        await Expect(page.Locator("#card-slot")).ToBeVisibleAsync();
        await Chromium.ScreenshotAsync(page, "checkout-providers-1280x800", output);

        // WeChat Pay: the code_url is weixin://… as in production; the page still links to the sandbox's buyer.
        await page.ClickAsync(".pay-option[data-provider=wechatpay][data-method=qr]");
        await Expect(page.Locator("#qr")).ToBeVisibleAsync();
        Assert.StartsWith("data:image/svg+xml;base64,", await page.GetAttributeAsync("#qr", "src"));
        Assert.Contains("/sandbox/wechatpay/pay/", await page.GetAttributeAsync("#sandbox-buyer", "href"));
        await Chromium.ScreenshotAsync(page, "checkout-wechatpay-qr-1280x800", output);
        var buyer = await page.Context.RunAndWaitForPageAsync(() => page.ClickAsync("#sandbox-buyer"));
        await buyer.ClickAsync("#pay");
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        Assert.Equal(("wechatpay", PaymentStatus.Succeeded), Assert.Single(await Payments(server, (string)cny["id"]!)));

        // PayPal: the page goes to PayPal's approve page; approving returns the learner to the checkout, which turns paid.
        var usd = await m.OrderAsync(productId, currency: "USD", customer: "pp");
        var checkoutUrl = (string)usd["checkout_url"]!;
        await page.GotoAsync(checkoutUrl);
        await Expect(page.Locator("#price")).ToHaveTextAsync("$19.99");   // en: USD is the home currency
        await page.ClickAsync(".pay-option[data-provider=paypal][data-method=page]");
        await chromium.ArriveAsync(page, url => url.Contains("/sandbox/paypal/checkoutnow?token=", StringComparison.Ordinal));
        await page.ClickAsync("#approve");
        await chromium.ArriveAsync(page, url => url.StartsWith(checkoutUrl, StringComparison.Ordinal));
        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        Assert.Equal("paid", (string?)(await m.GetOkAsync($"/v1/orders/{usd["id"]}"))["status"]);
        Assert.Equal(("paypal", PaymentStatus.Succeeded), Assert.Single(await Payments(server, (string)usd["id"]!)));
        await Chromium.ScreenshotAsync(page, "checkout-paypal-paid-1280x800", output);
        Assert.Empty(chromium.Errors);
    }

    static Task<List<(string, PaymentStatus)>> Payments(KnowPayServer server, string orderId) =>
        server.QueryAsync(async d => (await d.Payments.Where(p => p.OrderId == orderId).Select(p => new { p.Provider, p.Status }).ToListAsync())
            .Select(p => (p.Provider, p.Status)).ToList());

    static void ExpectOnly(Chromium chromium, string expected)
    {
        lock (chromium.Errors)
        {
            Assert.All(chromium.Errors, e => Assert.Contains(expected, e));
            chromium.Errors.Clear();
        }
    }

    static async Task WaitAsync(Func<Task<bool>> condition, int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "the condition did not hold before the timeout");
            await Task.Delay(100);
        }
    }
}
