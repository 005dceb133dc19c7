using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>The agreement as the platform sees it (events, API).</summary>
public sealed record MandateView(string Id, string Object, string CustomerId, string Provider, string Method, string Status, string Currency,
    long MaxAmount, DateTime CreatedAt, DateTime? SignedAt, DateTime? RevokedAt, string? RevokedReason)
{
    public static MandateView From(Mandate m) => new(m.Id, "mandate", m.CustomerId, m.Provider, m.Method,
        m.Status.ToString().ToLowerInvariant(), m.Currency, m.MaxAmount, m.CreatedAt, m.SignedAt, m.RevokedAt, m.RevokedReason);
}

/// <summary>
/// Applies what a provider says about an agreement, exactly once per change: a conditional update from the status as
/// read (<see cref="MandateTransitions"/>), and the event in the same commit. A revoked agreement stays revoked, and a
/// state older than the last one applied (by the provider's time) changes nothing, so duplicates and reordering are harmless.
/// </summary>
public sealed class MandateUpdates(KnowPayDb db, TimeProvider clock, ILogger<MandateUpdates> log) : IMandateUpdates
{
    public async Task ApplyAsync(string provider, string mandateId, MandateState state, CancellationToken ct)
    {
        // By the primary key alone (see KnowPayDb.PaymentOfAsync: the (provider, provider_mandate_id) index would be scanned).
        var mandate = await db.Mandates.AsNoTracking().SingleOrDefaultAsync(m => m.Id == mandateId, ct);
        if (mandate is null || mandate.Provider != provider)
        {
            log.LogWarning("Security: {Provider} reported agreement {MandateId} which does not exist for it; ignored", provider, mandateId);
            return;
        }
        if (mandate.ProviderMandateId is not null && state.ProviderMandateId is not null && mandate.ProviderMandateId != state.ProviderMandateId)
        {
            log.LogWarning("Security: {Provider} reported agreement {Reported} for mandate {MandateId} bound to {Bound}; refused",
                provider, state.ProviderMandateId, mandateId, mandate.ProviderMandateId);
            return;
        }
        if (mandate.ProviderChangedAt is { } last && state.At is { } at && at < last) return;
        await ApplyAsync(db, mandate, state, clock.GetUtcNow().UtcDateTime, ct);
    }

    /// <summary>Moves <paramref name="mandate"/> (as read) to <paramref name="state"/>; false when another writer got there first or nothing changes.</summary>
    public static async Task<bool> ApplyAsync(KnowPayDb db, Mandate mandate, MandateState state, DateTime now, CancellationToken ct)
    {
        var transition = state.Status switch
        {
            MandateStatus.Active => MandateTransitions.Activate(mandate.Status),
            MandateStatus.Revoked => MandateTransitions.Revoke(mandate.Status),
            _ => Transition<MandateStatus>.Refuse(mandate.Status),
        };
        if (!transition.Allowed) return false;
        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var changed = transition.To == MandateStatus.Active
                ? await db.Mandates.Where(m => m.Id == mandate.Id && m.Status == transition.From).ExecuteUpdateAsync(s => s
                    .SetProperty(m => m.Status, transition.To)
                    .SetProperty(m => m.SignedAt, state.At ?? now)
                    .SetProperty(m => m.ProviderMandateId, m => state.ProviderMandateId ?? m.ProviderMandateId)
                    .SetProperty(m => m.ProviderCustomerRef, m => state.ProviderCustomerRef ?? m.ProviderCustomerRef)
                    .SetProperty(m => m.ProviderChangedAt, state.At ?? now), ct)
                : await db.Mandates.Where(m => m.Id == mandate.Id && m.Status == transition.From).ExecuteUpdateAsync(s => s
                    .SetProperty(m => m.Status, transition.To)
                    .SetProperty(m => m.RevokedAt, state.At ?? now)
                    .SetProperty(m => m.RevokedReason, state.Reason ?? "provider")
                    .SetProperty(m => m.ProviderChangedAt, state.At ?? now), ct);
            if (changed == 0) return false;
            // Subscriptions waiting for this signature are due now (their own clock's now: any time after their creation).
            if (transition.To == MandateStatus.Active)
                await db.Subscriptions.Where(x => x.MandateId == mandate.Id && x.Status == SubscriptionStatus.Incomplete)
                    .ExecuteUpdateAsync(u => u.SetProperty(x => x.NextActionAt, x => x.CreatedAt), ct);
            var updated = await db.Mandates.AsNoTracking().SingleAsync(m => m.Id == mandate.Id, ct);
            foreach (var type in transition.Events) Outbox.Add(db, updated.MerchantId, type, updated.Id, MandateView.From(updated), now);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();
            return true;
        });
    }
}
