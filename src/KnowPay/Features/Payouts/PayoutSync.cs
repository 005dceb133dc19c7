using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Payouts;

/// <summary>
/// Re-sends payouts still pending or in transit after <c>Payouts:ResendAfterSeconds</c> (default 60) without a final
/// answer: the provider is idempotent on the payout id and answers with the transfer's current state, which is applied
/// exactly once. Covers lost answers, lost notifications and provider outages. Safe on many nodes (conditional updates).
/// </summary>
public sealed class PayoutSync(IServiceScopeFactory scopes, IOptions<PayoutsOptions> payouts, ILogger<PayoutSync> log) : IJob
{
    public string Name => "payout_sync";

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var cutoff = now - TimeSpan.FromSeconds(payouts.Value.ResendAfterSeconds);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var rails = scope.ServiceProvider.GetRequiredService<PayoutRails>();
        var due = await db.Payouts.AsNoTracking()
            .Where(p => (p.Status == PayoutStatus.Pending || p.Status == PayoutStatus.InTransit) && (p.LastSentAt == null || p.LastSentAt <= cutoff))
            .OrderBy(p => p.Id).Take(200).ToListAsync(ct);
        var settled = 0;
        foreach (var payout in due)
        {
            if (!rails.TryGet(payout.Provider, out var rail)) continue;
            // One payout that fails never holds back the others (or other merchants').
            try
            {
                await db.Payouts.Where(p => p.Id == payout.Id).ExecuteUpdateAsync(s => s.SetProperty(p => p.LastSentAt, now), ct);
                if (await PayoutSettlement.SendAsync(db, rail, payout, now, log, ct) == PayoutOutcome.Applied) settled++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Payout {PayoutId} of merchant {MerchantId} could not be synced; the others go on", payout.Id, payout.MerchantId);
                Monitoring.KnowPayMetrics.JobItemFailed(Name, payout.MerchantId);
                db.ChangeTracker.Clear();
            }
        }
        return settled;
    }
}
