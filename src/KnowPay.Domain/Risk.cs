namespace KnowPay.Domain;

/// <summary>What the risk engine does with an order, a payment start or a refund request.</summary>
public enum RiskAction { Allow, Review, Block }

/// <summary>Where in the flow a decision is made.</summary>
public enum RiskStage { Order, Payment, Refund }

public enum RiskReviewStatus { Open, Approved, Rejected }

public enum SignalKind { Number, Text }

/// <summary>
/// The signals a rule may name (<c>:name:</c>) and the score reads, with their kinds: rules are type-checked against this
/// catalog when saved, so a rule never meets an unknown name or a string where it compares numbers.
/// </summary>
public static class RiskSignals
{
    public static readonly string[] Windows = ["10m", "1h", "24h"];

    public static readonly IReadOnlyDictionary<string, SignalKind> Catalog = Build();

    static Dictionary<string, SignalKind> Build()
    {
        var catalog = new Dictionary<string, SignalKind>(StringComparer.Ordinal)
        {
            ["amount"] = SignalKind.Number,
            ["account_age_days"] = SignalKind.Number,
            ["distinct_customers_per_device_24h"] = SignalKind.Number,
            ["refunds_per_customer_90d"] = SignalKind.Number,
            ["consumed_progress"] = SignalKind.Number,
            ["product_quantity_for_customer"] = SignalKind.Number,
            ["customer_external_id"] = SignalKind.Text,
            ["customer_id"] = SignalKind.Text,
            ["product_id"] = SignalKind.Text,
            ["currency"] = SignalKind.Text,
            ["provider"] = SignalKind.Text,
            ["stage"] = SignalKind.Text,
            ["ip"] = SignalKind.Text,
            ["device_id"] = SignalKind.Text,
            ["card_fingerprint"] = SignalKind.Text,
        };
        foreach (var window in Windows)
        {
            foreach (var who in new[] { "customer", "device", "ip" })
            {
                catalog[$"orders_per_{who}_{window}"] = SignalKind.Number;
                catalog[$"amount_per_{who}_{window}"] = SignalKind.Number;
            }
            catalog[$"failed_attempts_per_ip_{window}"] = SignalKind.Number;
            catalog[$"failed_attempts_per_customer_{window}"] = SignalKind.Number;
            // Cards (Stripe fingerprints): distinct cards the customer tried; payments and amounts on the customer's latest card.
            catalog[$"card_count_for_customer_{window}"] = SignalKind.Number;
            catalog[$"payments_per_card_{window}"] = SignalKind.Number;
            catalog[$"amount_per_card_{window}"] = SignalKind.Number;
        }
        return catalog;
    }
}

/// <summary>
/// The score: a logistic model over the numeric signals. z = intercept + Σ weight(s) · ln(1 + max(0, s)); the score is
/// ⌊99 · σ(z)⌋ (0–99). ln(1 + x) lets counts and amounts saturate, so one huge value does not drown the others. The
/// reasons are the signals with the largest positive contributions weight · ln(1 + s).
/// </summary>
public sealed record RiskModel(double Intercept, IReadOnlyDictionary<string, double> Weights)
{
    public (int Score, IReadOnlyList<string> Reasons) Score(IReadOnlyDictionary<string, object?> signals, int topReasons = 3)
    {
        var z = Intercept;
        // The largest positive contributions so far, largest first (ties by name), at most topReasons of them.
        var top = new List<(string Name, double Value)>(topReasons + 1);
        foreach (var (name, weight) in Weights)
        {
            if (!signals.TryGetValue(name, out var value) || value is not long number) continue;
            var contribution = weight * Math.Log(1 + Math.Max(0, number));
            z += contribution;
            if (contribution <= 0 || topReasons <= 0) continue;
            var at = top.Count;
            while (at > 0 && (contribution > top[at - 1].Value || contribution == top[at - 1].Value && string.CompareOrdinal(name, top[at - 1].Name) < 0)) at--;
            if (at >= topReasons) continue;
            top.Insert(at, (name, contribution));
            if (top.Count > topReasons) top.RemoveAt(topReasons);
        }
        var score = (int)Math.Floor(99 / (1 + Math.Exp(-z)));
        var reasons = new string[top.Count];
        for (var i = 0; i < top.Count; i++) reasons[i] = top[i].Name;
        return (Math.Clamp(score, 0, 99), reasons);
    }
}

/// <summary>A merchant's limits (null = none), in the order's minor units. Exceeding one refuses the order with its code.</summary>
public sealed record RiskLimits(long? SinglePaymentMax, long? CustomerDailyAmount, long? CustomerDailyCount, long? ProductQuantityPerCustomer)
{
    public static readonly RiskLimits None = new(null, null, null, null);

    /// <summary>The first limit the order would exceed, or null. Daily figures are the customer's last 24 h before this order.</summary>
    public LimitExceeded? Check(long amount, long customerAmount24h, long customerOrders24h, long productQuantity)
    {
        if (SinglePaymentMax is { } max && amount > max) return new("single_payment_max", max);
        // Compared without adding: a sum near long.MaxValue would overflow.
        if (CustomerDailyAmount is { } daily && amount > daily - Math.Min(daily, customerAmount24h)) return new("customer_daily_amount", daily);
        if (CustomerDailyCount is { } count && customerOrders24h >= count) return new("customer_daily_count", count);
        if (ProductQuantityPerCustomer is { } quantity && productQuantity >= quantity) return new("product_quantity_per_customer", quantity);
        return null;
    }
}

/// <summary>A merchant's payout limits per creator (null = none), in the payout currency's minor units.</summary>
public sealed record CreatorPayoutLimits(long? PayoutMax, long? DailyAmount)
{
    /// <summary>The first limit a payout of <paramref name="amount"/> would exceed, given what the creator was paid out in the last 24 h.</summary>
    public LimitExceeded? Check(long amount, long paidOut24h)
    {
        if (PayoutMax is { } max && amount > max) return new("creator_payout_max", max);
        // Compared without adding: a sum near long.MaxValue would overflow.
        if (DailyAmount is { } daily && amount > daily - Math.Min(daily, paidOut24h)) return new("creator_daily_payout_amount", daily);
        return null;
    }
}

public sealed record LimitExceeded(string Limit, long Value)
{
    public string Code => "limit_" + Limit;
}

/// <summary>A rule as the engine sees it once parsed: its action and a predicate over the signals.</summary>
public sealed record RiskRule(string Id, RiskAction Action, string Text, Func<IReadOnlyDictionary<string, object?>, bool> Matches);

public sealed record RiskVerdict(RiskAction Action, string? RuleId, int Score, IReadOnlyList<string> Reasons, IReadOnlyList<string> RuleHits);

public static class RiskPolicyEvaluation
{
    static readonly RiskAction[] Precedence = [RiskAction.Allow, RiskAction.Block, RiskAction.Review];

    /// <summary>
    /// Rules in the order allow → block → review (within each, as the merchant listed them); the first match wins. With no
    /// match the score decides: ≥ block threshold blocks, ≥ review threshold reviews. A rule that cannot be evaluated (a signal
    /// missing because its query failed) does not match.
    /// </summary>
    public static RiskVerdict Decide(IReadOnlyList<RiskRule> rules, RiskModel model, int reviewThreshold, int blockThreshold,
        IReadOnlyDictionary<string, object?> signals)
    {
        var (score, reasons) = model.Score(signals);
        foreach (var action in Precedence)
            foreach (var rule in rules)
            {
                if (rule.Action != action || !Matches(rule, signals)) continue;
                return new RiskVerdict(action, rule.Id, score, reasons, [rule.Id]);
            }
        if (score >= blockThreshold) return new RiskVerdict(RiskAction.Block, "score", score, reasons, []);
        if (score >= reviewThreshold) return new RiskVerdict(RiskAction.Review, "score", score, reasons, []);
        return new RiskVerdict(RiskAction.Allow, null, score, reasons, []);
    }

    static bool Matches(RiskRule rule, IReadOnlyDictionary<string, object?> signals)
    {
        try
        {
            return rule.Matches(signals);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or InvalidCastException or KeyNotFoundException or FormatException)
        {
            return false;
        }
    }
}

/// <summary>A review decided by a person or the timeout: only an open review is decided, once.</summary>
public static class RiskReviewTransitions
{
    public static Transition<RiskReviewStatus> Approve(RiskReviewStatus current) => current == RiskReviewStatus.Open
        ? Transition<RiskReviewStatus>.Allow(current, RiskReviewStatus.Approved)
        : Transition<RiskReviewStatus>.Refuse(current);

    public static Transition<RiskReviewStatus> Reject(RiskReviewStatus current) => current == RiskReviewStatus.Open
        ? Transition<RiskReviewStatus>.Allow(current, RiskReviewStatus.Rejected)
        : Transition<RiskReviewStatus>.Refuse(current);

    /// <summary>A rejected review closes its pending order.</summary>
    public static Transition<OrderStatus> CloseOrder(OrderStatus current) => current == OrderStatus.Pending
        ? Transition<OrderStatus>.Allow(current, OrderStatus.Canceled)
        : Transition<OrderStatus>.Refuse(current);
}
