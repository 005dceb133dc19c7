using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payouts;

public sealed record PayoutView(
    string Id, string Object, string BatchId, string CreatorId, string Provider, long Amount, string Currency, PayoutStatus Status,
    string? ProviderTransferNo, string? FailureCode, DateTime CreatedAt, DateTime? PaidAt, DateTime? FailedAt)
{
    public static PayoutView From(Payout p) => new(p.Id, "payout", p.BatchId, p.CreatorId, p.Provider, p.Amount, p.Currency, p.Status,
        p.ProviderTransferNo, p.FailureCode, p.CreatedAt, p.PaidAt, p.FailedAt);
}

/// <summary>GET /v1/payouts (newest first; filters status, creator_id, batch_id) and GET /v1/payouts/{id}.</summary>
public static class PayoutQueries
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/payouts", List).RequireScope("ledger:read");
        v1.MapGet("/payouts/{id}", Get).RequireScope("ledger:read");
    }

    static async Task<Results<Ok<ListPage<PayoutView>>, ProblemHttpResult>> List(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, int? limit, string? starting_after, string? status, string? creator_id, string? batch_id)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Payouts.AsNoTracking().Where(p => p.MerchantId == merchant.Id);
        if (status is not null)
        {
            if (!ListFilters.TryStatus<PayoutStatus>(status, out var s)) return ListFilters.StatusProblem<PayoutStatus>();
            query = query.Where(p => p.Status == s);
        }
        if (creator_id is not null) query = query.Where(p => p.CreatorId == creator_id);
        if (batch_id is not null) query = query.Where(p => p.BatchId == batch_id);
        if (starting_after is not null) query = query.Where(p => string.Compare(p.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(p => p.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, PayoutView.From, p => p.Id));
    }

    static async Task<Results<Ok<PayoutView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var payout = await db.Payouts.AsNoTracking().SingleOrDefaultAsync(p => p.Id == id && p.MerchantId == merchant.Id, ct);
        return payout is null ? Problems.NotFound("payout", id) : TypedResults.Ok(PayoutView.From(payout));
    }
}
