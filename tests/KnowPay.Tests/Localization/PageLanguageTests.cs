using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Localization;

/// <summary>The checkout and dashboard speak the learner's language; the API (/v1) and its problems stay English.</summary>
[Collection("server")]
public sealed class PageLanguageTests(Servers servers)
{
    static readonly Regex Chinese = new(@"\p{IsCJKUnifiedIdeographs}");

    [SkippableFact]
    public async Task Checkout_WithAcceptLanguageZhCn_IsChinese_AndLocaleEnOverridesIt_AndTheReturnKeepsTheLocale()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId);
        var url = (string)order["checkout_url"]!;

        foreach (var header in new[] { "zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans-CN", "en;q=0.5, zh;q=0.9" })
        {
            var zh = await PageAsync(url, header);
            Assert.Contains("<html lang=\"zh-CN\">", zh);
            Assert.Contains("<span class=\"pay-name\">支付宝</span>", zh);
            Assert.Contains("<span class=\"pay-name\">微信支付</span>", zh);
            Assert.Contains("<p class=\"price\" id=\"price\">¥99.00</p>", zh);
            Assert.Contains("选择支付方式", zh);
        }

        var en = await PageAsync(url + "&locale=en", "zh-CN,zh;q=0.9");
        Assert.Contains("<html lang=\"en\">", en);
        Assert.Contains("<span class=\"pay-name\">Alipay</span>", en);
        Assert.Contains("<span class=\"pay-name\">WeChat Pay</span>", en);
        Assert.Contains("<p class=\"price\" id=\"price\">99.00 CNY</p>", en);
        Assert.Contains("Pay with", en);
        Assert.Contains("<html lang=\"en\">", await PageAsync(url, null));
        Assert.Contains("<html lang=\"zh-CN\">", await PageAsync(url + "&locale=zh-CN", "en-US"));

        // Back from a provider's page: the learner lands on the checkout in the language they paid in.
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var token = new Uri(url).Query.Split("token=")[1];
        var back = await noRedirect.GetAsync($"{server.BaseUrl}/checkout/{order["id"]}/return?ct={token}&locale=zh-CN");
        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        Assert.EndsWith($"/checkout/{order["id"]}?token={token}&locale=zh-CN", back.Headers.Location!.OriginalString);

        var invalid = await PageAsync($"{server.BaseUrl}/checkout/{order["id"]}?token=1.x", "zh-CN", HttpStatusCode.NotFound);
        Assert.Contains("<html lang=\"zh-CN\">", invalid);
        Assert.Contains("此支付链接无效", invalid);
    }

    [SkippableFact]
    public async Task ProblemResponses_StayEnglishWithTheirCodes_WhenTheClientAsksForChinese()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId);
        var url = new Uri((string)order["checkout_url"]!);

        var api = new HttpRequestMessage(HttpMethod.Post, $"{server.BaseUrl}/v1/orders?locale=zh-CN")
        {
            Content = new StringContent("""{"customer_external_id":"x","product_id":"prod_missing","currency":"CNY"}""", Encoding.UTF8, "application/json"),
        };
        api.Headers.Authorization = m.Http.DefaultRequestHeaders.Authorization;
        api.Headers.AcceptLanguage.ParseAdd("zh-CN");
        await AssertEnglishProblem(await m.Http.SendAsync(api));

        // The checkout's own API answers problems in English too; its page turns the code into the learner's language.
        var pay = new HttpRequestMessage(HttpMethod.Post, $"{server.BaseUrl}{url.AbsolutePath}/payments{url.Query}&locale=zh-CN")
        {
            Content = new StringContent("""{"provider":"nope","method":"qr"}""", Encoding.UTF8, "application/json"),
        };
        pay.Headers.AcceptLanguage.ParseAdd("zh-CN");
        Assert.Equal("provider_unsupported", await AssertEnglishProblem(await server.Anonymous.SendAsync(pay)));
    }

    [SkippableFact]
    public async Task DashboardSignIn_IsChinese_WithAcceptLanguageZhCn_AndItsFormKeepsTheLocale()
    {
        var server = await servers.Get(Db.Sqlite);
        var zh = await PageAsync($"{server.BaseUrl}/dashboard", "zh-CN");
        Assert.Contains("<html lang=\"zh-CN\">", zh);
        Assert.Contains("action=\"/dashboard/login?locale=zh-CN\"", zh);
        Assert.Contains("登录", zh);
        var en = await PageAsync($"{server.BaseUrl}/dashboard?locale=en", "zh-CN");
        Assert.Contains("<html lang=\"en\">", en);
        Assert.Contains(">Sign in</button>", en);
    }

    static async Task<string> AssertEnglishProblem(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode is >= 400 and < 500, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = Json.Parse(body);
        Assert.Matches("^[a-z_]+$", (string?)problem["code"]);
        Assert.DoesNotMatch(Chinese, body);
        Assert.Null(response.Content.Headers.ContentLanguage.FirstOrDefault());
        return (string)problem["code"]!;
    }

    static async Task<string> PageAsync(string url, string? acceptLanguage, HttpStatusCode status = HttpStatusCode.OK)
    {
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (acceptLanguage is not null) request.Headers.TryAddWithoutValidation("Accept-Language", acceptLanguage);
        var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{url} → {(int)response.StatusCode}");
        return WebUtility.HtmlDecode(body);   // ¥ is sent as &#165;
    }
}
