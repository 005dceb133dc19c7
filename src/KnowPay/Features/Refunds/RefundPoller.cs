using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Refunds;

/// <summary>
/// Queries the provider about refunds still pending after <c>Jobs:RefundPollAfterSeconds</c> (default 60, longer than
/// the provider client's total timeout, so a refund whose call is still in flight is never queried): the answer
/// completes them exactly as a notification would. A refund the provider never received is reported failed by the
/// adapter's query, which releases the reservation. Safe on any number of nodes (completion is conditional).
/// </summary>
public sealed class RefundPoller(IServiceScopeFactory scopes, IOptions<JobsOptions> jobs, TimeProvider clock, ILogger<RefundPoller> log) : IJob
{
    public string Name => "refund_poller";

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var cutoff = now - TimeSpan.FromSeconds(jobs.Value.RefundPollAfterSeconds);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var providers = scope.ServiceProvider.GetRequiredService<PaymentProviders>();
        var due = await db.Refunds.AsNoTracking()
            .Where(r => r.Status == RefundState.Pending && r.CreatedAt <= cutoff && (r.LastQueriedAt == null || r.LastQueriedAt <= cutoff))
            .OrderBy(r => r.CreatedAt).Take(200).ToListAsync(ct);
        var completed = 0;
        foreach (var refund in due)
        {
            if (!providers.TryGet(refund.Provider, out var provider)) continue;
            try
            {
                var payment = await db.Payments.AsNoTracking().SingleAsync(p => p.Id == refund.PaymentId, ct);
                var result = await provider.QueryRefundAsync(new ProviderRefund(payment, refund.Id, refund.Amount, refund.Reason), ct);
                await db.Refunds.Where(r => r.Id == refund.Id).ExecuteUpdateAsync(s => s.SetProperty(r => r.LastQueriedAt, now), ct);
                if (await RefundCompletion.ApplyAsync(db, refund.Id, result, "query", clock, log, ct) is RefundOutcome.Succeeded or RefundOutcome.Failed)
                    completed++;
            }
            catch (ProviderException e)
            {
                log.LogWarning(e, "Query of refund {RefundId} at {Provider} failed; will retry", refund.Id, refund.Provider);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One refund that cannot be completed (e.g. a ledger sum out of range) never holds back the others.
                log.LogError(e, "Refund {RefundId} of merchant {MerchantId} could not be completed; will retry", refund.Id, refund.MerchantId);
                Monitoring.KnowPayMetrics.JobItemFailed(Name, refund.MerchantId);
                db.ChangeTracker.Clear();
            }
        }
        return completed;
    }
}
