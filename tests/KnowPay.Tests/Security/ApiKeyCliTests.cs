using System.Net;
using System.Text.RegularExpressions;
using KnowPay.Infrastructure;
using KnowPay.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace KnowPay.Tests.Security;

/// <summary>The operator CLI's <c>keys list</c>, <c>keys roll</c> and <c>keys revoke</c> against a running server's database:
/// the server refuses a rolled-away or revoked key within <see cref="ApiKeyCache.Lifetime"/>.</summary>
[Collection("server")]
public sealed partial class ApiKeyCliTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task KeysListRollRevoke_FromTheCli_TakeEffectOnTheServer(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var key = await m.PostOkAsync("/v1/api-keys", new { scopes = new[] { "orders:read" } });
        var keyId = (string)key["id"]!;
        using var old = ApiKeyLifecycleTests.Client(server, (string)key["secret"]!);
        Assert.Equal(HttpStatusCode.OK, (await old.GetAsync("/v1/orders")).StatusCode);

        var list = await RunAsync(server, "keys", "list", m.MerchantId);
        Assert.Contains(keyId + "\t" + (string)key["prefix"]! + "\tactive\torders:read", list);
        Assert.DoesNotContain((string)key["secret"]!, list);

        var rolled = await RunAsync(server, "keys", "roll", keyId, "--overlap-seconds", "0");
        var secret = SecretLine().Match(rolled).Groups[1].Value;
        Assert.StartsWith("sk_test_", secret);
        Assert.Contains("scopes: orders:read", rolled);
        await RefusedWithinCacheLifetimeAsync(old, "api_key_expired");
        using var fresh = ApiKeyLifecycleTests.Client(server, secret);
        Assert.Equal(HttpStatusCode.OK, (await fresh.GetAsync("/v1/orders")).StatusCode);
        Assert.Contains(keyId + "\t" + (string)key["prefix"]! + "\texpired", await RunAsync(server, "keys", "list", m.MerchantId));

        var freshId = KeyLine().Match(rolled).Groups[1].Value;
        Assert.Contains($"key {freshId} revoked", await RunAsync(server, "keys", "revoke", freshId));
        await RefusedWithinCacheLifetimeAsync(fresh, "api_key_revoked");
        Assert.Contains(freshId + "\t", await RunAsync(server, "keys", "list", m.MerchantId));
        Assert.Contains("\trevoked\t", await RunAsync(server, "keys", "list", m.MerchantId));
    }

    /// <summary>Runs the CLI in this process on the server's database and returns what it printed.</summary>
    static async Task<string> RunAsync(KnowPayServer server, params string[] command)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        string[] settings =
        [
            "--environment=Testing", "--urls=http://127.0.0.1:0", "--Sandbox:Enabled=false", "--Demo:Seed=false",
            "--Logging:LogLevel:Default=Warning", $"--Database:Provider={(server.Db == Db.Postgres ? "postgres" : "sqlite")}",
            $"--ConnectionStrings:KnowPay={server.App.Configuration["ConnectionStrings:KnowPay"]}",
        ];
        Assert.True(await AdminCli.TryRunAsync([.. command, .. settings], output, errors));
        Assert.Equal("", errors.ToString());
        return output.ToString();
    }

    static async Task RefusedWithinCacheLifetimeAsync(HttpClient client, string code)
    {
        var until = DateTime.UtcNow + ApiKeyCache.Lifetime + TimeSpan.FromSeconds(2);
        HttpResponseMessage response;
        while ((response = await client.GetAsync("/v1/orders")).StatusCode == HttpStatusCode.OK && DateTime.UtcNow < until) await Task.Delay(200);
        await ApiKeyLifecycleTests.ExpectProblem(response, HttpStatusCode.Unauthorized, code);
    }

    [GeneratedRegex(@"secret key \(shown once\): (\S+)")]
    private static partial Regex SecretLine();

    [GeneratedRegex(@"(?m)^key: (\S+)")]
    private static partial Regex KeyLine();
}
