using System.Collections.Concurrent;
using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>A rule as the API takes and shows it.</summary>
public sealed record RuleInput(string? Id, string? Rule);

/// <summary>A merchant's policy ready to decide with: rules parsed and compiled, lists loaded.</summary>
public sealed record CompiledPolicy(long Version, IReadOnlyList<RiskRule> Rules, IReadOnlyList<RuleInput> Source, RiskLimits Limits,
    int ReviewThreshold, int BlockThreshold, IReadOnlyDictionary<string, HashSet<string>> Lists)
{
    readonly Dictionary<string, object?> listParameters = Lists.ToDictionary(l => "@" + l.Key, l => (object?)l.Value, StringComparer.Ordinal);

    /// <summary>What the rules and the score read: the signals, and the lists as <c>@name</c> (a list before a signal of the
    /// same name). Neither is copied: a decision's parameters are a view over both.</summary>
    public IReadOnlyDictionary<string, object?> Parameters(Dictionary<string, object?> signals) =>
        listParameters.Count == 0 ? signals : new RuleParameters(listParameters, signals);
}

/// <summary>Two dictionaries read as one, the first before the second; read-only (NCalc takes its parameters as an
/// <see cref="IDictionary{TKey,TValue}"/> and only reads them).</summary>
sealed class RuleParameters(Dictionary<string, object?> first, Dictionary<string, object?> second)
    : IDictionary<string, object?>, IReadOnlyDictionary<string, object?>
{
    public bool TryGetValue(string key, out object? value) => first.TryGetValue(key, out value) || second.TryGetValue(key, out value);

    public bool ContainsKey(string key) => first.ContainsKey(key) || second.ContainsKey(key);

    public object? this[string key]
    {
        get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The parameter '{key}' is not there.");
        set => throw ReadOnly();
    }

    IEnumerable<KeyValuePair<string, object?>> All => first.Concat(second.Where(p => !first.ContainsKey(p.Key)));

    public int Count => first.Count + second.Keys.Count(k => !first.ContainsKey(k));
    public ICollection<string> Keys => [.. All.Select(p => p.Key)];
    public ICollection<object?> Values => [.. All.Select(p => p.Value)];
    IEnumerable<string> IReadOnlyDictionary<string, object?>.Keys => Keys;
    IEnumerable<object?> IReadOnlyDictionary<string, object?>.Values => Values;
    public bool IsReadOnly => true;
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => All.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    public bool Contains(KeyValuePair<string, object?> item) => TryGetValue(item.Key, out var value) && Equals(value, item.Value);

    public void CopyTo(KeyValuePair<string, object?>[] array, int arrayIndex)
    {
        foreach (var pair in All) array[arrayIndex++] = pair;
    }

    public void Add(string key, object? value) => throw ReadOnly();
    public void Add(KeyValuePair<string, object?> item) => throw ReadOnly();
    public bool Remove(string key) => throw ReadOnly();
    public bool Remove(KeyValuePair<string, object?> item) => throw ReadOnly();
    public void Clear() => throw ReadOnly();
    static NotSupportedException ReadOnly() => new("A decision's parameters are read-only.");
}

/// <summary>
/// Merchants' policies, compiled once per version and kept: the decision path reads the version with its signals (same
/// query) and only a moved version costs a load and a compile. No row: the built-in defaults.
/// </summary>
public sealed class RiskPolicies(IOptions<RiskOptions> options)
{
    /// <summary>
    /// What a new merchant gets: a card-testing guard (many declines from one IP, or one customer cycling through cards, as
    /// Radar's <c>:card_count_for_customer_hourly: &gt; 3</c>), a per-customer daily limit and a refund-abuse review. The card
    /// guard leaves refunds alone: refunding a charge on a tested card is how the merchant avoids its dispute. A policy
    /// row keeps the rules it was stored with: a rule added here reaches stored defaults only by a data migration
    /// (<see cref="Data.Migrations.CardTestingCardsBackfill"/>).
    /// </summary>
    public static readonly IReadOnlyList<RuleInput> Defaults =
    [
        new("card_testing", "block if :failed_attempts_per_ip_10m: >= 30"),
        new("card_testing_cards", "block if :stage: != 'refund' and :card_count_for_customer_1h: > 3"),
        new("customer_daily_limit", "review if :stage: == 'order' and :orders_per_customer_24h: >= 20"),
        new("refund_abuse", "review if :stage: == 'refund' and :consumed_progress: >= 80"),
    ];

    readonly ConcurrentDictionary<string, CompiledPolicy> compiled = new();
    CompiledPolicy? defaults;

    public RiskModel Model { get; } = options.Value.Model();

    public async ValueTask<CompiledPolicy> GetAsync(KnowPayDb db, string merchantId, long? version, CancellationToken ct)
    {
        if (version is null) return defaults ??= Compile(0, Defaults, null, new Dictionary<string, HashSet<string>>());
        if (compiled.TryGetValue(merchantId, out var cached) && cached.Version == version) return cached;
        var policy = await db.RiskPolicies.AsNoTracking().SingleOrDefaultAsync(p => p.MerchantId == merchantId, ct);
        if (policy is null) return defaults ??= Compile(0, Defaults, null, new Dictionary<string, HashSet<string>>());
        var lists = (await db.RiskLists.AsNoTracking().Where(l => l.MerchantId == merchantId).ToListAsync(ct))
            .ToDictionary(l => l.Name, l => JsonSerializer.Deserialize<string[]>(l.Values)!.ToHashSet(StringComparer.Ordinal));
        var result = Compile(policy.Version, ReadRules(policy.Rules), policy, lists);
        compiled[merchantId] = result;
        return result;
    }

    public static IReadOnlyList<RuleInput> ReadRules(string json) => JsonSerializer.Deserialize<RuleInput[]>(json) ?? [];

    CompiledPolicy Compile(long version, IReadOnlyList<RuleInput> rules, RiskPolicy? policy, IReadOnlyDictionary<string, HashSet<string>> lists)
    {
        var compiledRules = new List<RiskRule>();
        foreach (var input in rules)
        {
            // Rules were checked when saved; one that no longer parses (the language narrowed) is left out, not fatal.
            var (parsed, _) = RiskRules.Parse(input.Id!, input.Rule);
            if (parsed is not null) compiledRules.Add(new RiskRule(parsed.Id, parsed.Action, parsed.Text, RiskRules.Compile(parsed)));
        }
        var limits = policy is null ? RiskLimits.None
            : new RiskLimits(policy.SinglePaymentMax, policy.CustomerDailyAmount, policy.CustomerDailyCount, policy.ProductQuantityPerCustomer);
        return new CompiledPolicy(version, compiledRules, rules, limits,
            policy?.ReviewThreshold ?? options.Value.ReviewThreshold, policy?.BlockThreshold ?? options.Value.BlockThreshold, lists);
    }

    /// <summary>The merchant's policy row, created with the defaults on first change; its version moves with every change.</summary>
    public static async Task<RiskPolicy> ForChangeAsync(KnowPayDb db, string merchantId, DateTime now, CancellationToken ct)
    {
        var policy = await db.RiskPolicies.SingleOrDefaultAsync(p => p.MerchantId == merchantId, ct);
        if (policy is null)
        {
            policy = new RiskPolicy { MerchantId = merchantId, Rules = JsonSerializer.Serialize(Defaults) };
            db.RiskPolicies.Add(policy);
        }
        policy.Version++;
        policy.UpdatedAt = now;
        return policy;
    }
}
