using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Risk;

public sealed record RiskBacktestBody(IReadOnlyList<RuleInput>? Rules, DateTime? From, DateTime? To);

/// <summary>What a candidate rule set would have done with the decisions of [from, to): per action, counts and amounts,
/// how many of those orders were later refunded (its precision), and how many decisions would change.</summary>
public sealed record RiskBacktestView(string Object, int Decisions, RiskBacktestAction Blocked, RiskBacktestAction Reviewed, RiskBacktestAction Allowed, int Changed);

public sealed record RiskBacktestAction(int Count, long Amount, int LaterRefunded);

/// <summary>
/// POST /v1/risk/backtest {rules, from, to}: replays the merchant's stored order decisions' signals through the candidate
/// rules (type-checked like PUT /v1/risk/rules, with the merchant's current lists and thresholds) without changing anything.
/// </summary>
public static class RiskBacktest
{
    const int MaxDecisions = 100_000;

    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/risk/backtest", Handle).RequireScope("risk:read");

    static async Task<Results<Ok<RiskBacktestView>, ProblemHttpResult>> Handle(RiskBacktestBody body, AuthenticatedMerchant merchant, KnowPayDb db,
        RiskPolicies policies, CancellationToken ct)
    {
        if (body.Rules is null || body.From is null || body.To is null || body.From >= body.To)
            return Problems.Invalid("backtest_invalid", "rules", "rules, from and to are required, from before to.");
        var rules = new List<RiskRule>();
        for (var i = 0; i < body.Rules.Count; i++)
        {
            var (parsed, error) = RiskRules.Parse(body.Rules[i]?.Id ?? $"rule_{i + 1}", body.Rules[i]?.Rule);
            if (error is not null) return RiskRulesApi.Invalid(body.Rules[i]?.Rule, $"rules[{i}].rule")!;
            rules.Add(new RiskRule(parsed!.Id, parsed.Action, parsed.Text, RiskRules.Compile(parsed)));
        }
        var version = await db.RiskPolicies.Where(p => p.MerchantId == merchant.Id).Select(p => (long?)p.Version).SingleOrDefaultAsync(ct);
        var policy = await policies.GetAsync(db, merchant.Id, version, ct);
        var from = body.From.Value.ToUniversalTime();
        var to = body.To.Value.ToUniversalTime();
        var decisions = await db.RiskDecisions.AsNoTracking()
            .Where(d => d.MerchantId == merchant.Id && d.Stage == RiskStage.Order && d.CreatedAt >= from && d.CreatedAt < to)
            .OrderBy(d => d.CreatedAt).Take(MaxDecisions)
            .Select(d => new { d.OrderId, d.Amount, d.Action, d.Signals, d.Unavailable }).ToListAsync(ct);
        var refunded = (await db.Refunds.AsNoTracking().Where(r => r.MerchantId == merchant.Id && r.CreatedAt >= from)
            .Select(r => r.OrderId).Distinct().ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);

        var tally = new Dictionary<RiskAction, (int Count, long Amount, int Refunded)>();
        var changed = 0;
        foreach (var decision in decisions)
        {
            var verdict = RiskPolicyEvaluation.Decide(rules, policies.Model, policy.ReviewThreshold, policy.BlockThreshold, policy.Parameters(StoredSignals.Read(decision.Signals, decision.Unavailable)));
            var (count, amount, later) = tally.GetValueOrDefault(verdict.Action);
            tally[verdict.Action] = (count + 1, amount + decision.Amount, later + (refunded.Contains(decision.OrderId) ? 1 : 0));
            if (verdict.Action != decision.Action) changed++;
        }
        RiskBacktestAction Of(RiskAction action) => tally.GetValueOrDefault(action) is var (c, a, r) ? new(c, a, r) : new(0, 0, 0);
        return TypedResults.Ok(new RiskBacktestView("risk_backtest", decisions.Count, Of(RiskAction.Block), Of(RiskAction.Review), Of(RiskAction.Allow), changed));
    }
}
