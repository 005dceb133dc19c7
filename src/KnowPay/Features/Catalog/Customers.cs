using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Catalog;

public sealed record CreateCustomerRequest([property: Required] string? ExternalId, string? Email, string? Name);

public sealed record CustomerView(string Id, string Object, string ExternalId, string? Email, string? Name, DateTime CreatedAt)
{
    public static CustomerView From(Customer c) => new(c.Id, "customer", c.ExternalId, c.Email, c.Name, c.CreatedAt);
}

/// <summary>Learners, known by the platform's own user id (external_id), unique per merchant.</summary>
public static class Customers
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/customers", Create).RequireScope("catalog:write");
        v1.MapGet("/customers/{id}", Get).RequireScope("customers:read");
        v1.MapGet("/customers", List).RequireScope("customers:read");
    }

    /// <summary>Creates the customer, or returns the existing one with the same external_id (200).</summary>
    static async Task<Results<Created<CustomerView>, Ok<CustomerView>, ProblemHttpResult>> Create(
        CreateCustomerRequest body, AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(body.ExternalId) || body.ExternalId.Length > 200)
            return Problems.Invalid("external_id_invalid", "external_id", "external_id (the platform's own user id) is required.");
        var (customer, created) = await FindOrCreateAsync(db, merchant.Id, body.ExternalId, body.Email, body.Name, clock, ct);
        return created ? TypedResults.Created($"/v1/customers/{customer.Id}", CustomerView.From(customer)) : TypedResults.Ok(CustomerView.From(customer));
    }

    static async Task<Results<Ok<CustomerView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var customer = await db.Customers.AsNoTracking().SingleOrDefaultAsync(c => c.Id == id && c.MerchantId == merchant.Id, ct);
        return customer is null ? Problems.NotFound("customer", id) : TypedResults.Ok(CustomerView.From(customer));
    }

    /// <summary>GET /v1/customers?limit=&amp;starting_after=&amp;external_id=: newest first; the cursor is the last id.</summary>
    static async Task<Results<Ok<ListPage<CustomerView>>, ProblemHttpResult>> List(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, int? limit, string? starting_after, string? external_id)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        if (external_id is { Length: 0 or > 200 })
            return Problems.Invalid("external_id_invalid", "external_id", "external_id is 1–200 characters.");
        var query = db.Customers.AsNoTracking().Where(c => c.MerchantId == merchant.Id);
        if (external_id is not null) query = query.Where(c => c.ExternalId == external_id);
        if (starting_after is not null) query = query.Where(c => string.Compare(c.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(c => c.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, CustomerView.From, c => c.Id));
    }

    /// <summary>The unique index on (merchant, external_id) decides between two concurrent first purchases.</summary>
    public static async Task<(Customer Customer, bool Created)> FindOrCreateAsync(
        KnowPayDb db, string merchantId, string externalId, string? email, string? name, TimeProvider clock, CancellationToken ct)
    {
        var existing = await db.Customers.AsNoTracking().SingleOrDefaultAsync(c => c.MerchantId == merchantId && c.ExternalId == externalId, ct);
        if (existing is not null) return (existing, false);
        var customer = new Customer
        {
            Id = Ids.New("cus"), MerchantId = merchantId, ExternalId = externalId, Email = email, Name = name, CreatedAt = clock.GetUtcNow().UtcDateTime,
        };
        db.Customers.Add(customer);
        try
        {
            await db.SaveChangesAsync(ct);
            return (customer, true);
        }
        catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
        {
            db.Entry(customer).State = EntityState.Detached;
            return (await db.Customers.AsNoTracking().SingleAsync(c => c.MerchantId == merchantId && c.ExternalId == externalId, ct), false);
        }
    }
}
