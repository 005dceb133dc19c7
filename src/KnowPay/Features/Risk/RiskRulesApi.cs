using System.Text.Json;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Risk;

public sealed record RiskRulesBody(IReadOnlyList<RuleInput>? Rules);

public sealed record RiskRulesView(string Object, IReadOnlyList<RuleInput> Rules, long Version);

/// <summary>
/// GET/PUT /v1/risk/rules: the merchant's rules, replaced as a whole. Each is parsed and type-checked before anything is
/// written: a bad one is a 400 <c>rule_invalid</c> naming the rule (<c>rules[i].rule</c>) and the column. A rule naming a
/// list that does not exist yet is accepted (the list is empty until PUT /v1/risk/lists/{name}).
/// </summary>
public static partial class RiskRulesApi
{
    const int MaxRules = 100;

    [GeneratedRegex("^[a-z0-9_]{1,64}$")]
    private static partial Regex RuleId();

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/risk/rules", Get).RequireScope("risk:read");
        v1.MapPut("/risk/rules", Put).RequireScope("risk:write").Produces(StatusCodes.Status409Conflict); // risk_policy_changed
    }

    static async Task<Ok<RiskRulesView>> Get(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var policy = await db.RiskPolicies.AsNoTracking().SingleOrDefaultAsync(p => p.MerchantId == merchant.Id, ct);
        return TypedResults.Ok(new RiskRulesView("risk_rules", policy is null ? RiskPolicies.Defaults : RiskPolicies.ReadRules(policy.Rules), policy?.Version ?? 0));
    }

    static async Task<Results<Ok<RiskRulesView>, ProblemHttpResult>> Put(RiskRulesBody body, AuthenticatedMerchant merchant, KnowPayDb db,
        TimeProvider clock, CancellationToken ct)
    {
        if (body.Rules is null) return Problems.Invalid("rules_invalid", "rules", "rules is a list of {id, rule}.");
        if (body.Rules.Count > MaxRules) return Problems.Invalid("rules_invalid", "rules", $"At most {MaxRules} rules.");
        var rules = new List<RuleInput>();
        for (var i = 0; i < body.Rules.Count; i++)
        {
            var id = body.Rules[i]?.Id ?? $"rule_{i + 1}";
            if (!RuleId().IsMatch(id)) return Problems.Invalid("rule_id_invalid", $"rules[{i}].id", "A rule id is 1-64 lower-case letters, digits or '_'.");
            if (rules.Any(r => r.Id == id)) return Problems.Invalid("rule_id_invalid", $"rules[{i}].id", $"The rule id '{id}' is used twice.");
            if (Invalid(body.Rules[i]?.Rule, $"rules[{i}].rule") is { } bad) return bad;
            rules.Add(new RuleInput(id, body.Rules[i]!.Rule));
        }
        var policy = await RiskPolicies.ForChangeAsync(db, merchant.Id, clock.GetUtcNow().UtcDateTime, ct);
        policy.Rules = JsonSerializer.Serialize(rules);
        if (await SaveAsync(db, ct) is { } conflict) return conflict;
        return TypedResults.Ok(new RiskRulesView("risk_rules", rules, policy.Version));
    }

    /// <summary>400 <c>rule_invalid</c> with the column, or null when the rule parses and type-checks.</summary>
    public static ProblemHttpResult? Invalid(string? text, string field)
    {
        var (_, error) = RiskRules.Parse("check", text);
        if (error is null) return null;
        var problem = Problems.Invalid("rule_invalid", field, $"Column {error.Column}: {error.Message}");
        problem.ProblemDetails.Extensions["column"] = error.Column;
        return problem;
    }

    /// <summary>Two first changes of one merchant's policy race on its key: the loser is told to retry, nothing half-written.</summary>
    public static async Task<ProblemHttpResult?> SaveAsync(KnowPayDb db, CancellationToken ct)
    {
        try
        {
            await db.SaveChangesAsync(ct);
            return null;
        }
        catch (DbUpdateException)
        {
            return Problems.Conflict("risk_policy_changed", "The risk policy was changed at the same time; read it again and retry.");
        }
    }
}
