using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Infrastructure;

public enum Db { Sqlite, Postgres }

/// <summary>
/// A real KnowPay server on a free loopback port, over real HTTP, with the embedded sandbox providers, on SQLite
/// (a temp file) or PostgreSQL (a new database on the throw-away server). Jobs do not run by themselves: tests
/// call them with the "now" they want.
/// </summary>
public sealed class KnowPayServer : IAsyncDisposable
{
    public required WebApplication App { get; init; }
    public required string BaseUrl { get; init; }
    public required Db Db { get; init; }
    public IServiceProvider Services => App.Services;
    public HttpClient Anonymous { get; } = new();

    /// <summary>Starts a server; skips the test when <paramref name="db"/> is PostgreSQL and no server can be had outside CI.</summary>
    /// <param name="clock">The server's TimeProvider (and its embedded sandbox's), for tests that move time.</param>
    public static async Task<KnowPayServer> StartAsync(Db db, IDictionary<string, string?>? settings = null, TimeProvider? clock = null)
    {
        string connection;
        if (db == Db.Postgres) connection = await PostgresServer.NewDatabaseAsync();
        else connection = $"Data Source={Path.Combine(Path.GetTempPath(), "knowpay-test-" + Guid.NewGuid().ToString("N")[..12] + ".db")}";

        var config = new Dictionary<string, string?>
        {
            ["Database:Provider"] = db == Db.Postgres ? "postgres" : "sqlite",
            ["ConnectionStrings:KnowPay"] = connection,
            ["Sandbox:Enabled"] = "true",
            ["Sandbox:TimeCompression"] = "3600",
            ["Jobs:Enabled"] = "false",
            ["Demo:Seed"] = "false",
            // Test webhook receivers listen on loopback over plain HTTP.
            ["Webhooks:AllowPrivateNetworks"] = "true",
            ["Webhooks:RequireHttps"] = "false",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:KnowPay"] = "Warning",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) config[k] = v;

        var app = KnowPayApp.Build(["--environment=Testing"], b =>
        {
            b.Configuration.AddInMemoryCollection(config);
            b.WebHost.UseUrls("http://127.0.0.1:0");
            if (clock is not null) b.Services.AddSingleton(clock);
        });
        await app.StartAsync();
        var url = app.Services.GetRequiredService<PublicUrl>().Base;
        var server = new KnowPayServer { App = app, BaseUrl = url, Db = db };
        server.Anonymous.BaseAddress = new Uri(url);
        return server;
    }

    /// <summary>A new merchant with one key; the returned client sends it on every request.</summary>
    public async Task<MerchantClient> NewMerchantAsync(string scopes = "*")
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var merchant = new Merchant { Id = global::KnowPay.Domain.Ids.New("mer"), Name = "Test Academy", CreatedAt = DateTime.UtcNow };
        var (secret, key) = ApiKeys.Generate(merchant.Id, scopes, DateTime.UtcNow);
        db.Merchants.Add(merchant);
        db.ApiKeys.Add(key);
        await db.SaveChangesAsync();
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return new MerchantClient(merchant.Id, secret, http, this);
    }

    /// <summary>Runs a registered job once as if the time were <paramref name="now"/>.</summary>
    public Task<int> RunJobAsync(string name, DateTime now) =>
        Services.GetServices<IJob>().Single(j => j.Name == name).RunOnceAsync(now, CancellationToken.None);

    /// <summary>SandboxPay's signature of <paramref name="body"/>: signed as the sandbox signs its notifications, with its own secret.</summary>
    public string SandboxPaySign(string body) =>
        HmacSignature.Sign(Services.GetRequiredService<global::KnowPay.Sandbox.SandboxOptions>().SandboxPaySecret, body, DateTimeOffset.UtcNow);

    /// <summary>Posts a SandboxPay notification to <paramref name="path"/>, signed with <paramref name="signature"/> (SandboxPay's own when null).</summary>
    public async Task<HttpResponseMessage> PostSandboxPayAsync(string path, string body, string? signature = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("SandboxPay-Signature", signature ?? SandboxPaySign(body));
        return await Anonymous.SendAsync(request);
    }

    /// <summary>Queries the database directly (for assertions on what was or was not written).</summary>
    public async Task<T> QueryAsync<T>(Func<KnowPayDb, Task<T>> query)
    {
        await using var scope = Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<KnowPayDb>());
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Anonymous.Dispose();
    }
}

/// <summary>An authenticated client of one merchant, with the steps of the paid-order flow.</summary>
public sealed record MerchantClient(string MerchantId, string Secret, HttpClient Http, KnowPayServer Server)
{
    public async Task<JsonObject> PostOkAsync(string path, object body, string? idempotencyKey = null)
    {
        var response = await PostAsync(path, body, idempotencyKey);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path} → {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public async Task<HttpResponseMessage> PostAsync(string path, object body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await Http.SendAsync(request);
    }

    public async Task<JsonObject> GetOkAsync(string path)
    {
        var response = await Http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path} → {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>A creator and a published course with the given price(s).</summary>
    public async Task<(string CreatorId, string ProductId)> CourseAsync(int creatorShareBps = 7000, params (long Amount, string Currency)[] prices)
    {
        if (prices.Length == 0) prices = [(9900, "CNY")];
        var creator = await PostOkAsync("/v1/creators", new { name = "Creator " + Guid.NewGuid().ToString("N")[..6] });
        var product = await PostOkAsync("/v1/products", new
        {
            creator_id = (string)creator["id"]!, name = "Course", kind = "course", creator_share_bps = creatorShareBps,
            prices = prices.Select(p => new { amount = p.Amount, currency = p.Currency }).ToArray(),
        });
        return ((string)creator["id"]!, (string)product["id"]!);
    }

    public Task<JsonObject> OrderAsync(string productId, string currency = "CNY", string customer = "learner-1") =>
        PostOkAsync("/v1/orders", new { customer_external_id = customer, product_id = productId, currency });

    public Task<JsonObject> PaymentAsync(string orderId, string provider = "sandbox", string method = "qr") =>
        PostOkAsync($"/v1/orders/{orderId}/payments", new { provider, method });

    /// <summary>The simulated SandboxPay buyer pays (the provider then notifies KnowPay over HTTP).</summary>
    public async Task BuyerPaysAsync(string paymentId)
    {
        var response = await Server.Anonymous.PostAsync($"/sandbox/sandboxpay/v1/trades/{paymentId}/pay", null);
        Assert.True(response.IsSuccessStatusCode, $"buyer pay → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Polls the order until it has the status (the notification arrives asynchronously), or fails after the timeout.</summary>
    public async Task<JsonObject> WaitForOrderAsync(string orderId, string status, int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        JsonObject order;
        do
        {
            order = await GetOkAsync($"/v1/orders/{orderId}");
            if ((string?)order["status"] == status) return order;
            await Task.Delay(50);
        } while (DateTime.UtcNow < until);
        Assert.Fail($"order {orderId} is {(string?)order["status"]}, not {status}, after {timeoutMs} ms");
        return order;
    }
}

/// <summary>One server per database for the whole run; tests isolate by merchant. Server tests run one class at a time.</summary>
public sealed class Servers : IAsyncLifetime
{
    readonly Dictionary<Db, Task<KnowPayServer>> started = new();
    readonly object gate = new();

    public Task<KnowPayServer> Get(Db db)
    {
        lock (gate)
        {
            if (!started.TryGetValue(db, out var task)) started[db] = task = KnowPayServer.StartAsync(db);
            return task;
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var task in started.Values)
        {
            await ((Task)task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);   // a skipped start has no server
            if (task.IsCompletedSuccessfully) await task.Result.DisposeAsync();
        }
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<Servers>;

public static class Json
{
    public static JsonObject Parse(string text) => JsonNode.Parse(text)!.AsObject();
}
