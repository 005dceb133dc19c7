using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KnowPay.Features.Keys;

/// <param name="Scopes">The new key's scopes (each of <see cref="ApiKeys.AllScopes"/>, or "*"); by default the calling key's.</param>
/// <param name="ExpiresAt">When the key stops working; by default never.</param>
public sealed record CreateApiKeyRequest(string[]? Scopes, DateTime? ExpiresAt);

/// <summary>POST /v1/api-keys: a new key of the merchant; its secret is in this answer only.</summary>
public static class CreateApiKey
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/api-keys", Create).RequireScope(ApiKeyEndpoints.WriteScope);

    static async Task<Results<Created<ApiKeyView>, ProblemHttpResult>> Create(CreateApiKeyRequest body, AuthenticatedMerchant merchant,
        KnowPayDb db, TimeProvider clock, HttpContext http, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var scopes = body.Scopes ?? [.. merchant.Scopes];
        if (scopes.Length == 0 || scopes.Any(s => s != "*" && !ApiKeys.AllScopes.Contains(s)))
            return Problems.Invalid("scopes_invalid", "scopes", $"scopes is a non-empty list of: *, {string.Join(", ", ApiKeys.AllScopes)}.");
        if (!ApiKeyEndpoints.Covers(merchant, scopes)) return ApiKeyEndpoints.ScopeExceeded();
        if (body.ExpiresAt is { } expiresAt && expiresAt.ToUniversalTime() <= now)
            return Problems.Invalid("expires_at_invalid", "expires_at", "expires_at must be in the future.");

        var (secret, key) = ApiKeys.Generate(merchant.Id, string.Join(' ', scopes.Distinct().Order(StringComparer.Ordinal)), now);
        key.ExpiresAt = body.ExpiresAt?.ToUniversalTime();
        db.ApiKeys.Add(key);
        await db.SaveChangesAsync(ct);
        Idempotency.ReplayWith(http, ApiKeyView.From(key, now));
        return TypedResults.Created($"/v1/api-keys/{key.Id}", ApiKeyView.From(key, now, secret));
    }
}
