using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Refunds;

public sealed record CreateRefundRequest(long? Amount, [property: FreeText, ColumnLength(TextInput.RefundReason)] string? Reason);

/// <summary>
/// POST /v1/payments/{id}/refunds. Two-phase: (1) in one transaction the amount is reserved on the payment by a
/// conditional UPDATE (refunded_amount + x ≤ amount, payment succeeded) and the refund recorded pending — the database
/// arbitrates concurrent refunds; (2) the provider is called with the refund id as its idempotency key; (3) the answer
/// completes the refund (exactly once, see <see cref="RefundCompletion"/>). A call that definitely did not reach the
/// provider fails the refund and releases the reservation; one that may have applied stays pending for the poller.
/// </summary>
public static class CreateRefund
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/payments/{paymentId}/refunds", Handle).RequireScope("refunds:write");

    static async Task<Results<Created<RefundView>, ProblemHttpResult>> Handle(
        string paymentId, CreateRefundRequest body, AuthenticatedMerchant merchant, KnowPayDb db, PaymentProviders providers,
        TimeProvider clock, ILogger<Refund> log, CancellationToken ct)
    {
        if (body.Amount is <= 0) return Problems.Invalid("amount_invalid", "amount", "amount must be a positive integer in minor units.");
        if (body.Reason is { Length: > 500 }) return Problems.Invalid("reason_invalid", "reason", "reason is at most 500 characters.");
        var payment = await db.Payments.AsNoTracking().SingleOrDefaultAsync(p => p.Id == paymentId && p.MerchantId == merchant.Id, ct);
        if (payment is null) return Problems.NotFound("payment", paymentId);
        if (payment.Status != PaymentTransitions.Refundable)
            return Problems.Conflict("payment_not_refundable", $"Only a succeeded payment can be refunded; this one is {payment.Status.ToString().ToLowerInvariant()}.");
        if (!providers.TryGet(payment.Provider, out var provider))
            return Problems.Conflict("provider_disabled", $"The provider '{payment.Provider}' is not enabled on this server.");

        var stored = await StartAsync(db, provider, payment, body.Amount ?? payment.Amount - payment.RefundedAmount, body.Reason, clock, log);
        if (stored is null)
            return Problems.Conflict("refund_exceeds_captured",
                $"The refund would exceed what remains refundable on payment {payment.Id} (captured {payment.Amount}, refunded or pending {payment.RefundedAmount} when last read).");
        return TypedResults.Created($"/v1/refunds/{stored.Id}", RefundView.From(stored));
    }

    /// <summary>
    /// The refund path shared by the API and jobs (duplicate payments): reserve, call the provider, complete from its
    /// answer. Null when the amount would exceed what remains refundable (nothing written, no provider call).
    /// </summary>
    public static async Task<Refund?> StartAsync(KnowPayDb db, IPaymentProvider provider, Payment payment, long amount, string? reason,
        TimeProvider clock, ILogger log)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var refund = new Refund
        {
            Id = Ids.New("re"), MerchantId = payment.MerchantId, PaymentId = payment.Id, OrderId = payment.OrderId, Provider = payment.Provider,
            Amount = amount, Currency = payment.Currency, Reason = reason, Status = RefundState.Pending, CreatedAt = now,
        };
        // From here on the request's cancellation must not leave a refund half-done.
        if (amount <= 0 || !await ReserveAsync(db, refund, CancellationToken.None)) return null;

        ProviderRefundResult result;
        try
        {
            result = await provider.RefundAsync(new ProviderRefund(payment, refund.Id, refund.Amount, refund.Reason), CancellationToken.None);
        }
        catch (ProviderException e) when (e.MaybeApplied)
        {
            log.LogWarning(e, "Refund {RefundId} may have reached {Provider}; it stays pending and is resolved by query", refund.Id, payment.Provider);
            result = new ProviderRefundResult(RefundStatus.Pending);
        }
        catch (ProviderException e)
        {
            log.LogWarning(e, "Refund {RefundId} refused by {Provider}: {Code}", refund.Id, payment.Provider, e.Code);
            result = new ProviderRefundResult(RefundStatus.Failed, FailureReason: e.Code);
        }
        await RefundCompletion.ApplyAsync(db, refund.Id, result, "answer", clock, log, CancellationToken.None);
        return await db.Refunds.AsNoTracking().SingleAsync(r => r.Id == refund.Id, CancellationToken.None);
    }

    /// <summary>The reservation and the pending refund commit together, or nothing is written.</summary>
    static async Task<bool> ReserveAsync(KnowPayDb db, Refund refund, CancellationToken ct)
    {
        var x = refund.Amount;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var reserved = await db.Payments
            .Where(p => p.Id == refund.PaymentId && p.Status == PaymentTransitions.Refundable && p.RefundedAmount + x <= p.Amount)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.RefundedAmount, p => p.RefundedAmount + x), ct);
        if (reserved == 0) return false;
        db.Refunds.Add(refund);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return true;
    }
}
