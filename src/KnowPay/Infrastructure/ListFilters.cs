using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KnowPay.Infrastructure;

/// <summary>A half-open range of creation instants, [<see cref="From"/>, <see cref="Until"/>); a null end is open.</summary>
public sealed record CreatedRange(DateTime? From, DateTime? Until);

/// <summary>
/// Query-string filters of the list endpoints, parsed strictly: a bad value is a 400 with a stable code, because a
/// filter that is silently ignored returns objects the caller asked to exclude.
/// </summary>
public static class ListFilters
{
    /// <summary>A status by its API name (as the JSON writes it, case-insensitive); numbers and flag combinations are refused.</summary>
    public static bool TryStatus<TStatus>(string value, out TStatus status) where TStatus : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<TStatus>())
            if (string.Equals(ApiName(candidate), value, StringComparison.OrdinalIgnoreCase))
            {
                status = candidate;
                return true;
            }
        status = default;
        return false;
    }

    public static ProblemHttpResult StatusProblem<TStatus>() where TStatus : struct, Enum =>
        Problems.Invalid("status_invalid", "status", $"status is one of {string.Join(", ", Enum.GetValues<TStatus>().Select(ApiName))}.");

    /// <summary>
    /// <c>created_gte</c> and <c>created_lt</c>: ISO 8601 instants (<c>2026-12-01T00:00:00Z</c>, or a date; without an
    /// offset, UTC), the same form as <c>created_at</c> in the answers.
    /// </summary>
    public static (CreatedRange? Range, ProblemHttpResult? Problem) Created(string? gte, string? lt) => Range(gte, lt, "created_gte", "created_lt", "created_invalid");

    /// <summary>The same half-open range under other parameter names (e.g. <c>since</c> and <c>until</c>).</summary>
    public static (CreatedRange? Range, ProblemHttpResult? Problem) Range(string? gte, string? lt, string gteName, string ltName, string code = "range_invalid")
    {
        if (!TryInstant(gte, out var from))
            return (null, Problems.Invalid(code, gteName, $"{gteName} is an ISO 8601 instant such as 2026-12-01T00:00:00Z, not '{gte}'."));
        if (!TryInstant(lt, out var until))
            return (null, Problems.Invalid(code, ltName, $"{ltName} is an ISO 8601 instant such as 2026-12-01T00:00:00Z, not '{lt}'."));
        if (from >= until)
            return (null, Problems.Invalid(code, ltName, $"{ltName} must be later than {gteName}."));
        return (new CreatedRange(from, until), null);
    }

    static readonly string[] Iso8601 =
        ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd"];

    static bool TryInstant(string? value, out DateTime? instant)
    {
        instant = null;
        if (value is null) return true;
        if (!DateTimeOffset.TryParseExact(value, Iso8601, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)) return false;
        instant = parsed.UtcDateTime;
        return true;
    }

    static string ApiName<TStatus>(TStatus value) where TStatus : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}
