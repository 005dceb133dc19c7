using System.Net;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Security;

/// <summary>Signing out of the dashboard revokes the session server-side: a copy of the cookie is refused afterwards, on every node.</summary>
[Collection("server")]
public sealed class DashboardLogoutTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CopiedCookie_ReplayedAfterLogout_IsRefused(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        using var browser = Browser(server);
        var cookie = await SignInAsync(browser, m.Secret);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", cookie)).StatusCode);

        var logout = await SendAsync(browser, HttpMethod.Post, "/dashboard/logout", cookie);
        Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        Assert.Contains(logout.Headers.GetValues("Set-Cookie"), c => c.StartsWith("knowpay_dashboard=;", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", cookie)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(browser, HttpMethod.Get, "/dashboard/stream", cookie)).StatusCode);
        var page = await SendAsync(browser, HttpMethod.Get, "/dashboard", cookie);
        Assert.Contains("id=\"sign-in\"", await page.Content.ReadAsStringAsync());

        // Another sign-in is a new session; the old cookie stays refused.
        var again = await SignInAsync(browser, m.Secret);
        Assert.NotEqual(cookie, again);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", again)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", cookie)).StatusCode);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ExpiredKey_CannotSignIn_AndEndsItsSessions(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var key = await m.PostOkAsync("/v1/api-keys", new { scopes = new[] { "orders:read" }, expires_at = DateTime.UtcNow.AddSeconds(1.5) });
        using var browser = Browser(server);
        var cookie = await SignInAsync(browser, (string)key["secret"]!);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", cookie)).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(browser, HttpMethod.Get, "/dashboard/snapshot", cookie)).StatusCode);
        var login = await browser.PostAsync("/dashboard/login", new FormUrlEncodedContent([new("api_key", (string)key["secret"]!)]));
        Assert.Equal(HttpStatusCode.Unauthorized, login.StatusCode);
    }

    internal static HttpClient Browser(KnowPayServer server) =>
        new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = new Uri(server.BaseUrl) };

    /// <summary>Signs in with the secret and returns the session cookie as a browser would send it back.</summary>
    internal static async Task<string> SignInAsync(HttpClient browser, string secret)
    {
        var login = await browser.PostAsync("/dashboard/login", new FormUrlEncodedContent([new("api_key", secret)]));
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        return login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("knowpay_dashboard=", StringComparison.Ordinal)).Split(';')[0];
    }

    internal static async Task<HttpResponseMessage> SendAsync(HttpClient browser, HttpMethod method, string path, string cookie)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", cookie);
        return await browser.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }
}
