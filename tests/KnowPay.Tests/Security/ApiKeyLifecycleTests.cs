using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Security;

/// <summary>
/// /v1/api-keys: a secret is shown once and never listed; a roll keeps both keys working for the overlap; a revoke or an
/// expiry refuses the key at once; last_used_at follows use; another merchant's key is a 404.
/// </summary>
[Collection("server")]
public sealed class ApiKeyLifecycleTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Create_ShowsTheSecretOnce_ListAndReplayNeverShowIt_AndTheKeyHasItsScopes(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var created = await m.PostOkAsync("/v1/api-keys", new { scopes = new[] { "orders:read" } }, idempotencyKey: "key-1");
        var secret = (string)created["secret"]!;
        Assert.StartsWith("sk_test_", secret);
        Assert.StartsWith("key_", (string)created["id"]!);
        Assert.Equal(secret[..12], (string?)created["prefix"]);
        Assert.Equal(["orders:read"], created["scopes"]!.AsArray().Select(s => (string)s!));
        Assert.Equal("active", (string?)created["status"]);

        var replay = await m.PostAsync("/v1/api-keys", new { scopes = new[] { "orders:read" } }, idempotencyKey: "key-1");
        var replayed = Json.Parse(await replay.Content.ReadAsStringAsync());
        Assert.Equal((string)created["id"]!, (string?)replayed["id"]);
        Assert.Null(replayed["secret"]);

        var hash = await server.QueryAsync(d => d.ApiKeys.Where(k => k.Id == (string)created["id"]!).Select(k => k.Hash).SingleAsync());
        var list = await m.Http.GetStringAsync("/v1/api-keys");
        Assert.DoesNotContain(secret, list);
        Assert.DoesNotContain(hash, list);
        Assert.DoesNotContain("\"secret\"", list);
        Assert.DoesNotContain("\"hash\"", list);
        var stored = await server.QueryAsync(d => d.IdempotencyRecords.Where(r => r.MerchantId == m.MerchantId).Select(r => r.ResponseBody).ToListAsync());
        Assert.DoesNotContain(stored, body => body != null && System.Text.Encoding.UTF8.GetString(body).Contains(secret, StringComparison.Ordinal));

        var key = Client(server, secret);
        Assert.Equal(HttpStatusCode.OK, (await key.GetAsync("/v1/orders")).StatusCode);
        await ExpectProblem(await key.PostAsync("/v1/api-keys", Body(new { })), HttpStatusCode.Forbidden, "scope_missing");
        await ExpectProblem(await key.GetAsync("/v1/api-keys"), HttpStatusCode.Forbidden, "scope_missing");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Create_RefusesUnknownScopes_StrongerScopes_AndAPastExpiry(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        await ExpectProblem(await m.PostAsync("/v1/api-keys", new { scopes = new[] { "orders:fly" } }), HttpStatusCode.BadRequest, "scopes_invalid");
        await ExpectProblem(await m.PostAsync("/v1/api-keys", new { scopes = Array.Empty<string>() }), HttpStatusCode.BadRequest, "scopes_invalid");
        await ExpectProblem(await m.PostAsync("/v1/api-keys", new { expires_at = DateTime.UtcNow.AddMinutes(-1) }), HttpStatusCode.BadRequest, "expires_at_invalid");

        var manager = Client(server, (string)(await m.PostOkAsync("/v1/api-keys", new { scopes = new[] { "api_keys:write", "api_keys:read", "orders:read" } }))["secret"]!);
        await ExpectProblem(await manager.PostAsync("/v1/api-keys", Body(new { scopes = new[] { "*" } })), HttpStatusCode.Forbidden, "api_key_scope_exceeded");
        var allKeys = Json.Parse(await manager.GetStringAsync("/v1/api-keys"))["data"]!.AsArray();
        var strongest = (string)allKeys.Single(k => k!["scopes"]!.AsArray().Any(s => (string?)s == "*"))!["id"]!;
        await ExpectProblem(await manager.PostAsync($"/v1/api-keys/{strongest}/roll", Body(new { })), HttpStatusCode.Forbidden, "api_key_scope_exceeded");
        await ExpectProblem(await manager.PostAsync($"/v1/api-keys/{strongest}/revoke", null), HttpStatusCode.Forbidden, "api_key_scope_exceeded");
        var weaker = await manager.PostAsync("/v1/api-keys", Body(new { scopes = new[] { "orders:read" } }));
        Assert.Equal(HttpStatusCode.Created, weaker.StatusCode);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Roll_BothKeysWorkDuringTheOverlap_TheOldIsRefusedAfter(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var old = await m.PostOkAsync("/v1/api-keys", new { scopes = new[] { "orders:read", "catalog:read" } });
        var oldClient = Client(server, (string)old["secret"]!);
        Assert.Equal(HttpStatusCode.OK, (await oldClient.GetAsync("/v1/orders")).StatusCode);   // cached on this node

        await ExpectProblem(await m.PostAsync($"/v1/api-keys/{old["id"]}/roll", new { overlap_seconds = 7 * 86400 + 1 }), HttpStatusCode.BadRequest, "overlap_seconds_invalid");
        await ExpectProblem(await m.PostAsync($"/v1/api-keys/{old["id"]}/roll", new { overlap_seconds = -1 }), HttpStatusCode.BadRequest, "overlap_seconds_invalid");
        var rolledAt = DateTime.UtcNow;
        var fresh = await m.PostOkAsync($"/v1/api-keys/{old["id"]}/roll", new { overlap_seconds = 2 });
        Assert.NotEqual((string)old["id"]!, (string)fresh["id"]!);
        Assert.Equal(old["scopes"]!.ToJsonString(), fresh["scopes"]!.ToJsonString());
        var freshClient = Client(server, (string)fresh["secret"]!);

        Assert.Equal(HttpStatusCode.OK, (await oldClient.GetAsync("/v1/orders")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await freshClient.GetAsync("/v1/orders")).StatusCode);
        var listed = await KeyAsync(m, (string)old["id"]!);
        Assert.Equal("expiring", (string?)listed["status"]);
        Assert.InRange((DateTime)listed["expires_at"]!, rolledAt.AddSeconds(1), rolledAt.AddSeconds(4));

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        await ExpectProblem(await oldClient.GetAsync("/v1/orders"), HttpStatusCode.Unauthorized, "api_key_expired");
        Assert.Equal(HttpStatusCode.OK, (await freshClient.GetAsync("/v1/orders")).StatusCode);
        Assert.Equal("expired", (string?)(await KeyAsync(m, (string)old["id"]!))["status"]);
        await ExpectProblem(await m.PostAsync($"/v1/api-keys/{old["id"]}/roll", new { overlap_seconds = 0 }), HttpStatusCode.Conflict, "api_key_inactive");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Revoke_RefusesTheKeyAtOnce_ButNeverTheMerchantsLastActiveKey(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await m.PostOkAsync("/v1/api-keys", new { });
        var otherClient = Client(server, (string)other["secret"]!);
        Assert.Equal(HttpStatusCode.OK, (await otherClient.GetAsync("/v1/orders")).StatusCode);   // cached on this node

        var revoked = await m.PostOkAsync($"/v1/api-keys/{other["id"]}/revoke", new { });
        Assert.Equal("revoked", (string?)revoked["status"]);
        Assert.NotNull(revoked["revoked_at"]);
        await ExpectProblem(await otherClient.GetAsync("/v1/orders"), HttpStatusCode.Unauthorized, "api_key_revoked");
        Assert.Equal("revoked", (string?)(await m.PostOkAsync($"/v1/api-keys/{other["id"]}/revoke", new { }))["status"]);   // again: no change

        var ownId = (string)(await KeysAsync(m)).Single(k => (string?)k["status"] == "active")["id"]!;
        await ExpectProblem(await m.PostAsync($"/v1/api-keys/{ownId}/revoke", new { }), HttpStatusCode.Conflict, "api_key_last_active");
        Assert.Equal(HttpStatusCode.OK, (await m.Http.GetAsync("/v1/orders")).StatusCode);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ExpiredKey_IsRefused(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var key = await m.PostOkAsync("/v1/api-keys", new { expires_at = DateTime.UtcNow.AddSeconds(1.5) });
        Assert.Equal("expiring", (string?)key["status"]);
        var client = Client(server, (string)key["secret"]!);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/orders")).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await ExpectProblem(await client.GetAsync("/v1/orders"), HttpStatusCode.Unauthorized, "api_key_expired");
        Assert.Equal("expired", (string?)(await KeyAsync(m, (string)key["id"]!))["status"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task LastUsedAt_IsSetAfterACall(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var key = await m.PostOkAsync("/v1/api-keys", new { scopes = new[] { "orders:read" } });
        Assert.Null(key["last_used_at"]);
        var before = DateTime.UtcNow.AddSeconds(-1);
        Assert.Equal(HttpStatusCode.OK, (await Client(server, (string)key["secret"]!).GetAsync("/v1/orders")).StatusCode);

        JsonNode? lastUsed = null;
        for (var i = 0; i < 50 && lastUsed is null; i++)
        {
            lastUsed = (await KeyAsync(m, (string)key["id"]!))["last_used_at"];
            if (lastUsed is null) await Task.Delay(100);
        }
        Assert.NotNull(lastUsed);
        Assert.InRange((DateTime)lastUsed, before, DateTime.UtcNow.AddSeconds(1));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AnotherMerchantsKey_Is404_AndKeepsWorking(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var othersKey = await other.PostOkAsync("/v1/api-keys", new { });
        var id = (string)othersKey["id"]!;
        await ExpectProblem(await m.PostAsync($"/v1/api-keys/{id}/roll", new { }), HttpStatusCode.NotFound, "api_key_not_found");
        await ExpectProblem(await m.PostAsync($"/v1/api-keys/{id}/revoke", new { }), HttpStatusCode.NotFound, "api_key_not_found");
        Assert.DoesNotContain(id, await m.Http.GetStringAsync("/v1/api-keys"));
        Assert.Equal(HttpStatusCode.OK, (await Client(server, (string)othersKey["secret"]!).GetAsync("/v1/orders")).StatusCode);
        Assert.Equal("active", (string?)(await KeyAsync(other, id))["status"]);
    }

    internal static HttpClient Client(KnowPayServer server, string secret)
    {
        var http = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return http;
    }

    static StringContent Body(object body) => new(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");

    static async Task<List<JsonObject>> KeysAsync(MerchantClient m) =>
        (await m.GetOkAsync("/v1/api-keys?limit=100"))["data"]!.AsArray().Select(k => k!.AsObject()).ToList();

    static async Task<JsonObject> KeyAsync(MerchantClient m, string id) => (await KeysAsync(m)).Single(k => (string?)k["id"] == id);

    internal static async Task ExpectProblem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} instead of {(int)status}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, (string?)Json.Parse(body)["code"]);
    }
}
