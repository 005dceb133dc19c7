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
                        await ConfirmPayment.ApplyAsync(db, new PaidFact(payment.Provider, payment.Id, state.ProviderTradeNo,
                            state.Amount ?? -1, state.Currency ?? "", state.PaidAt, "query"), provider, clock, log, ct, awaited);
                    }
                    else
                    {
                        await db.Payments.Where(p => p.Id == payment.Id && p.Status == PaymentStatus.Pending)
                            .ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, PaymentStatus.Canceled).SetProperty(p => p.FailureCode, "order_expired"), ct);
                    }
                }
                catch (ProviderException e)
                {
                    closeFailed = true;
                    log.LogWarning(e, "Closing payment {PaymentId} at {Provider} failed; the order stays pending until it closes", payment.Id, payment.Provider);
                }
            }
            if (paid || closeFailed) continue;

            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var changed = await db.Orders.Where(o => o.Id == order.Id && o.Status == OrderStatus.Pending)
                .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, OrderStatus.Expired).SetProperty(o => o.ClosedAt, now), ct);
            if (changed == 0) continue;
            order.Status = OrderStatus.Expired;
            order.ClosedAt = now;
            Outbox.Add(db, order.MerchantId, "order.expired", order.Id, OrderView.From(order), now);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();
            expired++;
        }
        return expired;
    }
}
