using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

/// <summary>
/// Fails a payment once, from a provider's notification or a query, with its event in the same transaction. The update is
/// conditional on the status the transition starts from: a late or reordered failure never undoes a success.
/// </summary>
public static class FailPayment
{
    /// <returns>True when this call failed the payment; false when it was no longer pending.</returns>
    public static async Task<bool> ApplyAsync(KnowPayDb db, Payment payment, string code, DateTime now, CancellationToken ct)
    {
        var fail = PaymentTransitions.Fail(payment.Status);
        if (!fail.Allowed) return false;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var changed = await db.Payments.Where(p => p.Id == payment.Id && p.Status == fail.From)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, fail.To).SetProperty(p => p.FailureCode, code), ct);
        if (changed == 0) return false;
        payment.Status = fail.To;
        payment.FailureCode = code;
        foreach (var type in fail.Events) Outbox.Add(db, payment.MerchantId, type, payment.Id, PaymentView.From(payment), now);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        Monitoring.KnowPayMetrics.PaymentFailed(payment.Provider, payment.Method, code);
        return true;
    }
}
