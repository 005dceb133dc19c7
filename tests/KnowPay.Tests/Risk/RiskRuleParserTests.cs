using CsCheck;
using KnowPay.Domain;
using KnowPay.Features.Risk;

namespace KnowPay.Tests.Risk;

public sealed class RiskRuleParserTests
{
    static readonly string[] Tokens =
    [
        "block", "review", "allow", "if", " ", " ", " ", ":amount:", ":account_age_days:", ":customer_external_id:", ":ip:", ":nope:", ":", "@trusted", "@",
        "and", "or", "not", "in", ">", "<", ">=", "<=", "==", "=", "!=", "<>", "(", ")", ",", "'x'", "'", "\"", "5", "50000", "99999999999999999999999",
        "1.5", "-", "+", "*", "/", "%", "?", "true", "false", "[a]", "{", "&&", "||", "!", "like", "#2026#", "Max(1,2)", "\\", "é", "\u0000",
    ];

    [Fact]
    public void RandomText_NeverThrows_ParsesOrGivesAColumnInsideTheRule()
    {
        var token = Gen.Int[0, Tokens.Length - 1].Select(i => Tokens[i]);
        var text = Gen.OneOf(token.Array[0, 25].Select(t => string.Concat(t)), Gen.String[0, 60],
            token.Array[0, 20].Select(t => "block if " + string.Concat(t)));
        text.Sample(rule =>
        {
            var (parsed, error) = RiskRules.Parse("fuzz", rule);
            Assert.True((parsed is null) != (error is null));
            if (error is not null) Assert.InRange(error.Column, 1, Math.Max(1, rule.Length + 1));
            else _ = RiskRules.Compile(parsed!)(new Dictionary<string, object?> { ["amount"] = 100L, ["ip"] = "" });
        }, iter: 20_000);
    }

    /// <summary>A compiled rule decides exactly as a fresh NCalc <see cref="NCalc.Expression"/> over the same tree and
    /// parameters (its defaults, the invariant culture): the same match, or the same exception out of both.</summary>
    [Fact]
    public void CompiledRule_DecidesAsAFreshNCalcExpression()
    {
        static string? Reference(ParsedRule rule, IDictionary<string, object?> parameters)
        {
            try
            {
                var expression = new NCalc.Expression(rule.Expression, new NCalc.ExpressionConfiguration(),
                    new NCalc.ExpressionContext { Parameters = parameters }, System.Globalization.CultureInfo.InvariantCulture,
                    new NCalc.Factories.EvaluationVisitorFactory());
                return (expression.Evaluate() is true).ToString();
            }
            catch (NCalc.Exceptions.NCalcException)
            {
                return "False";
            }
            catch (Exception e)
            {
                return e.GetType().Name;
            }
        }
        static string? Compiled(ParsedRule rule, IDictionary<string, object?> parameters)
        {
            try
            {
                return RiskRules.Compile(rule)((IReadOnlyDictionary<string, object?>)parameters).ToString();
            }
            catch (Exception e)
            {
                return e.GetType().Name;
            }
        }
        string[] atoms =
        [
            ":amount: > 5", ":amount: >= 50000", ":account_age_days: < 1", ":amount: * 2 >= 100", ":amount: / :account_age_days: > 1",
            ":amount: % 7 == 1", ":amount: - 99999999999 < 0", ":amount: + 9223372036854775807 > 0", ":customer_external_id: in @trusted",
            ":customer_external_id: in ('x', 'y')", ":ip: == '203.0.113.7'", ":ip: != ''", ":customer_external_id: == 'X'",
            ":orders_per_ip_10m: > 1", "-:amount: < 0", ":amount: == 5.0", ":amount: > 1.5",
        ];
        var condition = Gen.Select(Gen.Int[0, atoms.Length - 1].Array[1, 4], Gen.Bool.Array[4], Gen.Bool.Array[4], (parts, ors, nots) =>
            string.Concat(parts.Select((a, i) => (i == 0 ? "" : ors[i] ? " or " : " and ") + (nots[i] ? "not (" + atoms[a] + ")" : atoms[a]))));
        var parameters = Gen.Select(Gen.OneOf(Gen.Const(0L), Gen.Const(5L), Gen.Const(50_000L), Gen.Long), Gen.OneOf(Gen.Const(0L), Gen.Const(1L), Gen.Long[-5, 5]),
            Gen.OneOf(Gen.Const("x"), Gen.Const(""), Gen.Const("vip-1"), Gen.String[0, 3]), Gen.OneOf(Gen.Const("203.0.113.7"), Gen.Const("")), Gen.Bool,
            (amount, age, external, ip, withList) =>
            {
                var p = new Dictionary<string, object?> { ["amount"] = amount, ["account_age_days"] = age, ["customer_external_id"] = external, ["ip"] = ip };
                if (withList) p["@trusted"] = new HashSet<string> { "x", "vip-1" };
                return p;
            });
        Gen.Select(condition, parameters).Sample(t =>
        {
            var (rule, error) = RiskRules.Parse("diff", "block if " + t.Item1);
            Assert.Null(error);
            Assert.Equal(Reference(rule!, t.Item2), Compiled(rule!, t.Item2));
        }, iter: 5_000);
    }

    [Theory]
    [InlineData("block if :failed_attempts_per_ip_1h: > 5", RiskAction.Block)]
    [InlineData("review if :amount: > 50000 and :account_age_days: < 1", RiskAction.Review)]
    [InlineData("allow if :customer_external_id: in @trusted_users", RiskAction.Allow)]
    [InlineData("Block if not (:ip: == '203.0.113.7') or :amount: * 2 >= 100", RiskAction.Block)]
    public void RadarStyleRules_Parse(string rule, RiskAction action)
    {
        var (parsed, error) = RiskRules.Parse("r", rule);
        Assert.Null(error);
        Assert.Equal(action, parsed!.Action);
    }

    [Fact]
    public void BuiltInDefaults_AllParse()
    {
        // A default that no longer parses is dropped silently when compiled: the merchant would lose the guard unseen.
        foreach (var rule in RiskPolicies.Defaults) Assert.Null(RiskRules.Parse(rule.Id!, rule.Rule).Error);
    }

    [Theory]
    [InlineData("block if :amount: > 'x'", 22)]            // number compared with text: the text side's column
    [InlineData("block if :amount_x: > 5", 10)]            // unknown signal
    [InlineData("review if :amount: > 5 and :ip: > 3", 28)] // '>' on text
    [InlineData("block if :amount: > 5 )", 23)]            // NCalc's parse error, mapped back to the rule's column
    [InlineData("stop if :amount: > 5", 1)]
    [InlineData("block if :amount: in @big", 10)]          // 'in' takes text
    [InlineData("block if :amount:", 10)]                  // not a condition
    public void BadRules_AreRefusedWithTheColumn(string rule, int column)
    {
        var (parsed, error) = RiskRules.Parse("r", rule);
        Assert.Null(parsed);
        Assert.Equal(column, error!.Column);
    }

    [Fact]
    public void Evaluation_ListsAndNumbers()
    {
        var (rule, _) = RiskRules.Parse("r", "allow if :customer_external_id: in @trusted_users and :amount: > 50000");
        var matches = RiskRules.Compile(rule!);
        var trusted = new HashSet<string> { "vip-1" };
        Assert.True(matches(new Dictionary<string, object?> { ["customer_external_id"] = "vip-1", ["amount"] = 60000L, ["@trusted_users"] = trusted }));
        Assert.False(matches(new Dictionary<string, object?> { ["customer_external_id"] = "vip-2", ["amount"] = 60000L, ["@trusted_users"] = trusted }));
        Assert.False(matches(new Dictionary<string, object?> { ["customer_external_id"] = "vip-1", ["amount"] = 100L, ["@trusted_users"] = trusted }));
        // A signal whose query failed is missing: the rule does not match rather than fail the decision.
        Assert.False(matches(new Dictionary<string, object?> { ["customer_external_id"] = "vip-1", ["@trusted_users"] = trusted }));
    }

    [Fact]
    public void Score_IsLogisticOverLnOnePlusSignal_WithTheLargestContributionsAsReasons()
    {
        var model = new RiskModel(-2, new Dictionary<string, double> { ["amount"] = 0.1, ["orders_per_ip_10m"] = 1, ["account_age_days"] = -1 });
        var (score, reasons) = model.Score(new Dictionary<string, object?> { ["amount"] = 9900L, ["orders_per_ip_10m"] = 3L, ["account_age_days"] = 0L });
        var z = -2 + 0.1 * Math.Log(9901) + Math.Log(4);
        Assert.Equal((int)Math.Floor(99 / (1 + Math.Exp(-z))), score);
        Assert.Equal(["orders_per_ip_10m", "amount"], reasons);
    }

    [Fact]
    public void ScoreReasons_AreTheLargestPositiveContributions_TiesByName()
    {
        string[] names = ["a", "b", "c", "d", "e", "f"];
        var weights = Gen.Select(Gen.OneOf(Gen.Const(0.5), Gen.Const(-0.3), Gen.Const(0.0), Gen.Double[-2, 2]).Array[names.Length], Gen.Long[-3, 20_000].Array[names.Length],
            Gen.Int[0, 4]);
        weights.Sample(t =>
        {
            var (w, values, top) = t;
            var model = new RiskModel(-1, names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => w[x.i]));
            var signals = names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => (object?)values[x.i]);
            var expected = names.Select((n, i) => (Name: n, Value: w[i] * Math.Log(1 + Math.Max(0, values[i])))).Where(c => c.Value > 0)
                .OrderByDescending(c => c.Value).ThenBy(c => c.Name, StringComparer.Ordinal).Take(top).Select(c => c.Name).ToList();
            Assert.Equal(expected, model.Score(signals, top).Reasons);
        }, iter: 5_000);
    }

    [Fact]
    public void Decide_AllowBeatsBlockBeatsReview_ThenTheScore()
    {
        static RiskRule Rule(string id, RiskAction action, bool match) => new(id, action, id, _ => match);
        var model = new RiskModel(0, new Dictionary<string, double>());
        var signals = new Dictionary<string, object?>();
        Assert.Equal("a", RiskPolicyEvaluation.Decide([Rule("r", RiskAction.Review, true), Rule("b", RiskAction.Block, true), Rule("a", RiskAction.Allow, true)], model, 65, 75, signals).RuleId);
        Assert.Equal("b", RiskPolicyEvaluation.Decide([Rule("r", RiskAction.Review, true), Rule("b", RiskAction.Block, true)], model, 65, 75, signals).RuleId);
        // No rule: σ(0) · 99 = 49 → review at 40, allow at 65.
        Assert.Equal(RiskAction.Review, RiskPolicyEvaluation.Decide([Rule("x", RiskAction.Block, false)], model, 40, 75, signals).Action);
        Assert.Equal(RiskAction.Allow, RiskPolicyEvaluation.Decide([], model, 65, 75, signals).Action);
    }

    [Fact]
    public void Limits_NameTheFirstExceeded()
    {
        var limits = new RiskLimits(10_000, 20_000, 3, 1);
        Assert.Equal("limit_single_payment_max", limits.Check(10_001, 0, 0, 0)!.Code);
        Assert.Equal("customer_daily_amount", limits.Check(9_000, 11_001, 0, 0)!.Limit);
        Assert.Null(limits.Check(9_000, 11_000, 2, 0));
        Assert.Equal("customer_daily_count", limits.Check(1, 0, 3, 0)!.Limit);
        Assert.Equal("product_quantity_per_customer", limits.Check(1, 0, 0, 1)!.Limit);
        // Near long.MaxValue the daily sum is compared without overflowing.
        Assert.Equal("customer_daily_amount", new RiskLimits(null, long.MaxValue, null, null).Check(long.MaxValue, long.MaxValue, 0, 0)!.Limit);
    }
}
