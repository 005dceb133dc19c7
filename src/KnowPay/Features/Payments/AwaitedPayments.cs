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
/// It also knows the confirmations running on this node, so that a second report of the same payment while the first is
/// being confirmed (a renewal's answer and its notification arrive together) takes the first's outcome instead of waiting
/// on its row locks and finding the payment confirmed; and the renewal engine's charges awaiting their answer, so that a
/// notification coming first waits for the engine's confirmation in the same way.
/// </summary>
public sealed class AwaitedPayments(TimeProvider clock)
{
    /// <summary>At most this many entries (≈ 1 KB each); when full, new payments are simply not remembered.</summary>
    public const int Capacity = 20_000;

    readonly ConcurrentDictionary<string, (Payment Payment, Order Order)> entries = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, Confirmation> confirming = new(StringComparer.Ordinal);
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

    /// <summary>
    /// Registers a confirmation of <paramref name="fact"/>'s payment on this node: true when none was running (the caller
    /// confirms, then calls <see cref="EndConfirming"/>), false with the one running.
    /// </summary>
    public bool TryStartConfirming(PaidFact fact, out Confirmation confirmation) => TryStart(new Confirmation(fact.PaymentId, fact), out confirmation);

    /// <summary>
    /// Registers a charge of a payment that this node is making and will confirm itself when the provider answers Paid
    /// (<see cref="Confirmation.Answered"/>), so that the provider's notification of it, arriving before the answer, waits for
    /// that confirmation instead of running its own; false with the one running.
    /// </summary>
    public bool TryStartCharging(string paymentId, out Confirmation confirmation) => TryStart(new Confirmation(paymentId, null), out confirmation);

    bool TryStart(Confirmation mine, out Confirmation confirmation)
    {
        confirmation = confirming.GetOrAdd(mine.PaymentId, mine);
        return ReferenceEquals(confirmation, mine);
    }

    /// <summary>Publishes the outcome (null: it failed, or the charge was not answered Paid) to those waiting and forgets the confirmation.</summary>
    public void EndConfirming(Confirmation confirmation, ConfirmOutcome? outcome)
    {
        confirming.TryRemove(new KeyValuePair<string, Confirmation>(confirmation.PaymentId, confirmation));
        confirmation.End(outcome);
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

/// <summary>A confirmation running on this node (or a charge whose answer it awaits): the fact it applies and, once done, its outcome.</summary>
public sealed class Confirmation(string paymentId, PaidFact? fact)
{
    static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);
    readonly TaskCompletionSource<ConfirmOutcome?> done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    PaidFact? fact = fact;

    public string PaymentId { get; } = paymentId;

    /// <summary>The fact it applies; null while a charge's answer is awaited.</summary>
    public PaidFact? Fact => Volatile.Read(ref fact);

    /// <summary>The charge was answered Paid with <paramref name="answer"/>: this confirmation applies it.</summary>
    public void Answered(PaidFact answer) => Volatile.Write(ref fact, answer);

    internal void End(ConfirmOutcome? outcome) => done.TrySetResult(outcome);

    /// <summary>
    /// AlreadyConfirmed when this confirmation left the payment in a final state and <paramref name="other"/> states nothing it
    /// did not (same provider, amount and trade, no settlement of its own) — what <see cref="ConfirmPayment"/> would answer
    /// after reading it back; null when <paramref name="other"/> must be applied from the database.
    /// </summary>
    public async Task<ConfirmOutcome?> CoversAsync(PaidFact other, CancellationToken ct)
    {
        // A charge's answer is compared once it has come: the outcome is only published after it.
        if (Fact is { } known && !Covers(known, other)) return null;
        ConfirmOutcome? outcome;
        // Bounded: a caller waiting here while holding row locks the running one needs would otherwise wait where PostgreSQL's
        // deadlock detection cannot see it; after the bound it goes to the database like any other report.
        try { outcome = await done.Task.WaitAsync(MaxWait, ct); }
        catch (TimeoutException) { return null; }
        return outcome is ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed && Fact is { } applied && Covers(applied, other)
            ? ConfirmOutcome.AlreadyConfirmed : null;
    }

    static bool Covers(PaidFact applied, PaidFact other) =>
        other.Provider == applied.Provider && other.Amount is not null && other.Amount == applied.Amount
        && (other.ProviderTradeNo is null || other.ProviderTradeNo == applied.ProviderTradeNo)
        && (other.Settlement is null || applied.Settlement is not null);
}
