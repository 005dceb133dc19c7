using KnowPay.Data;
using KnowPay.Infrastructure;
using KnowPay.Domain;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Payments;

/// <summary>
/// Asks the provider about pending payments that have heard nothing for <c>Jobs:PollAfterSeconds</c> (default 60):
/// a paid trade is confirmed exactly as a notification would; a closed or failed one marks the payment failed.
/// Safe on any number of nodes: confirmation and failure are conditional updates.
/// </summary>
public sealed class PaymentPoller(IServiceScopeFactory scopes, IOptions<JobsOptions> jobs, TimeProvider clock, AwaitedPayments awaited, ILogger<PaymentPoller> log) : IJob
{
    public string Name => "payment_poller";

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var after = TimeSpan.FromSeconds(jobs.Value.PollAfterSeconds);
        var cutoff = now - after;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var providers = scope.ServiceProvider.GetRequiredService<PaymentProviders>();
        var due = await db.Payments.AsNoTracking()
            .Where(p => p.Status == PaymentStatus.Pending && p.CreatedAt <= cutoff && (p.LastQueriedAt == null || p.LastQueriedAt <= cutoff))
            .OrderBy(p => p.CreatedAt).Take(200).ToListAsync(ct);
        var confirmed = 0;
        foreach (var payment in due)
        {
            if (!providers.TryGet(payment.Provider, out var provider)) continue;
            try
            {
                var state = await provider.QueryAsync(payment, ct);
                await db.Payments.Where(p => p.Id == payment.Id).ExecuteUpdateAsync(s => s.SetProperty(p => p.LastQueriedAt, now), ct);
                if (state.Status == TradeStatus.Paid)
                {
                    var outcome = await ConfirmPayment.ApplyAsync(db, PaidFact.From(payment.Provider, payment.Id, state, "query"),
                        provider, clock, log, ct, awaited);
                    if (outcome == ConfirmOutcome.Confirmed) confirmed++;
                }
                else if (state.Status is TradeStatus.Failed or TradeStatus.Closed)
                    await FailPayment.ApplyAsync(db, payment, state.FailureCode ?? state.Status.ToString().ToLowerInvariant(), now, ct);
            }
            catch (ProviderException e)
            {
                log.LogWarning(e, "Query of payment {PaymentId} at {Provider} failed; will retry", payment.Id, payment.Provider);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One payment that cannot be confirmed never holds back the others (or other merchants').
                log.LogError(e, "Payment {PaymentId} of merchant {MerchantId} could not be polled; will retry", payment.Id, payment.MerchantId);
                Monitoring.KnowPayMetrics.JobItemFailed(Name, payment.MerchantId);
                db.ChangeTracker.Clear();
            }
        }
        return confirmed;
    }
}
