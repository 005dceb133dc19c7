using System.Net;
using KnowPay.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace KnowPay.Tests.Browser;

[Collection("server")]
public sealed class CheckoutPageTests(Servers servers, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Checkout_InChromium_ShowsProductPriceAndQr_AndReachesPaidAfterTheSimulatedBuyerPays()
    {
        var server = await servers.Get(Db.Sqlite);
        await using var chromium = await Chromium.LaunchAsync();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId);
        var checkoutUrl = (string)order["checkout_url"]!;
        Assert.StartsWith($"{server.BaseUrl}/checkout/{order["id"]}?token=", checkoutUrl);

        var page = await chromium.NewPageAsync(1280, 800);
        await page.GotoAsync(checkoutUrl);
        await Expect(page.Locator("#price")).ToHaveTextAsync("99.00 CNY");
        await Expect(page.Locator("#product")).ToHaveTextAsync("Course");
        await Expect(page.Locator(".pay-option[data-provider=sandbox][data-method=qr]")).ToBeVisibleAsync();
        await Expect(page.Locator("#card-slot")).ToBeVisibleAsync(); // Stripe runs on its sandbox: the simulated card form

        await page.ClickAsync(".pay-option[data-provider=sandbox][data-method=qr]");
        await Expect(page.Locator("#qr")).ToBeVisibleAsync();
        Assert.StartsWith("data:image/svg+xml;base64,", await page.GetAttributeAsync("#qr", "src"));
        await Chromium.ScreenshotAsync(page, "checkout-qr-1280x800", output);

        // The learner clicks through to the simulated buyer (a new tab) and pays there.
        var buyer = await page.Context.RunAndWaitForPageAsync(() => page.ClickAsync("#sandbox-buyer"));
        await buyer.ClickAsync("#pay");
        await Expect(buyer.Locator("#status")).ToHaveTextAsync("PAID");

        await Expect(page.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Expect(page.Locator("#status")).ToHaveTextAsync("paid");
        await Chromium.ScreenshotAsync(page, "checkout-paid-1280x800", output);

        // Phone-sized: a second order, QR shown, paid through the buyer API.
        var order2 = await m.OrderAsync(productId, customer: "learner-phone");
        var phone = await chromium.NewPageAsync(390, 844);
        await phone.GotoAsync((string)order2["checkout_url"]!);
        await phone.ClickAsync(".pay-option[data-provider=sandbox][data-method=qr]");
        await Expect(phone.Locator("#qr")).ToBeVisibleAsync();
        await Chromium.ScreenshotAsync(phone, "checkout-qr-390x844", output);
        var paymentId = await server.QueryAsync(d => Task.FromResult(d.Payments.Single(p => p.OrderId == (string)order2["id"]!).Id));
        await m.BuyerPaysAsync(paymentId);
        await Expect(phone.Locator("#paid")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Chromium.ScreenshotAsync(phone, "checkout-paid-390x844", output);

        // A reload of a paid order shows the paid state at once.
        await phone.ReloadAsync();
        await Expect(phone.Locator("#paid")).ToBeVisibleAsync();
        Assert.Empty(chromium.Errors);
    }

    [SkippableFact]
    public async Task Checkout_WithAWrongOrForeignToken_Is404_AndTheStatusEndpointTooAndAnExpiredOrderShowsExpired()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var a = await m.OrderAsync(productId);
        var b = await m.OrderAsync(productId, customer: "other");
        var tokenA = new Uri((string)a["checkout_url"]!).Query.Split("token=")[1];

        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.GetAsync($"/checkout/{b["id"]}?token={tokenA}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.GetAsync($"/checkout/{b["id"]}/status?token={tokenA}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.GetAsync($"/checkout/{a["id"]}?token=1.x")).StatusCode);
        var status = Json.Parse(await server.Anonymous.GetStringAsync($"/checkout/{a["id"]}/status?token={tokenA}"));
        Assert.Equal("pending", (string?)status["status"]);
        Assert.False((bool)status["expired"]!);

        var fetched = await m.GetOkAsync($"/v1/orders/{a["id"]}");
        Assert.Equal((string)a["checkout_url"]!, (string)fetched["checkout_url"]!);

        await server.RunJobAsync("order_expiry", DateTime.UtcNow.AddMinutes(31));
        status = Json.Parse(await server.Anonymous.GetStringAsync($"/checkout/{a["id"]}/status?token={tokenA}"));
        Assert.Equal("expired", (string?)status["status"]);
        Assert.True((bool)status["expired"]!);
    }
}
