using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Keys;

/// <param name="OverlapSeconds">How long the old key keeps working (0 to 604800; default 86400).</param>
public sealed record RollApiKeyRequest(long? OverlapSeconds);

/// <summary>
/// POST /v1/api-keys/{id}/roll: a new key with the same scopes and expiry (its secret in this answer only); the old key
/// keeps working for the overlap, so clients can switch without a failed call, then expires.
/// </summary>
public static class RollApiKey
{
    public static readonly TimeSpan DefaultOverlap = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxOverlap = TimeSpan.FromDays(7);

    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/api-keys/{id}/roll", Roll).RequireScope(ApiKeyEndpoints.WriteScope);

    static async Task<Results<Ok<ApiKeyView>, ProblemHttpResult>> Roll(string id, RollApiKeyRequest? body, AuthenticatedMerchant merchant,
        KnowPayDb db, ApiKeyCache cache, TimeProvider clock, HttpContext http, CancellationToken ct)
    {
        if (Overlap(body?.OverlapSeconds) is not { } overlap)
            return Problems.Invalid("overlap_seconds_invalid", "overlap_seconds", $"overlap_seconds is between 0 and {(long)MaxOverlap.TotalSeconds}.");
        var old = await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Id == id && k.MerchantId == merchant.Id, ct);
        if (old is null) return Problems.NotFound("api_key", id);
        if (!ApiKeyEndpoints.Covers(merchant, ApiKeys.ScopeSet(old.Scopes))) return ApiKeyEndpoints.ScopeExceeded();
        var now = clock.GetUtcNow().UtcDateTime;
        if (await RollAsync(db, old, overlap, now, ct) is not { } rolled)
            return Problems.Conflict("api_key_inactive", "Only an active key can be rolled; this one is revoked or expired (or was changed meanwhile).");
        cache.Forget(old);
        Idempotency.ReplayWith(http, ApiKeyView.From(rolled.Key, now));
        return TypedResults.Ok(ApiKeyView.From(rolled.Key, now, rolled.Secret));
    }

    /// <summary>The overlap asked for, the default when none, or null when out of range.</summary>
    public static TimeSpan? Overlap(long? seconds) => seconds switch
    {
        null => DefaultOverlap,
        >= 0 when seconds <= (long)MaxOverlap.TotalSeconds => TimeSpan.FromSeconds(seconds.Value),
        _ => null,
    };

    /// <summary>
    /// Adds the new key and moves the old one's expiry to now + <paramref name="overlap"/> (never later than it was), in one
    /// transaction; null when the old key is no longer active or changed since it was read. Also the CLI's <c>keys roll</c>.
    /// </summary>
    public static async Task<(string Secret, ApiKey Key)?> RollAsync(KnowPayDb db, ApiKey old, TimeSpan overlap, DateTime now, CancellationToken ct)
    {
        if (!old.IsActive(now)) return null;
        var end = now + overlap;
        var oldExpiry = old.ExpiresAt;
        DateTime? newExpiry = oldExpiry < end ? oldExpiry : end;
        var (secret, fresh) = ApiKeys.Generate(old.MerchantId, old.Scopes, now);
        fresh.ExpiresAt = oldExpiry;   // a roll replaces the secret, not the key's lifetime
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var shortened = await db.ApiKeys.Where(k => k.Id == old.Id && k.RevokedAt == null && k.ExpiresAt == oldExpiry)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.ExpiresAt, newExpiry), ct);
        if (shortened == 0) return null;
        db.ApiKeys.Add(fresh);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return (secret, fresh);
    }
}
