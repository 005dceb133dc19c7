using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Keys;

public enum RevokeOutcome { Revoked, AlreadyRevoked, NotFound, LastActiveKey }

/// <summary>
/// POST /v1/api-keys/{id}/revoke: the key is refused from now on (at once on this node, within
/// <see cref="ApiKeyCache.Lifetime"/> on the others). The API never revokes a merchant's last active key, which would
/// lock the merchant out (409 api_key_last_active: create or roll another first); the operator CLI may.
/// </summary>
public static class RevokeApiKey
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/api-keys/{id}/revoke", Revoke).RequireScope(ApiKeyEndpoints.WriteScope);

    static async Task<Results<Ok<ApiKeyView>, ProblemHttpResult>> Revoke(string id, AuthenticatedMerchant merchant, KnowPayDb db,
        ApiKeyCache cache, TimeProvider clock, CancellationToken ct)
    {
        var key = await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Id == id && k.MerchantId == merchant.Id, ct);
        if (key is null) return Problems.NotFound("api_key", id);
        if (!ApiKeyEndpoints.Covers(merchant, ApiKeys.ScopeSet(key.Scopes))) return ApiKeyEndpoints.ScopeExceeded();
        var now = clock.GetUtcNow().UtcDateTime;
        var outcome = await RevokeAsync(db, key, now, allowLastActive: false, ct);
        cache.Forget(key);
        if (outcome == RevokeOutcome.LastActiveKey)
            return Problems.Conflict("api_key_last_active", "This is the merchant's last active key; create or roll another key before revoking it.");
        var revoked = await db.ApiKeys.AsNoTracking().SingleAsync(k => k.Id == id, ct);
        return TypedResults.Ok(ApiKeyView.From(revoked, now));
    }

    /// <summary>
    /// Revokes the key unless it is already revoked or, without <paramref name="allowLastActive"/>, it is the merchant's
    /// last active key. On PostgreSQL the merchant's row is locked first, so two revokes of its last two keys cannot both
    /// pass (SQLite's write lock serialises them). Also the CLI's <c>keys revoke</c>.
    /// </summary>
    public static async Task<RevokeOutcome> RevokeAsync(KnowPayDb db, ApiKey key, DateTime now, bool allowLastActive, CancellationToken ct)
    {
        var (id, merchantId) = (key.Id, key.MerchantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (db.IsPostgres) await db.Database.ExecuteSqlAsync($"SELECT 1 FROM merchants WHERE id = {merchantId} FOR UPDATE", ct);
        var revoked = await db.ApiKeys
            .Where(k => k.Id == id && k.MerchantId == merchantId && k.RevokedAt == null)
            .Where(k => allowLastActive || (k.ExpiresAt != null && k.ExpiresAt <= now) ||
                        db.ApiKeys.Any(o => o.MerchantId == merchantId && o.Id != id && o.RevokedAt == null && (o.ExpiresAt == null || o.ExpiresAt > now)))
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.RevokedAt, now), ct);
        await tx.CommitAsync(ct);
        if (revoked == 1) return RevokeOutcome.Revoked;
        var current = await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Id == id && k.MerchantId == merchantId, ct);
        return current is null ? RevokeOutcome.NotFound : current.RevokedAt is not null ? RevokeOutcome.AlreadyRevoked : RevokeOutcome.LastActiveKey;
    }
}
