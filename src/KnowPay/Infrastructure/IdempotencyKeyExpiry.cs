using KnowPay.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

/// <summary>Forgets Idempotency-Keys after <c>Idempotency:RetentionHours</c> (default 48; the contract promises at least 24).</summary>
public sealed class IdempotencyKeyExpiry(IServiceScopeFactory scopes, IOptions<IdempotencyOptions> idempotency) : IJob
{
    public string Name => "idempotency_key_expiry";

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var cutoff = now - TimeSpan.FromHours(idempotency.Value.RetentionHours);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        return await db.IdempotencyRecords.Where(r => r.CreatedAt < cutoff).ExecuteDeleteAsync(ct);
    }
}
