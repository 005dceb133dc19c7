using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using KnowPay.Domain;
using NCalc;
using NCalc.Exceptions;
using NCalc.Factories;
using NCalc.Handlers;
using NCalc.Visitors;

namespace KnowPay.Features.Risk;

/// <summary>A rule that did not parse or type-check: the message and the 1-based column in the rule's text.</summary>
public sealed record RuleError(string Message, int Column);

/// <summary>A parsed, type-checked rule: its NCalc expression and the lists it names.</summary>
public sealed record ParsedRule(string Id, RiskAction Action, string Text, LogicalExpression Expression, IReadOnlyList<string> Lists);

/// <summary>
/// The rule language, in the spirit of Stripe Radar's: <c>block if :failed_attempts_per_ip_1h: &gt; 5</c>,
/// <c>review if :amount: &gt; 50000 and :account_age_days: &lt; 1</c>, <c>allow if :customer_external_id: in @trusted_users</c>.
/// <c>action if expression</c>; the expression is NCalc's (and, or, not, comparisons, arithmetic, 'text' literals) with
/// <c>:signal:</c> translated to the NCalc parameter <c>[signal]</c> and <c>@list</c> to the parameter <c>[@list]</c> (a set
/// of strings, so <c>in @list</c> is NCalc's own <c>in</c>). Brackets are refused in the source, so a rule can name nothing
/// but catalogued signals and lists. Every rule is type-checked against <see cref="RiskSignals.Catalog"/> when saved.
/// Parse never throws: any failure is a <see cref="RuleError"/> with the column in the original text.
/// </summary>
public static partial class RiskRules
{
    public const int MaxRuleLength = 1000;
    static readonly LogicalExpressionParserOptions ParserOptions = new();

    [GeneratedRegex(@"^\s*(allow|block|review)\s+if\s", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Head();

    [GeneratedRegex(@"\(\d+:(\d+)\)")]
    private static partial Regex ParserPosition();

    public static (ParsedRule? Rule, RuleError? Error) Parse(string id, string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return (null, new RuleError("The rule is empty; write 'block if :signal: > 5'.", 1));
        if (text.Length > MaxRuleLength) return (null, new RuleError($"A rule is at most {MaxRuleLength} characters.", MaxRuleLength + 1));
        var head = Head().Match(text);
        if (!head.Success) return (null, new RuleError("A rule starts with 'allow if', 'block if' or 'review if'.", 1));
        var action = Enum.Parse<RiskAction>(head.Groups[1].Value, ignoreCase: true);
        var start = head.Length;
        var (translated, positions, lists, error) = Translate(text, start);
        if (error is not null) return (null, error);
        if (string.IsNullOrWhiteSpace(translated)) return (null, new RuleError("The condition after 'if' is empty.", start + 1));

        LogicalExpression expression;
        try
        {
            expression = LogicalExpressionFactory.Create(translated, ParserOptions, CultureInfo.InvariantCulture);
        }
        catch (NCalcParserException e)
        {
            var match = ParserPosition().Match(e.Message);
            var column = match.Success && int.TryParse(match.Groups[1].Value, CultureInfo.InvariantCulture, out var c) ? OriginalColumn(positions, c - 1) : start + 1;
            return (null, new RuleError("The condition does not parse: " + ParserPosition().Replace(e.Message, "").Replace(" at position", "").Trim(), column));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Anything NCalc's parser throws besides its parse error (an overflowing literal, deep nesting) is a bad rule too.
            return (null, new RuleError("The condition does not parse: " + e.Message, start + 1));
        }
        var check = new TypeCheck(text);
        Kind kind;
        try
        {
            kind = expression.Accept(check);
        }
        catch (RuleTypeException e)
        {
            return (null, e.Error);
        }
        catch (InsufficientExecutionStackException)
        {
            return (null, new RuleError("The condition is nested too deeply.", start + 1));
        }
        if (kind != Kind.Bool) return (null, new RuleError("The condition must be true or false (a comparison), not a " + Describe(kind) + ".", start + 1));
        return (new ParsedRule(id, action, text, expression, lists), null);
    }

    /// <summary>The predicate over a decision's parameters (signals, and the lists as <c>@name</c>). A rule that cannot be
    /// evaluated (a signal missing because its query failed) does not match. The parsed tree is walked by NCalc's own
    /// visitor with NCalc's default options, as <see cref="Expression.Evaluate"/> does; only the visitor and its context
    /// are made per call (they hold the call's parameters), so decisions may evaluate a rule concurrently.</summary>
    public static Func<IReadOnlyDictionary<string, object?>, bool> Compile(ParsedRule rule) => parameters =>
    {
        try
        {
            var context = new ExpressionContext(parameters: parameters as IDictionary<string, object?> ?? new Dictionary<string, object?>(parameters),
                dynamicParameters: NoDynamicParameters, functions: NoFunctions, asyncFunctions: NoAsyncFunctions, asyncParameters: NoAsyncParameters);
            return rule.Expression.Accept(new EvaluationVisitor(context, Evaluation, CultureInfo.InvariantCulture)) is true;
        }
        catch (NCalcException)
        {
            return false;
        }
        catch (InvalidCastException)
        {
            // Expression.Evaluate turns this one into an NCalcException.
            return false;
        }
    };

    /// <summary>NCalc's defaults, immutable: shared by every evaluation.</summary>
    static readonly ExpressionEvaluationOptions Evaluation = new ExpressionConfiguration().Evaluation;

    // Rules name no functions or dynamic parameters (the type check refuses them): empty and read-only, shared.
    static readonly IDictionary<string, ExpressionParameter> NoDynamicParameters = new ReadOnlyDictionary<string, ExpressionParameter>(new Dictionary<string, ExpressionParameter>());
    static readonly IDictionary<string, ExpressionFunction> NoFunctions = new ReadOnlyDictionary<string, ExpressionFunction>(new Dictionary<string, ExpressionFunction>());
    static readonly IDictionary<string, AsyncExpressionFunction> NoAsyncFunctions = new ReadOnlyDictionary<string, AsyncExpressionFunction>(new Dictionary<string, AsyncExpressionFunction>());
    static readonly IDictionary<string, AsyncExpressionParameter> NoAsyncParameters = new ReadOnlyDictionary<string, AsyncExpressionParameter>(new Dictionary<string, AsyncExpressionParameter>());

    static (string Translated, List<int> Positions, List<string> Lists, RuleError? Error) Translate(string text, int start)
    {
        var output = new StringBuilder(text.Length + 16);
        var positions = new List<int>(text.Length + 16);
        var lists = new List<string>();
        void Emit(char c, int at)
        {
            output.Append(c);
            positions.Add(at);
        }
        var i = start;
        while (i < text.Length)
        {
            var c = text[i];
            if (c is '\'' or '"')
            {
                var end = text.IndexOf(c, i + 1);
                if (end < 0) return ("", positions, lists, new RuleError("The text literal is not closed.", i + 1));
                for (var k = i; k <= end; k++) Emit(text[k], k);
                i = end + 1;
            }
            else if (c is ':')
            {
                var name = NameAt(text, i + 1);
                if (name.Length == 0 || i + 1 + name.Length >= text.Length || text[i + 1 + name.Length] != ':')
                    return ("", positions, lists, new RuleError("A signal is written :name: (lower-case letters, digits, '_').", i + 1));
                if (!RiskSignals.Catalog.ContainsKey(name))
                    return ("", positions, lists, new RuleError($"Unknown signal :{name}:.", i + 1));
                Emit('[', i);
                foreach (var (ch, k) in name.Select((ch, k) => (ch, k))) Emit(ch, i + 1 + k);
                Emit(']', i + 1 + name.Length);
                i += name.Length + 2;
            }
            else if (c is '@')
            {
                var name = NameAt(text, i + 1);
                if (name.Length == 0) return ("", positions, lists, new RuleError("A list is written @name (lower-case letters, digits, '_').", i + 1));
                Emit('[', i);
                Emit('@', i);
                foreach (var (ch, k) in name.Select((ch, k) => (ch, k))) Emit(ch, i + 1 + k);
                Emit(']', i + name.Length);
                if (!lists.Contains(name)) lists.Add(name);
                i += name.Length + 1;
            }
            else if (c is '[' or ']' or '{' or '}' or '#' or '$' or '\\' || char.IsControl(c) && !char.IsWhiteSpace(c))
            {
                return ("", positions, lists, new RuleError($"Unexpected character '{(char.IsControl(c) ? '?' : c)}'.", i + 1));
            }
            else
            {
                Emit(c, i);
                i++;
            }
        }
        return (output.ToString(), positions, lists, null);
    }

    static string NameAt(string text, int from)
    {
        var end = from;
        while (end < text.Length && end - from < 64 && (text[end] is >= 'a' and <= 'z' or >= '0' and <= '9' or '_')) end++;
        return text[from..end];
    }

    static int OriginalColumn(List<int> positions, int translatedIndex) =>
        positions.Count == 0 ? 1 : positions[Math.Clamp(translatedIndex, 0, positions.Count - 1)] + 1;

    enum Kind { Number, Text, Bool, List, Set }

    static string Describe(Kind kind) => kind switch
    {
        Kind.Number => "number",
        Kind.Text => "text",
        Kind.Bool => "true/false value",
        _ => "list",
    };

    sealed class RuleTypeException(RuleError error) : Exception(error.Message)
    {
        public RuleError Error { get; } = error;
    }

    /// <summary>The kind of each node; a mismatch throws with the column of the node's first name or literal.</summary>
    sealed class TypeCheck(string text) : ILogicalExpressionVisitor<Kind>
    {
        int depth;

        RuleTypeException Error(string message, LogicalExpression at) => new(new RuleError(message, ColumnOf(at)));

        int ColumnOf(LogicalExpression node)
        {
            var first = FirstName(node);
            var index = first is null ? -1 : text.IndexOf(first, StringComparison.Ordinal);
            return index < 0 ? Head().Match(text).Length + 1 : index + 1;
        }

        static string? FirstName(LogicalExpression node) => node switch
        {
            Identifier id => id.Name.StartsWith('@') || !RiskSignals.Catalog.ContainsKey(id.Name) ? id.Name : ":" + id.Name + ":",
            ValueExpression { Value: string s } => s,
            ValueExpression v => Convert.ToString(v.Value, CultureInfo.InvariantCulture),
            BinaryExpression b => FirstName(b.LeftExpression) ?? FirstName(b.RightExpression),
            UnaryExpression u => FirstName(u.Expression),
            Function f => f.Identifier.Name,
            _ => null,
        };

        Kind Enter(LogicalExpression node, Func<Kind> check)
        {
            if (++depth > 64) throw Error("The condition is nested too deeply.", node);
            try
            {
                return check();
            }
            finally
            {
                depth--;
            }
        }

        public Kind Visit(TernaryExpression expression) => throw Error("'? :' is not part of the rule language.", expression);

        public Kind Visit(BinaryExpression expression) => Enter(expression, () =>
        {
            var type = expression.Type;
            if (type is BinaryExpressionType.In or BinaryExpressionType.NotIn)
            {
                var item = expression.LeftExpression.Accept(this);
                var set = expression.RightExpression.Accept(this);
                if (set is not (Kind.List or Kind.Set)) throw Error("'in' takes a list: @name or ('a', 'b').", expression.RightExpression);
                if (item != Kind.Text) throw Error("'in' compares text with a list of text; this side is a " + Describe(item) + ".", expression.LeftExpression);
                return Kind.Bool;
            }
            var left = expression.LeftExpression.Accept(this);
            var right = expression.RightExpression.Accept(this);
            switch (type)
            {
                case BinaryExpressionType.And or BinaryExpressionType.Or:
                    if (left != Kind.Bool) throw Error("'and'/'or' join comparisons; this side is a " + Describe(left) + ".", expression.LeftExpression);
                    if (right != Kind.Bool) throw Error("'and'/'or' join comparisons; this side is a " + Describe(right) + ".", expression.RightExpression);
                    return Kind.Bool;
                case BinaryExpressionType.Equal or BinaryExpressionType.NotEqual:
                    if (left != right || left is Kind.List or Kind.Set)
                        throw Error($"Cannot compare a {Describe(left)} with a {Describe(right)}.", expression);
                    return Kind.Bool;
                case BinaryExpressionType.Greater or BinaryExpressionType.GreaterOrEqual or BinaryExpressionType.Lesser or BinaryExpressionType.LesserOrEqual:
                    if (left != Kind.Number || right != Kind.Number)
                        throw Error($"'<' and '>' compare numbers, not a {Describe(left)} with a {Describe(right)}.", left != Kind.Number ? expression.LeftExpression : expression.RightExpression);
                    return Kind.Bool;
                case BinaryExpressionType.Plus or BinaryExpressionType.Minus or BinaryExpressionType.Times or BinaryExpressionType.Div or BinaryExpressionType.Modulo:
                    if (left != Kind.Number || right != Kind.Number)
                        throw Error("Arithmetic takes numbers.", left != Kind.Number ? expression.LeftExpression : expression.RightExpression);
                    return Kind.Number;
                default:
                    throw Error($"The operator {type} is not part of the rule language.", expression);
            }
        });

        public Kind Visit(UnaryExpression expression) => Enter(expression, () =>
        {
            var operand = expression.Expression.Accept(this);
            return expression.Type switch
            {
                UnaryExpressionType.Not when operand == Kind.Bool => Kind.Bool,
                UnaryExpressionType.Negate or UnaryExpressionType.Positive when operand == Kind.Number => Kind.Number,
                _ => throw Error($"'{expression.Type}' does not apply to a {Describe(operand)}.", expression),
            };
        });

        public Kind Visit(ValueExpression expression) => expression.Type switch
        {
            NCalc.ValueType.Integer or NCalc.ValueType.Float => Kind.Number,
            NCalc.ValueType.String or NCalc.ValueType.Char => Kind.Text,
            NCalc.ValueType.Boolean => Kind.Bool,
            _ => throw Error("Only numbers, 'text', true and false are literals in rules.", expression),
        };

        public Kind Visit(Function function) => throw Error($"Functions ({function.Identifier.Name}) are not part of the rule language.", function);

        public Kind Visit(Identifier identifier)
        {
            if (identifier.Name.StartsWith('@')) return Kind.List;
            if (RiskSignals.Catalog.TryGetValue(identifier.Name, out var kind)) return kind == SignalKind.Number ? Kind.Number : Kind.Text;
            throw Error($"Unexpected word '{identifier.Name}': signals are written :name:, text 'in quotes'.", identifier);
        }

        public Kind Visit(LogicalExpressionList list) => Enter(list, () =>
        {
            foreach (var item in list)
                if (item.Accept(this) != Kind.Text) throw Error("A literal list holds 'text' values.", item);
            return Kind.Set;
        });
    }
}
