using KnowPay.Data;
using KnowPay.Infrastructure;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Features.Payments;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Orders;

/// <summary>
/// Expires pending orders past their expiry: every pending payment is closed at its provider first; if the
/// provider says the buyer paid in the meantime, the payment is confirmed instead and the order is not expired.
/// </summary>
public sealed class OrderExpiry(IServiceScopeFactory scopes, TimeProvider clock, AwaitedPayments awaited, ILogger<OrderExpiry> log) : IJob
{
    public string Name => "order_expiry";

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var providers = scope.ServiceProvider.GetRequiredService<PaymentProviders>();
        var due = await db.Orders.AsNoTracking().Where(o => o.Status == OrderStatus.Pending && o.ExpiresAt <= now)
            .OrderBy(o => o.ExpiresAt).Take(200).ToListAsync(ct);
        var expired = 0;
        foreach (var order in due)
        {
            var payments = await db.Payments.AsNoTracking().Where(p => p.OrderId == order.Id && p.Status == PaymentStatus.Pending).ToListAsync(ct);
            var paid = false;
            var closeFailed = false;
            foreach (var payment in payments)
            {
                if (!providers.TryGet(payment.Provider, out var provider)) continue;
                try
                {
                    var state = await provider.CloseAsync(payment, ct);
                    if (state.Status == TradeStatus.Paid)
                    {
                        paid = true;
                        await ConfirmPayment.ApplyAsync(db, PaidFact.From(payment.Provider, payment.Id, state, "query"), provider, clock, log, ct, awaited);
                    }
                    else
                    {
                        var cancel = PaymentTransitions.Cancel(payment.Status);
                        if (cancel.Allowed)
                            await db.Payments.Where(p => p.Id == payment.Id && p.Status == cancel.From)
                                .ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, cancel.To).SetProperty(p => p.FailureCode, "order_expired"), ct);
                    }
                }
                catch (ProviderException e)
                {
                    closeFailed = true;
                    log.LogWarning(e, "Closing payment {PaymentId} at {Provider} failed; the order stays pending until it closes", payment.Id, payment.Provider);
                }
            }
            var expire = OrderTransitions.Expire(order.Status);
            if (paid || closeFailed || !expire.Allowed) continue;

            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var changed = await db.Orders.Where(o => o.Id == order.Id && o.Status == expire.From)
                .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, expire.To).SetProperty(o => o.ClosedAt, now), ct);
            if (changed == 0) continue;
            order.Status = expire.To;
            order.ClosedAt = now;
            foreach (var type in expire.Events) Outbox.Add(db, order.MerchantId, type, order.Id, OrderView.From(order), now);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();
            expired++;
        }
        return expired;
    }
}
