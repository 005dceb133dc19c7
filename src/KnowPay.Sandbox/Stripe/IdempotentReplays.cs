using System.Collections.Concurrent;
using System.Net;

namespace KnowPay.Sandbox.Stripe;

/// <summary>
/// A provider's idempotency store (Stripe's Idempotency-Key, PayPal's PayPal-Request-Id): the first answer to a key is
/// kept and replayed to every later request with that key. A concurrent request with a key still executing is told so.
/// </summary>
public sealed class IdempotentReplays
{
    public sealed record Answer(int Status, string Body, string Fingerprint);

    readonly ConcurrentDictionary<string, Answer?> answers = new();

    public enum Outcome { Fresh, Replay, InProgress, Mismatch }

    /// <summary>Claims the key for a new execution, or tells why not (with the stored answer for a replay).</summary>
    public (Outcome Outcome, Answer? Answer) Begin(string key, string fingerprint)
    {
        if (answers.TryAdd(key, null)) return (Outcome.Fresh, null);
        if (!answers.TryGetValue(key, out var stored) || stored is null) return (Outcome.InProgress, null);
        return stored.Fingerprint == fingerprint ? (Outcome.Replay, stored) : (Outcome.Mismatch, stored);
    }

    /// <summary>Stores the answer of an execution that started (an error found before it began is forgotten instead).</summary>
    public void Complete(string key, Answer answer) => answers[key] = answer;

    public void Forget(string key) => answers.TryRemove(key, out _);

    public static bool IsServerError(int status) => status >= (int)HttpStatusCode.InternalServerError;
}
