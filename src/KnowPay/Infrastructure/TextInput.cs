using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;

namespace KnowPay.Infrastructure;

/// <summary>Free text (a description, a reason): tab, line feed and carriage return are allowed, other control characters are not.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FreeTextAttribute : Attribute;

/// <summary>The column a request string is stored in; its length is the column's (see <see cref="TextInput"/> constants).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ColumnLengthAttribute(int maxLength) : Attribute
{
    public int MaxLength { get; } = maxLength;
}

/// <summary>
/// Every string a request brings (route values, query values, each string of a JSON body) is checked here before any
/// handler runs: no control characters or unpaired surrogates (PostgreSQL refuses NUL in text, Npgsql's strict UTF-8
/// refuses lone surrogates) and no body string longer than its column (varchar(n) on PostgreSQL).
/// A refusal is 400 <c>&lt;field&gt;_invalid</c> with the field in <c>errors</c>.
/// </summary>
public static class TextInput
{
    /// <summary>The model's default string column length (KnowPayDb's convention); a body string without <see cref="ColumnLengthAttribute"/> is held to it.</summary>
    public const int Default = 200;
    public const int OrderDescription = 1000;
    public const int RefundReason = 500;
    public const int WebhookUrl = 2000;
    public const int WebhookEventTypes = 2000;
    /// <summary>return_url is not stored; it is passed to the provider (Alipay, PayPal), whose own limits are in this range.</summary>
    public const int ReturnUrl = 2000;

    /// <summary>The problem for one string, or null when it is acceptable.</summary>
    public static ProblemHttpResult? Check(string? value, string field, int maxLength = Default, bool freeText = false)
    {
        if (value is null) return null;
        if (value.Length > maxLength)
            return Problems.Invalid(Code(field), field, $"{field} is at most {maxLength} characters.");
        if (!IsClean(value, freeText))
            return Problems.Invalid(Code(field), field,
                freeText ? $"{field} cannot contain control characters other than tab and line breaks." : $"{field} cannot contain control characters.");
        return null;
    }

    /// <summary>No control character (tab, LF, CR only in free text) and no unpaired surrogate.</summary>
    public static bool IsClean(string value, bool freeText = false)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsControl(c) && !(freeText && c is '\t' or '\n' or '\r')) return false;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c)) return false;
        }
        return true;
    }

    /// <summary>Checks route values, query values and the strings of every bound request body on the endpoints of <paramref name="group"/>.</summary>
    public static RouteGroupBuilder RefuseUnsafeText(this RouteGroupBuilder group) =>
        group.AddEndpointFilter(async (context, next) =>
        {
            var request = context.HttpContext.Request;
            foreach (var (name, value) in request.RouteValues)
                if (value is string text && Check(text, name, int.MaxValue) is { } bad) return bad;
            foreach (var (name, values) in request.Query)
            {
                if (!IsClean(name)) return Problems.Invalid("query_invalid", "query", "A query parameter name cannot contain control characters.");
                foreach (var value in values)
                    if (Check(value, name, int.MaxValue) is { } bad) return bad;
            }
            var bodyType = context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType;
            foreach (var argument in context.Arguments)
                if (bodyType is not null && argument?.GetType() == bodyType && CheckObject(argument, "") is { } bad) return bad;
            return await next(context);
        });

    /// <summary>The first bad string of a request body, nested records and lists included; the code names the top-level field.</summary>
    static ProblemHttpResult? CheckObject(object body, string prefix)
    {
        foreach (var field in BodyFields.Of(body.GetType()))
        {
            var path = prefix + field.Name;
            switch (field.Property.GetValue(body))
            {
                case null: break;
                case string text:
                    if (Check(text, path, field.MaxLength, field.FreeText) is { } bad) return bad;
                    break;
                case IEnumerable items:
                    var i = 0;
                    foreach (var item in items)
                    {
                        var itemPath = $"{path}[{i++}]";
                        var badItem = item switch
                        {
                            string s => Check(s, itemPath, field.MaxLength, field.FreeText),
                            not null => CheckObject(item, itemPath + "."),
                            _ => null,
                        };
                        if (badItem is not null) return badItem;
                    }
                    break;
                case var nested:
                    if (CheckObject(nested, path + ".") is { } badNested) return badNested;
                    break;
            }
        }
        return null;
    }

    static string Code(string field)
    {
        var end = field.IndexOfAny(['[', '.']);
        return (end < 0 ? field : field[..end]) + "_invalid";
    }

    sealed record BodyField(PropertyInfo Property, string Name, int MaxLength, bool FreeText);

    /// <summary>The text-bearing properties of a request record of this assembly, by their JSON (snake_case) names; cached per type.</summary>
    static class BodyFields
    {
        static readonly ConcurrentDictionary<Type, BodyField[]> Cache = new();

        public static BodyField[] Of(Type type) => Cache.GetOrAdd(type, Build);

        static BodyField[] Build(Type type)
        {
            if (type.Assembly != typeof(TextInput).Assembly || !type.IsClass) return [];
            return type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.GetIndexParameters().Length == 0 && CarriesText(p.PropertyType))
                .Select(p => new BodyField(p, JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name),
                    p.GetCustomAttribute<ColumnLengthAttribute>()?.MaxLength ?? Default, p.GetCustomAttribute<FreeTextAttribute>() is not null))
                .ToArray();
        }

        /// <summary>Strings, collections (of strings or request records) and nested request records of this assembly.</summary>
        static bool CarriesText(Type t) =>
            t == typeof(string) || t.IsArray || t.IsGenericType && typeof(IEnumerable).IsAssignableFrom(t) ||
            t.IsClass && t.Assembly == typeof(TextInput).Assembly;
    }
}
