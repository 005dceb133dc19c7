using KnowPay.Data;
using KnowPay.Infrastructure;

namespace KnowPay.Features.Keys;

/// <summary>A key as listed: never its hash; <see cref="Secret"/> only in the answers to create and roll.</summary>
public sealed record ApiKeyView(string Id, string Object, string Prefix, IReadOnlyList<string> Scopes, string Status, DateTime CreatedAt,
    DateTime? ExpiresAt, DateTime? LastUsedAt, DateTime? RevokedAt, string? Secret)
{
    /// <summary>A key that expires within this time is listed as <c>expiring</c> (a rolled key during its overlap, at most this long).</summary>
    public static readonly TimeSpan ExpiringWithin = TimeSpan.FromDays(7);

    public static ApiKeyView From(ApiKey k, DateTime now, string? secret = null) => new(
        k.Id, "api_key", k.Prefix, [.. ApiKeys.ScopeSet(k.Scopes).Order(StringComparer.Ordinal)], StatusOf(k, now), k.CreatedAt,
        k.ExpiresAt, k.LastUsedAt, k.RevokedAt, secret);

    /// <summary>active | expiring | expired | revoked.</summary>
    public static string StatusOf(ApiKey k, DateTime now) =>
        k.RevokedAt is not null ? "revoked"
        : k.ExpiresAt <= now ? "expired"
        : k.ExpiresAt <= now + ExpiringWithin ? "expiring"
        : "active";
}

/// <summary>/v1/api-keys: list, create, roll, revoke (one file each). Managing a key needs api_keys:read or api_keys:write
/// and, to roll or revoke a key or to create one, every scope of that key: a key never mints or handles a stronger one.</summary>
public static class ApiKeyEndpoints
{
    public const string ReadScope = "api_keys:read";
    public const string WriteScope = "api_keys:write";

    public static void Map(RouteGroupBuilder v1)
    {
        ListApiKeys.Map(v1);
        CreateApiKey.Map(v1);
        RollApiKey.Map(v1);
        RevokeApiKey.Map(v1);
    }

    /// <summary>True when the caller holds every scope of <paramref name="scopes"/> (<c>*</c> holds them all).</summary>
    public static bool Covers(AuthenticatedMerchant caller, IEnumerable<string> scopes) => scopes.All(caller.Has);

    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult ScopeExceeded() =>
        Problems.Forbidden("api_key_scope_exceeded", "This API key can only create or manage keys whose scopes it holds itself.");
}
