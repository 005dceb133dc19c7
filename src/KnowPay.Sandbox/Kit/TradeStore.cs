using System.Diagnostics.CodeAnalysis;

namespace KnowPay.Sandbox;

/// <summary>
/// A simulator's trades by key, at most <see cref="SandboxOptions.MaxTrades"/> of them: beyond it the oldest finished
/// trades are forgotten (an open one goes to the back of the line), so a long-running sandbox's memory stays bounded.
/// A trade is also found by its aliases (its refunds' or captures' ids, <paramref name="aliasesOf"/>), forgotten with it.
/// </summary>
public sealed class TradeStore<TTrade>(SandboxOptions options, Func<TTrade, bool> isOpen, Func<TTrade, IEnumerable<string>>? aliasesOf = null)
    where TTrade : class
{
    readonly ConcurrentDictionary<string, TTrade> trades = new();
    readonly ConcurrentDictionary<string, TTrade> byAlias = new();
    /// <summary>Keys in the order they were added; its count, not the dictionary's (which takes every lock of the table).</summary>
    readonly ConcurrentQueue<string> added = new();

    public bool TryGet(string key, [MaybeNullWhen(false)] out TTrade trade) => trades.TryGetValue(key, out trade);

    public IEnumerable<TTrade> Values => trades.Values;

    /// <summary>Finds the trade by another of its ids; the alias goes when the trade is forgotten.</summary>
    public void Alias(string alias, TTrade trade) => byAlias[alias] = trade;

    public bool TryGetByAlias(string alias, [MaybeNullWhen(false)] out TTrade trade) => byAlias.TryGetValue(alias, out trade);

    /// <summary>The trade under the key, or the one <paramref name="create"/> makes when there is none.</summary>
    public TTrade GetOrAdd(string key, Func<TTrade> create)
    {
        if (trades.TryGetValue(key, out var existing)) return existing;
        var fresh = create();
        var trade = trades.GetOrAdd(key, fresh);
        if (ReferenceEquals(trade, fresh)) Remember(key);
        return trade;
    }

    /// <summary>Adds a trade under a key no other trade has (a fresh provider id).</summary>
    public void Add(string key, TTrade trade)
    {
        if (trades.TryAdd(key, trade)) Remember(key);
    }

    void Remember(string key)
    {
        added.Enqueue(key);
        for (var budget = added.Count; added.Count > options.MaxTrades && budget > 0 && added.TryDequeue(out var oldest); budget--)
        {
            if (trades.TryGetValue(oldest, out var t) && isOpen(t)) added.Enqueue(oldest);
            else if (trades.TryRemove(oldest, out var gone))
                foreach (var alias in aliasesOf?.Invoke(gone) ?? []) byAlias.TryRemove(KeyValuePair.Create(alias, gone));
        }
    }
}
