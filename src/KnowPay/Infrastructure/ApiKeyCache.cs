using System.Collections.Concurrent;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// This node's view of API keys by secret hash, and the writer of their last-used time. A row is kept
/// <see cref="Lifetime"/>: a revoke or roll on this node forgets it at once, on another node (or from the CLI) it takes
/// effect within that time. Expiry needs no refresh: it is compared with the cached row on every request.
/// </summary>
public sealed class ApiKeyCache(IServiceScopeFactory scopes, ILogger<ApiKeyCache> log)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(5);
    /// <summary>last_used_at is written at most this often per key and node, off the request path.</summary>
    public static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    public sealed record Row(AuthenticatedMerchant Merchant, DateTime? ExpiresAt, DateTime? RevokedAt);

    readonly ConcurrentDictionary<string, (Row? Row, long Until)> byHash = new();
    readonly ConcurrentDictionary<string, long> lastUsedWritten = new();

    /// <summary>The key with this hash (revoked and expired ones too, so the answer can say which), or null if there is none.</summary>
    public async ValueTask<Row?> FindAsync(string hash, IServiceProvider requestServices, CancellationToken ct)
    {
        var tick = Environment.TickCount64;
        if (byHash.TryGetValue(hash, out var hit) && hit.Until >= tick) return hit.Row;
        var db = requestServices.GetRequiredService<KnowPayDb>();
        var key = await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Hash == hash, ct);
        var row = key is null ? null
            : new Row(new AuthenticatedMerchant(key.MerchantId, ApiKeys.ScopeSet(key.Scopes), key.Id), key.ExpiresAt, key.RevokedAt);
        if (byHash.Count > 10_000) byHash.Clear();
        byHash[hash] = (row, tick + (long)Lifetime.TotalMilliseconds);
        return row;
    }

    /// <summary>Drops the key's row, so this node reads its new state (revoked, or expiring after a roll) on the next request.</summary>
    public void Forget(ApiKey key) => byHash.TryRemove(key.Hash, out _);

    /// <summary>Notes a use of the key; writes last_used_at in the background when this node has not for a minute.</summary>
    public void Used(string keyId, DateTime now)
    {
        var tick = Environment.TickCount64;
        var due = tick - (long)LastUsedResolution.TotalMilliseconds;
        if (lastUsedWritten.TryGetValue(keyId, out var written))
        {
            if (written > due || !lastUsedWritten.TryUpdate(keyId, tick, written)) return;
        }
        else
        {
            if (lastUsedWritten.Count > 10_000) lastUsedWritten.Clear();
            if (!lastUsedWritten.TryAdd(keyId, tick)) return;
        }
        _ = WriteLastUsedAsync(keyId, now);
    }

    async Task WriteLastUsedAsync(string keyId, DateTime now)
    {
        try
        {
            await Task.Yield();
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
            await db.ApiKeys.Where(k => k.Id == keyId && (k.LastUsedAt == null || k.LastUsedAt < now))
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now));
        }
        catch (Exception e)
        {
            // Only a statistic: a failed write (e.g. during shutdown) is retried with the key's next use after a minute.
            log.LogDebug(e, "Could not record the last use of API key {KeyId}", keyId);
        }
    }
}
