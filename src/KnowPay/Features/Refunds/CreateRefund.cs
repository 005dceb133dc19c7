using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Refunds;

/// <param name="Currency">Optional: the currency the caller means; a refund is in the payment's currency, anything else is refused.</param>
public sealed record CreateRefundRequest(long? Amount, [property: FreeText, ColumnLength(TextInput.RefundReason)] string? Reason, string? Currency = null);

/// <summary>
/// POST /v1/payments/{id}/refunds. Two-phase: (1) in one transaction the amount is reserved on the payment by a
/// conditional UPDATE (refunded_amount + x ≤ amount, payment succeeded) and the refund recorded pending — the database
/// arbitrates concurrent refunds; (2) the provider is called with the refund id as its idempotency key; (3) the answer
/// completes the refund (exactly once, see <see cref="RefundCompletion"/>). A call that definitely did not reach the
/// provider fails the refund and releases the reservation; one that may have applied stays pending for the poller.
/// With an Idempotency-Key the refund records the key (unique per merchant): a retry whose earlier attempt died after
/// recording it (see <see cref="IdempotencyClaim"/>'s lease) resumes that refund — same id, provider called again with
/// it — and never starts a second one.
/// </summary>
public static class CreateRefund
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/payments/{paymentId}/refunds", Handle).RequireScope("refunds:write");

    static async Task<Results<Created<RefundView>, Accepted<Risk.RiskReviewView>, ProblemHttpResult>> Handle(
        string paymentId, CreateRefundRequest body, AuthenticatedMerchant merchant, KnowPayDb db, PaymentProviders providers,
        TimeProvider clock, ILogger<Refund> log, IOptions<MoneyOptions> money, IdempotencyClaim? idempotency, Risk.RiskEngine risk, CancellationToken ct)
    {
        if (body.Amount is <= 0) return Problems.Invalid("amount_invalid", "amount", "amount must be a positive integer in minor units.");
        if (body.Reason is { Length: > 500 }) return Problems.Invalid("reason_invalid", "reason", "reason is at most 500 characters.");
        if (idempotency is not null &&
            await db.Refunds.AsNoTracking().SingleOrDefaultAsync(r => r.MerchantId == merchant.Id && r.IdempotencyKey == idempotency.Key, ct) is { } recorded)
        {
            if (recorded.PaymentId != paymentId)
                return Problems.Conflict("idempotency_key_reused", "This Idempotency-Key was used with a different request; use a new key for a new request.");
            var resumed = await ResumeAsync(db, providers, recorded, clock, log);
            return TypedResults.Created($"/v1/refunds/{resumed.Id}", RefundView.From(resumed));
        }
        var payment = await db.Payments.AsNoTracking().SingleOrDefaultAsync(p => p.Id == paymentId && p.MerchantId == merchant.Id, ct);
        if (payment is null) return Problems.NotFound("payment", paymentId);
        if (payment.Status != PaymentTransitions.Refundable)
            return Problems.Conflict("payment_not_refundable", $"Only a succeeded payment can be refunded; this one is {payment.Status.ToString().ToLowerInvariant()}.");
        // Refused before anything is written: the providers refund only in the price's currency (WeChat Pay global says so).
        if (body.Currency is { } named && !Currency.TryFind(named, out _)) return Fx.CurrencyProblems.NotTaken("currency", named);
        if (body.Currency is { } other && !string.Equals(other, payment.Currency, StringComparison.OrdinalIgnoreCase))
            return Problems.Of(StatusCodes.Status422UnprocessableEntity, "refund_currency_mismatch",
                $"Payment {payment.Id} is in {payment.Currency}; it is refunded in {payment.Currency}, not {other.ToUpperInvariant()}.");
        if (body.Amount is { } asked && !money.Value.Limit.Allows(asked, Currency.Of(payment.Currency)))
            return Problems.Invalid("amount_too_large", "amount", money.Value.Limit.Describe(Currency.Of(payment.Currency)));
        if (!providers.TryGet(payment.Provider, out var provider))
            return Problems.Conflict("provider_disabled", $"The provider '{payment.Provider}' is not enabled on this server.");

        var decided = await risk.DecideRefundAsync(db, payment, body.Amount ?? payment.Amount - payment.RefundedAmount, body.Reason, ct);
        if (decided.Problem is not null) return decided.Problem;
        // A refund sent to review waits for it: approving the review starts it.
        if (decided.Review is not null) return TypedResults.Accepted($"/v1/reviews/{decided.Review.Id}", Risk.RiskReviewView.From(decided.Review));
        var stored = await StartAsync(db, provider, payment, body.Amount ?? payment.Amount - payment.RefundedAmount, body.Reason, clock, log, idempotency?.Key);
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
        TimeProvider clock, ILogger log, string? idempotencyKey = null)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var refund = new Refund
        {
            Id = Ids.New("re"), MerchantId = payment.MerchantId, PaymentId = payment.Id, OrderId = payment.OrderId, Provider = payment.Provider,
            Amount = amount, Currency = payment.Currency, Reason = reason, IdempotencyKey = idempotencyKey, Status = RefundState.Pending, CreatedAt = now,
        };
        // From here on the request's cancellation must not leave a refund half-done.
        try
        {
            if (amount <= 0 || !await ReserveAsync(db, refund, CancellationToken.None)) return null;
        }
        catch (DbUpdateException) when (idempotencyKey is not null)
        {
            // Another attempt with this key recorded its refund first (nothing of this one was committed): resume that one.
            db.ChangeTracker.Clear();
            var recorded = await db.Refunds.AsNoTracking()
                .SingleAsync(r => r.MerchantId == payment.MerchantId && r.IdempotencyKey == idempotencyKey, CancellationToken.None);
            return await CallProviderAsync(db, provider, payment, recorded, clock, log);
        }
        return await CallProviderAsync(db, provider, payment, refund, clock, log);
    }

    /// <summary>An attempt with the same Idempotency-Key recorded this refund: complete it the same way (the provider takes
    /// the refund id as its idempotency key, so calling it again never refunds twice); a completed one is answered as is.</summary>
    static async Task<Refund> ResumeAsync(KnowPayDb db, PaymentProviders providers, Refund recorded, TimeProvider clock, ILogger log)
    {
        if (recorded.Status != RefundState.Pending || !providers.TryGet(recorded.Provider, out var provider)) return recorded;
        var payment = await db.Payments.AsNoTracking().SingleAsync(p => p.Id == recorded.PaymentId, CancellationToken.None);
        return await CallProviderAsync(db, provider, payment, recorded, clock, log);
    }

    static async Task<Refund> CallProviderAsync(KnowPayDb db, IPaymentProvider provider, Payment payment, Refund refund, TimeProvider clock, ILogger log)
    {
        if (refund.Status != RefundState.Pending) return refund;
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
        // Compared without adding: refunded_amount + x overflows bigint for x near long.MaxValue.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var reserved = await db.Payments
            .Where(p => p.Id == refund.PaymentId && p.Status == PaymentTransitions.Refundable && x <= p.Amount - p.RefundedAmount)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.RefundedAmount, p => p.RefundedAmount + x), ct);
        if (reserved == 0) return false;
        db.Refunds.Add(refund);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return true;
    }
}
