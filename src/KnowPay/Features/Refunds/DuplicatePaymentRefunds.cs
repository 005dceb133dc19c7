using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Refunds;

/// <summary>
/// Refunds, in full and through the normal refund path (reason <c>duplicate_payment</c>), every succeeded payment
/// that <see cref="Payments.ConfirmPayment"/> flagged as a duplicate (its order had already been paid another way).
/// The flag is written in the confirmation's own transaction, so a crash between confirmation and refund only delays
/// the refund to the next run. Safe on many nodes: the refund reservation (a conditional UPDATE of the payment's
/// refunded amount) lets only one node reserve the rest; the others are refused before calling the provider.
/// A duplicate whose refund failed is tried again after <c>Jobs:DuplicateRefundRetrySeconds</c> (default 3600).
/// </summary>
public sealed class DuplicatePaymentRefunds(IServiceScopeFactory scopes, IOptions<JobsOptions> jobs, TimeProvider clock, ILogger<DuplicatePaymentRefunds> log) : IJob
{
    public const string Reason = "duplicate_payment";

    public string Name => "duplicate_payment_refunds";

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var retryAfter = now - TimeSpan.FromSeconds(jobs.Value.DuplicateRefundRetrySeconds);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var providers = scope.ServiceProvider.GetRequiredService<PaymentProviders>();
        var due = await db.Payments.AsNoTracking()
            .Where(p => p.Duplicate && p.Status == PaymentStatus.Succeeded && p.RefundedAmount < p.Amount &&
                !db.Refunds.Any(r => r.PaymentId == p.Id && r.Reason == Reason && (r.Status != RefundState.Failed || r.CreatedAt > retryAfter)))
            .OrderBy(p => p.SucceededAt).Take(100).ToListAsync(ct);
        var refunded = 0;
        foreach (var payment in due)
        {
            if (!providers.TryGet(payment.Provider, out var provider)) continue;
            Refund? refund;
            try
            {
                refund = await CreateRefund.StartAsync(db, provider, payment, payment.Amount - payment.RefundedAmount, Reason, clock, log);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One payment that cannot be refunded never holds back the others (or other merchants').
                log.LogError(e, "Duplicate payment {PaymentId} of merchant {MerchantId} could not be refunded; will retry", payment.Id, payment.MerchantId);
                Monitoring.KnowPayMetrics.JobItemFailed(Name, payment.MerchantId);
                db.ChangeTracker.Clear();
                continue;
            }
            if (refund is null) continue;   // another node (or a merchant's refund) reserved it first
            log.LogWarning("Duplicate payment {PaymentId} of order {OrderId}: refund {RefundId} of {Amount} {Currency} is {Status}",
                payment.Id, payment.OrderId, refund.Id, refund.Amount, refund.Currency, refund.Status);
            refunded++;
        }
        return refunded;
    }
}
