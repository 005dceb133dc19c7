using System.Text.Json;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Risk;

public sealed record RiskListBody(IReadOnlyList<string>? Values);

public sealed record RiskListView(string Object, string Name, IReadOnlyList<string> Values);

/// <summary>GET/PUT /v1/risk/lists/{name}: a list rules name as <c>@name</c> (trusted users, blocked IPs, …), replaced as a whole.</summary>
public static partial class RiskListsApi
{
    const int MaxValues = 10_000;

    [GeneratedRegex("^[a-z0-9_]{1,64}$")]
    private static partial Regex ListName();

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/risk/lists/{name}", Get).RequireScope("risk:read");
        v1.MapPut("/risk/lists/{name}", Put).RequireScope("risk:write").Produces(StatusCodes.Status409Conflict); // risk_policy_changed
    }

    static async Task<Results<Ok<RiskListView>, ProblemHttpResult>> Get(string name, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var list = await db.RiskLists.AsNoTracking().SingleOrDefaultAsync(l => l.MerchantId == merchant.Id && l.Name == name, ct);
        return list is null ? Problems.NotFound("risk_list", name) : TypedResults.Ok(new RiskListView("risk_list", name, JsonSerializer.Deserialize<string[]>(list.Values)!));
    }

    static async Task<Results<Ok<RiskListView>, ProblemHttpResult>> Put(string name, RiskListBody body, AuthenticatedMerchant merchant, KnowPayDb db,
        TimeProvider clock, CancellationToken ct)
    {
        if (!ListName().IsMatch(name)) return Problems.Invalid("list_name_invalid", "name", "A list name is 1-64 lower-case letters, digits or '_'.");
        if (body.Values is null || body.Values.Count > MaxValues)
            return Problems.Invalid("list_values_invalid", "values", $"values is a list of at most {MaxValues} strings.");
        if (body.Values.Any(v => v is null or { Length: > 200 }))
            return Problems.Invalid("list_values_invalid", "values", "Each value is a string of at most 200 characters.");
        var values = body.Values.Distinct(StringComparer.Ordinal).ToArray();
        var now = clock.GetUtcNow().UtcDateTime;
        var list = await db.RiskLists.SingleOrDefaultAsync(l => l.MerchantId == merchant.Id && l.Name == name, ct);
        if (list is null) db.RiskLists.Add(new RiskList { MerchantId = merchant.Id, Name = name, Values = JsonSerializer.Serialize(values), UpdatedAt = now });
        else
        {
            list.Values = JsonSerializer.Serialize(values);
            list.UpdatedAt = now;
        }
        // The policy's version moves with its lists: decisions recompile on their next read.
        await RiskPolicies.ForChangeAsync(db, merchant.Id, now, ct);
        if (await RiskRulesApi.SaveAsync(db, ct) is { } conflict) return conflict;
        return TypedResults.Ok(new RiskListView("risk_list", name, values));
    }
}
