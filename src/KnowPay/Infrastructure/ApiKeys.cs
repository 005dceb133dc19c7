using System.Security.Cryptography;
using System.Text;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>The merchant behind the request's API key (<see cref="KeyId"/>: which key). Bind it as a handler parameter.</summary>
public sealed record AuthenticatedMerchant(string Id, IReadOnlySet<string> Scopes, string? KeyId = null)
{
    public bool Has(string scope) => Scopes.Contains("*") || Scopes.Contains(scope);

    public static ValueTask<AuthenticatedMerchant?> BindAsync(HttpContext http) =>
        ValueTask.FromResult(http.Items[typeof(AuthenticatedMerchant)] as AuthenticatedMerchant);
}

public static class ApiKeys
{
    public static readonly string[] AllScopes =
        ["catalog:write", "catalog:read", "orders:write", "orders:read", "refunds:write", "ledger:read", "ledger:write",
         "payouts:write", "webhooks:write", "events:read", "customers:read", "api_keys:read", "api_keys:write", "audit:read",
         "billing:write", "billing:read", "risk:read", "risk:write"];

    /// <summary>The scopes of a key's <see cref="ApiKey.Scopes"/> column.</summary>
    public static HashSet<string> ScopeSet(string scopes) => scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();

    /// <summary>Makes a new secret key; returns the secret (shown once) and the row that stores only its hash.</summary>
    public static (string Secret, ApiKey Row) Generate(string merchantId, string scopes, DateTime now, string? secret = null)
    {
        secret ??= "sk_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        return (secret, new ApiKey
        {
            Id = Domain.Ids.New("key"),
            MerchantId = merchantId,
            Hash = Hash(secret),
            Prefix = secret[..Math.Min(12, secret.Length)],
            Scopes = scopes,
            CreatedAt = now,
        });
    }

    /// <summary>SHA-256 is enough for a 192-bit random secret: there is nothing to brute-force.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Authenticates every /v1 call except provider notifications (which carry provider signatures). A client IP
    /// past its budget of invalid keys (RateLimits:FailedAuthPerMinute) gets 429 before its key is looked at. A revoked key
    /// is refused with 401 api_key_revoked, an expired one with api_key_expired (checked on every request from the cached
    /// row, so expiry is exact); any other unknown key with api_key_invalid.</summary>
    public static void UseApiKeyAuthentication(this WebApplication app)
    {
        var cache = app.Services.GetRequiredService<ApiKeyCache>();
        var clock = app.Services.GetRequiredService<TimeProvider>();
        var failures = app.Services.GetRequiredService<AbuseLimits>().ApiKeys;
        app.Use(async (http, next) =>
        {
            var path = http.Request.Path;
            if (!path.StartsWithSegments("/v1") || path.StartsWithSegments("/v1/notify"))
            {
                await next();
                return;
            }
            var header = http.Request.Headers.Authorization.ToString();
            if (string.IsNullOrEmpty(header))
            {
                await Problems.WriteAsync(http, Problems.Unauthorized("api_key_missing", "Send your secret key as 'Authorization: Bearer sk_…'."));
                return;
            }
            if (failures.Blocked(http) is { } wait)
            {
                await RateLimits.WriteAsync(http, wait);
                return;
            }
            var secret = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "";
            var key = await cache.FindAsync(Hash(secret), http.RequestServices, http.RequestAborted);
            var now = clock.GetUtcNow().UtcDateTime;
            var refusal = key switch
            {
                null => Problems.Unauthorized("api_key_invalid", "The API key is not valid."),
                { RevokedAt: not null } => Problems.Unauthorized("api_key_revoked", "This API key was revoked; use another key of your merchant."),
                { ExpiresAt: { } expiresAt } when expiresAt <= now =>
                    Problems.Unauthorized("api_key_expired", "This API key expired; use another key of your merchant."),
                _ => null,
            };
            if (refusal is not null)
            {
                failures.Record(http);
                await Problems.WriteAsync(http, refusal);
                return;
            }
            http.Items[typeof(AuthenticatedMerchant)] = key!.Merchant;
            cache.Used(key.Merchant.KeyId!, now);
            await next();
        });
    }

    /// <summary>Refuses the call with 403 unless the key has the scope.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var merchant = context.HttpContext.Items[typeof(AuthenticatedMerchant)] as AuthenticatedMerchant;
            if (merchant is null || !merchant.Has(scope))
                return Problems.Forbidden("scope_missing", $"This API key lacks the '{scope}' scope.");
            return await next(context);
        });
}
