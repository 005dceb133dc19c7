using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Catalog;

/// <param name="PayoutCurrency">ISO 4217: the currency the creator is credited and paid in; absent = each sale's price currency.</param>
public sealed record CreateCreatorRequest([property: Required] string? Name, string? ExternalId, string? Email, string? PayoutCurrency = null);

/// <summary>POST /v1/creators/{id}: the payout currency applies to orders created from then on (an order locks its creator's rate).</summary>
public sealed record UpdateCreatorRequest(string? PayoutCurrency);

public sealed record CreatorView(string Id, string Object, string Name, string? ExternalId, string? Email, DateTime CreatedAt, string? PayoutCurrency)
{
    public static CreatorView From(Creator c) => new(c.Id, "creator", c.Name, c.ExternalId, c.Email, c.CreatedAt, c.PayoutCurrency);
}

/// <summary>Creators: the people whose courses sell and who are paid their share.</summary>
public static class Creators
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/creators", Create).RequireScope("catalog:write");
        v1.MapPost("/creators/{id}", Update).RequireScope("catalog:write");
        v1.MapGet("/creators/{id}", Get).RequireScope("catalog:read");
        v1.MapGet("/creators", List).RequireScope("catalog:read");
    }

    static async Task<Results<Created<CreatorView>, ProblemHttpResult>> Create(
        CreateCreatorRequest body, AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(body.Name) || body.Name.Length > 200)
            return Problems.Invalid("name_invalid", "name", "name is required (1–200 characters).");
        Currency? payout = null;
        if (body.PayoutCurrency is not null && !Currency.TryFind(body.PayoutCurrency, out payout))
            return Fx.CurrencyProblems.NotTaken("payout_currency", body.PayoutCurrency);
        var creator = new Creator
        {
            Id = Ids.New("cre"), MerchantId = merchant.Id, Name = body.Name.Trim(), ExternalId = body.ExternalId, Email = body.Email,
            PayoutCurrency = payout?.Code,
            CreatedAt = clock.GetUtcNow().UtcDateTime,
        };
        db.Creators.Add(creator);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/v1/creators/{creator.Id}", CreatorView.From(creator));
    }

    static async Task<Results<Ok<CreatorView>, ProblemHttpResult>> Update(
        string id, UpdateCreatorRequest body, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        if (!Currency.TryFind(body.PayoutCurrency, out var payout)) return Fx.CurrencyProblems.NotTaken("payout_currency", body.PayoutCurrency);
        var creator = await db.Creators.SingleOrDefaultAsync(c => c.Id == id && c.MerchantId == merchant.Id, ct);
        if (creator is null) return Problems.NotFound("creator", id);
        creator.PayoutCurrency = payout.Code;
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(CreatorView.From(creator));
    }

    static async Task<Results<Ok<CreatorView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var creator = await db.Creators.AsNoTracking().SingleOrDefaultAsync(c => c.Id == id && c.MerchantId == merchant.Id, ct);
        return creator is null ? Problems.NotFound("creator", id) : TypedResults.Ok(CreatorView.From(creator));
    }

    /// <summary>GET /v1/creators?limit=&amp;starting_after=: newest first; ids are time-sortable so the cursor is the last id.</summary>
    static async Task<Results<Ok<ListPage<CreatorView>>, ProblemHttpResult>> List(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, int? limit, string? starting_after)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Creators.AsNoTracking().Where(c => c.MerchantId == merchant.Id);
        if (starting_after is not null) query = query.Where(c => string.Compare(c.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(c => c.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, CreatorView.From, c => c.Id));
    }
}
