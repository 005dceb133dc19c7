using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Risk;

/// <summary>
/// A decision's result for its caller. <see cref="Problem"/> set: refuse (limit, block, waiting review), the attempt already
/// recorded. Otherwise the caller proceeds (<see cref="RiskAction.Allow"/>) or writes the order without starting a payment
/// (<see cref="RiskAction.Review"/>), and stages the decision (and review, and event) into its own commit.
/// </summary>
public sealed class RiskOutcome
{
    public static readonly RiskOutcome Unchecked = new();

    public ProblemHttpResult? Problem { get; init; }
    public RiskAction Action { get; init; } = RiskAction.Allow;
    public RiskDecision? Decision { get; init; }
    public RiskReview? Review { get; init; }

    /// <summary>Adds the decision (and its review and event) to the caller's one-statement commit.</summary>
    public void Stage(StagedRows rows, Payment? payment)
    {
        if (Decision is null) return;
        Decision.PaymentId = payment?.Id;
        rows.Insert(Decision);
        if (Review is not null) rows.Insert(Review);
        if (Action != RiskAction.Allow) Outbox.Add(rows, Decision.MerchantId, EventTypes.RiskDecision, Decision.Id, RiskDecisionView.From(Decision, Review), Decision.CreatedAt);
    }

    /// <summary>Adds the decision to the caller's SaveChanges.</summary>
    public void Stage(KnowPayDb db, Payment? payment)
    {
        if (Decision is null) return;
        Decision.PaymentId = payment?.Id;
        db.RiskDecisions.Add(Decision);
        if (Review is not null) db.RiskReviews.Add(Review);
        if (Action != RiskAction.Allow) Outbox.Add(db, Decision.MerchantId, EventTypes.RiskDecision, Decision.Id, RiskDecisionView.From(Decision, Review), Decision.CreatedAt);
    }
}

/// <summary>
/// Decides on order creation, payment start and refund request: limits first (422 naming the limit), then the merchant's
/// rules (allow → block → review, first match wins), then the score against the merchant's thresholds. Every decision is
/// stored with its signals and rule hits; a block is recorded here (the caller writes nothing), the others with the
/// caller's commit.
/// </summary>
public sealed class RiskEngine(RiskPolicies policies, IOptions<RiskOptions> options, TimeProvider clock, ILogger<RiskEngine> log)
{
    public bool Enabled => options.Value.Enabled;

    /// <summary>The new order's signals for the order's own product read to carry; null when no decision will need them.</summary>
    public RiskSignalsQuery.OrderSignalsBatch? OrderSignals(RiskContextInput? context) =>
        Enabled && context?.Problem() is null ? RiskSignalsQuery.ForNewOrder(context, clock.GetUtcNow().UtcDateTime) : null;

    /// <param name="signals">From <see cref="OrderSignals"/>, read with the product; not read (its batch failed): read here.</param>
    public async Task<RiskOutcome> DecideOrderAsync(KnowPayDb db, Order order, string? customerExternalId, RiskContextInput? context, string? provider,
        RiskSignalsQuery.OrderSignalsBatch? signals, CancellationToken ct)
    {
        if (!Enabled) return RiskOutcome.Unchecked;
        if (context?.Problem() is { } bad) return new RiskOutcome { Problem = bad };
        var subject = new RiskSubject(order.MerchantId, RiskStage.Order, order.Id, order.CustomerId, customerExternalId, order.ProductId,
            order.Amount, order.Currency, provider, context);
        return await DecideAsync(db, subject, ct, batch: signals?.Values is null ? null : signals);
    }

    /// <summary>A payment start on an order: an open review holds it (409), an approved one lets it through unscored.</summary>
    public async Task<RiskOutcome> DecidePaymentAsync(KnowPayDb db, Order order, RiskContextInput? context, string? provider, CancellationToken ct)
    {
        // A closed or paid order is refused by the payment's own checks; nothing to decide.
        if (!Enabled || order.Status != OrderStatus.Pending) return RiskOutcome.Unchecked;
        if (context?.Problem() is { } bad) return new RiskOutcome { Problem = bad };
        var reviews = await db.RiskReviews.AsNoTracking().Where(r => r.OrderId == order.Id && r.Stage != RiskStage.Refund)
            .Select(r => new { r.Id, r.Status }).ToListAsync(ct);
        if (reviews.FirstOrDefault(r => r.Status == RiskReviewStatus.Open) is { } open) return new RiskOutcome { Problem = InReview(order.Id, open.Id) };
        if (reviews.Any(r => r.Status == RiskReviewStatus.Approved)) return RiskOutcome.Unchecked;
        var subject = new RiskSubject(order.MerchantId, RiskStage.Payment, order.Id, order.CustomerId, null, order.ProductId,
            order.Amount, order.Currency, provider, context);
        var outcome = await DecideAsync(db, subject, ct);
        // A payment start sent to review waits like an order: nothing is started at the provider.
        if (outcome.Action == RiskAction.Review)
        {
            db.ChangeTracker.Clear();
            outcome.Stage(db, null);
            await db.SaveChangesAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
            return new RiskOutcome { Problem = InReview(order.Id, outcome.Review!.Id), Action = RiskAction.Review, Review = outcome.Review };
        }
        return outcome;
    }

    /// <summary>A refund request: decided and recorded here (refunds are not the hot path); review holds the refund.</summary>
    public async Task<RiskOutcome> DecideRefundAsync(KnowPayDb db, Payment payment, long amount, string? reason, CancellationToken ct)
    {
        if (!Enabled) return RiskOutcome.Unchecked;
        var order = await db.Orders.AsNoTracking().SingleAsync(o => o.Id == payment.OrderId, ct);
        var context = payment.RiskIp is null && payment.RiskDeviceId is null ? null
            : new RiskContextInput(payment.RiskIp, payment.RiskDeviceId, null, payment.RiskAccountCreatedAt, null);
        var subject = new RiskSubject(payment.MerchantId, RiskStage.Refund, order.Id, order.CustomerId, null, order.ProductId,
            amount, payment.Currency, payment.Provider, context);
        var outcome = await DecideAsync(db, subject, ct, payment, amount, reason);
        if (outcome.Problem is null)
        {
            outcome.Stage(db, payment);
            await db.SaveChangesAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
        }
        return outcome;
    }

    async Task<RiskOutcome> DecideAsync(KnowPayDb db, RiskSubject subject, CancellationToken ct, Payment? refundOf = null, long? refundAmount = null,
        string? refundReason = null, RiskSignalsQuery.OrderSignalsBatch? batch = null)
    {
        var now = batch?.Now ?? clock.GetUtcNow().UtcDateTime;
        var signalRead = batch is null ? await RiskSignalsQuery.ReadAsync(db, subject, now, ct) : RiskSignalsQuery.FromBatch(batch, subject);
        if (signalRead.Unavailable.Count > 0)
            log.LogWarning("Risk signals {Groups} unavailable for {Stage} of order {OrderId}; deciding from the rest", signalRead.Unavailable, subject.Stage, subject.OrderId);
        var policy = await policies.GetAsync(db, subject.MerchantId, signalRead.PolicyVersion, ct);
        var signals = signalRead.Signals;

        if (subject.Stage == RiskStage.Order && !signalRead.Unavailable.Contains("customer") &&
            policy.Limits.Check(subject.Amount, (long)signals["amount_per_customer_24h"]!, (long)signals["orders_per_customer_24h"]!,
                signalRead.Unavailable.Contains("entitlements") ? 0 : (long)signals["product_quantity_for_customer"]!) is { } exceeded)
        {
            var limited = Record(subject, signalRead, new RiskVerdict(RiskAction.Block, "limit:" + exceeded.Limit, 0, [exceeded.Limit], []), now);
            await WriteBlockAsync(db, limited);
            return new RiskOutcome
            {
                Action = RiskAction.Block, Decision = limited,
                Problem = Refusal(exceeded.Code, $"The order exceeds the merchant's limit {exceeded.Limit} ({exceeded.Value}).", ("limit", exceeded.Limit), ("limit_value", exceeded.Value)),
            };
        }

        var verdict = RiskPolicyEvaluation.Decide(policy.Rules, policies.Model, policy.ReviewThreshold, policy.BlockThreshold, policy.Parameters(signals));
        var decision = Record(subject, signalRead, verdict, now);
        switch (verdict.Action)
        {
            case RiskAction.Block:
                await WriteBlockAsync(db, decision);
                return new RiskOutcome
                {
                    Action = RiskAction.Block, Decision = decision,
                    Problem = Refusal("risk_blocked", $"Blocked by the merchant's risk rule '{verdict.RuleId}'.", ("rule_id", verdict.RuleId!), ("decision_id", decision.Id)),
                };
            case RiskAction.Review:
                var review = new RiskReview
                {
                    Id = Ids.New("rev"), MerchantId = subject.MerchantId, DecisionId = decision.Id, Stage = subject.Stage, OrderId = subject.OrderId,
                    PaymentId = refundOf?.Id, RefundAmount = refundAmount, RefundReason = refundReason, Status = RiskReviewStatus.Open,
                    Score = verdict.Score, RuleId = verdict.RuleId, Reasons = decision.Reasons, CreatedAt = now,
                };
                return new RiskOutcome { Action = RiskAction.Review, Decision = decision, Review = review };
            default:
                return new RiskOutcome { Action = RiskAction.Allow, Decision = decision };
        }
    }

    internal static RiskDecision Record(RiskSubject subject, SignalRead read, RiskVerdict verdict, DateTime now) => new()
    {
        Id = Ids.New("rdc"), MerchantId = subject.MerchantId, Stage = subject.Stage, OrderId = subject.OrderId, CustomerId = subject.CustomerId,
        Ip = subject.Context?.Ip, DeviceId = subject.Context?.DeviceId, Amount = subject.Amount, Currency = subject.Currency,
        Action = verdict.Action, Score = verdict.Score, RuleId = verdict.RuleId,
        Reasons = JsonSerializer.Serialize(verdict.Reasons), RuleHits = JsonSerializer.Serialize(verdict.RuleHits),
        Signals = StoredSignals.Write(read.Signals, dense: read.Unavailable.Count > 0), Unavailable = read.Unavailable.Count == 0 ? null : string.Join(",", read.Unavailable),
        CreatedAt = now,
    };

    /// <summary>The blocked attempt is recorded (it counts in later signals) with its event, in its own commit.</summary>
    static async Task WriteBlockAsync(KnowPayDb db, RiskDecision decision)
    {
        db.ChangeTracker.Clear();
        db.RiskDecisions.Add(decision);
        Outbox.Add(db, decision.MerchantId, EventTypes.RiskDecision, decision.Id, RiskDecisionView.From(decision, null), decision.CreatedAt);
        await db.SaveChangesAsync(CancellationToken.None);
        db.ChangeTracker.Clear();
    }

    static ProblemHttpResult Refusal(string code, string detail, params (string Key, object Value)[] extensions)
    {
        var problem = Problems.Of(StatusCodes.Status422UnprocessableEntity, code, detail);
        foreach (var (key, value) in extensions) problem.ProblemDetails.Extensions[key] = value;
        return problem;
    }

    public static ProblemHttpResult InReview(string orderId, string reviewId)
    {
        var problem = Problems.Conflict("order_in_review", $"Order '{orderId}' waits for risk review '{reviewId}'; it takes payments once the review is approved.");
        problem.ProblemDetails.Extensions["review_id"] = reviewId;
        return problem;
    }
}

/// <summary>A decision as the <c>risk.decision</c> event and the review queue show it.</summary>
public sealed record RiskDecisionView(string Id, string Object, string Stage, string Action, string OrderId, string? PaymentId, string CustomerId,
    long Amount, string Currency, int Score, string? RuleId, IReadOnlyList<string> Reasons, IReadOnlyList<string> RuleHits,
    IReadOnlyList<string> Unavailable, string? ReviewId, JsonElement Signals, DateTime CreatedAt)
{
    public static RiskDecisionView From(RiskDecision d, RiskReview? review) => new(
        d.Id, "risk_decision", d.Stage.ToString().ToLowerInvariant(), d.Action.ToString().ToLowerInvariant(), d.OrderId, d.PaymentId, d.CustomerId,
        d.Amount, d.Currency, d.Score, d.RuleId, JsonSerializer.Deserialize<string[]>(d.Reasons)!, JsonSerializer.Deserialize<string[]>(d.RuleHits)!,
        d.Unavailable?.Split(',') ?? [], review?.Id, JsonSerializer.SerializeToElement(StoredSignals.Read(d.Signals, d.Unavailable)), d.CreatedAt);
}

/// <summary>
/// A decision's signals as stored: a JSON object without the signals at their catalog default (0, ""), which a new learner's
/// counts mostly are, so a decision row is a third of its full size; read back complete. Dense when a group was unavailable:
/// an absent signal then means "not read", not 0.
/// </summary>
public static class StoredSignals
{
    public static string Write(Dictionary<string, object?> signals, bool dense)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (name, value) in signals)
                switch (value)
                {
                    case long number when dense || number != 0:
                        json.WriteNumber(name, number);
                        break;
                    case string text when dense || text.Length > 0:
                        json.WriteString(name, text);
                        break;
                    case long or string:
                        break;
                    default:
                        json.WritePropertyName(name);
                        JsonSerializer.Serialize(json, value);
                        break;
                }
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Numbers as long, text as string; every catalog signal present, in catalog order (its default when not stored),
    /// unless the decision had unavailable groups; then anything stored outside the catalog, as stored.</summary>
    public static Dictionary<string, object?> Read(string json, string? unavailable)
    {
        var stored = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;
        var signals = new Dictionary<string, object?>(RiskSignals.Catalog.Count, StringComparer.Ordinal);
        if (unavailable is null)
            foreach (var (name, kind) in RiskSignals.Catalog)
                signals[name] = stored.TryGetValue(name, out var value) ? ValueOf(value) : kind == SignalKind.Number ? 0L : "";
        foreach (var (name, value) in stored) signals.TryAdd(name, ValueOf(value));
        return signals;

        static object? ValueOf(JsonElement value) => value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out var n) => n,
            JsonValueKind.String => value.GetString(),
            _ => null,
        };
    }
}
