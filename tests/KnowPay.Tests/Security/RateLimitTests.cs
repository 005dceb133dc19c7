using System.Net;
using System.Net.Http.Headers;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Security;

/// <summary>Guessing keys and flooding with one key are slowed down with 429, Retry-After and a rate_limited problem.</summary>
public sealed class RateLimitTests
{
    [SkippableFact]
    public async Task BruteForceOfWrongApiKeys_Gets429s_AndThenEvenTheRightKeyWaits()
    {
        await using var server = (await KnowPayServer.StartAsync(Db.Sqlite))!;
        var m = await server.NewMerchantAsync();
        using var guesser = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 60; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/orders");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"sk_test_guess_{i:D4}");
            var response = await guesser.SendAsync(request);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited ??= response;
        }
        Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.Unauthorized));           // RateLimits:FailedAuthPerMinute
        Assert.Equal(40, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.All(statuses.Take(20), s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        await AssertRateLimited(limited!, maxWaitSeconds: 60);

        // The guesser's address is refused whatever it sends until the window ends: a right guess is not told apart.
        await AssertRateLimited(await m.Http.GetAsync("/v1/orders"), maxWaitSeconds: 60);
    }

    [SkippableFact]
    public async Task WrongDashboardLogins_Get429s()
    {
        await using var server = (await KnowPayServer.StartAsync(Db.Sqlite))!;
        using var browser = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 30; i++)
        {
            var response = await browser.PostAsync("/dashboard/login", new FormUrlEncodedContent([new("api_key", $"sk_test_guess_{i:D4}")]));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited ??= response;
        }
        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.Unauthorized));           // RateLimits:FailedDashboardLoginsPerMinute
        Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        await AssertRateLimited(limited!, maxWaitSeconds: 60);
    }

    [SkippableFact]
    public async Task RequestsPerKey_OverTheLimit_Get429s_AndOtherKeysAreNotSlowed()
    {
        await using var server = (await KnowPayServer.StartAsync(Db.Sqlite, new Dictionary<string, string?> { ["RateLimits:PerKeyPerSecond"] = "5" }))!;
        var busy = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var answers = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => busy.Http.GetAsync("/v1/orders")));
        Assert.InRange(answers.Count(a => a.StatusCode == HttpStatusCode.OK), 5, 15);
        await AssertRateLimited(answers.First(a => a.StatusCode == HttpStatusCode.TooManyRequests), maxWaitSeconds: 1);
        Assert.Equal(HttpStatusCode.OK, (await other.Http.GetAsync("/v1/orders")).StatusCode);
    }

    static async Task AssertRateLimited(HttpResponseMessage response, int maxWaitSeconds)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("rate_limited", (string?)Json.Parse(body)["code"]);
        var wait = response.Headers.RetryAfter?.Delta;
        Assert.NotNull(wait);
        Assert.InRange(wait.Value.TotalSeconds, 1, maxWaitSeconds);
    }
}
