using System.Text;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Security;

/// <summary>The framework's own error answers (no route, wrong method, wrong media type, unbindable parameter) carry a problem+json body with a stable code.</summary>
[Collection("server")]
public sealed class FrameworkErrorBodyTests(Servers servers)
{
    [SkippableFact]
    public async Task FrameworkErrors_AreProblemJson_WithAStableCode()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();

        await Expect(m.Http.GetAsync("/v1/no-such-thing"), 404, "not_found");
        await Expect(server.Anonymous.GetAsync("/no-such-page"), 404, "not_found");
        var wrongMethod = await Expect(m.Http.DeleteAsync("/v1/orders"), 405, "method_not_allowed");
        Assert.Contains("GET", wrongMethod.Content.Headers.Allow);
        await Expect(m.Http.PostAsync("/v1/orders", new StringContent("customer=1", Encoding.UTF8, "text/plain")), 415, "unsupported_media_type");
        await Expect(m.Http.PostAsync("/v1/creators", new StringContent("name=x", Encoding.UTF8, "application/x-www-form-urlencoded")), 415, "unsupported_media_type");
        await Expect(m.Http.GetAsync("/v1/orders?limit=abc"), 400, "body_invalid");
    }

    static async Task<HttpResponseMessage> Expect(Task<HttpResponseMessage> call, int status, string code)
    {
        var response = await call;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status} {code}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, (string?)Json.Parse(body)["code"]);
        return response;
    }
}
