using System.Collections.Concurrent;
using KnowPay.Data;

namespace KnowPay.Features.Payments;

/// <summary>
/// The payments this node started, each with its order, kept until the provider's notification arrives (performance:
/// the confirmation then starts without reading them back — one round trip and one query fewer per paid order).
/// Only what never changes after creation is trusted from here: ids, amount, currency, provider, trade number, creator,
/// share, customer, product, access period. What can change (the order's and the payment's status) is re-checked by
/// the confirming write itself, and when that check fails the confirmation starts over from the database. Another node's
/// notification simply misses and reads the database, so nothing depends on the notification reaching this node.
/// An entry is taken once (a concurrent duplicate notification reads the database) and dropped when its order expires.
/// </summary>
public sealed class AwaitedPayments(TimeProvider clock)
{
    /// <summary>At most this many entries (≈ 1 KB each); when full, new payments are simply not remembered.</summary>
    public const int Capacity = 20_000;

    readonly ConcurrentDictionary<string, (Payment Payment, Order Order)> entries = new(StringComparer.Ordinal);
    int count; // kept by hand: ConcurrentDictionary.Count takes every lock of the table
    int sweeping;

    /// <summary>Remembers a payment that was just committed with its order. The objects must not be used by the caller afterwards.</summary>
    public void Add(Payment payment, Order order)
    {
        if (Volatile.Read(ref count) >= Capacity) Sweep();
        if (Volatile.Read(ref count) < Capacity && entries.TryAdd(payment.Id, (payment, order))) Interlocked.Increment(ref count);
    }

    /// <summary>Takes the entry of a payment (once): true when this node started it and it was not taken before.</summary>
    public bool TryTake(string paymentId, string provider, out Payment payment, out Order order)
    {
        if (entries.TryRemove(paymentId, out var entry))
        {
            Interlocked.Decrement(ref count);
            if (entry.Payment.Provider == provider)
            {
                (payment, order) = entry;
                return true;
            }
        }
        (payment, order) = (null!, null!);
        return false;
    }

    /// <summary>Whether the payment is remembered (not yet taken).</summary>
    public bool Remembers(string paymentId) => entries.ContainsKey(paymentId);

    void Sweep()
    {
        if (Interlocked.Exchange(ref sweeping, 1) == 1) return;
        try
        {
            var now = clock.GetUtcNow().UtcDateTime;
            foreach (var (id, entry) in entries)
                if (entry.Order.ExpiresAt < now && entries.TryRemove(id, out _)) Interlocked.Decrement(ref count);
        }
        finally { Volatile.Write(ref sweeping, 0); }
    }
}
