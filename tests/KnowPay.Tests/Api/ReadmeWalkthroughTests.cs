using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using KnowPay.Infrastructure;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Api;

/// <summary>The README's curl walk-through, step by step, against a server seeded as `dotnet run` seeds it.</summary>
[Collection("server")]
public sealed class ReadmeWalkthroughTests
{
    [SkippableFact]
    public async Task ReadmeCurlWalkthrough_WithTheDemoKeyAndProducts_EndsWithThePaidOrder()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(RepoRoot(), "README.md"));
        var key = Regex.Match(readme, @"KEY=(sk_test_\w+)").Groups[1].Value;
        Assert.Equal(DemoSeed.DefaultApiKey, key);
        var orderBody = Regex.Match(readme, @"-d '(\{""customer_external_id"":""u_42"".*?\})'").Groups[1].Value;
        var paymentBody = Regex.Match(readme, @"-d '(\{""provider"":""sandbox"".*?\})'").Groups[1].Value;
        Assert.NotEmpty(orderBody);
        Assert.NotEmpty(paymentBody);

        await using var server = (await KnowPayServer.StartAsync(Db.Sqlite, new Dictionary<string, string?> { ["Demo:Seed"] = "true" }))!;
        using var http = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

        using var create = new HttpRequestMessage(HttpMethod.Post, "/v1/orders") { Content = new StringContent(orderBody, Encoding.UTF8, "application/json") };
        create.Headers.Add("Idempotency-Key", "order-u42-1");
        var order = Json.Parse(await (await http.SendAsync(create)).Content.ReadAsStringAsync());
        Assert.Equal("pending", (string?)order["status"]);
        Assert.Equal(9900, (long)order["amount"]!);

        var payment = Json.Parse(await (await http.PostAsync($"/v1/orders/{order["id"]}/payments",
            new StringContent(paymentBody, Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync());
        Assert.Equal("qr_code", (string?)payment["next_action"]!["type"]);

        var pay = await server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/trades/{payment["id"]}/pay", null);
        Assert.Equal(HttpStatusCode.OK, pay.StatusCode);

        var m = new MerchantClient("mer_demo", key, http, server);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
    }

    [SkippableFact]
    public async Task Operations_DocsOpenApiAndHealth_Answer()
    {
        await using var server = (await KnowPayServer.StartAsync(Db.Sqlite))!;
        var openapi = await server.Anonymous.GetStringAsync("/openapi/v1.json");
        Assert.Contains("\"/v1/orders\"", openapi);
        Assert.Contains("\"/v1/orders/{orderId}/payments\"", openapi);
        var docs = await server.Anonymous.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        Assert.Contains("text/html", docs.Content.Headers.ContentType?.ToString());
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("/health/live")).StatusCode);
        Assert.Equal("Healthy", await server.Anonymous.GetStringAsync("/health/ready"));
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "KnowPay.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
