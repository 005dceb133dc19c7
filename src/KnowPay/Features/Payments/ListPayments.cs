using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

/// <summary>
/// GET /v1/payments?limit=&amp;starting_after=&amp;order_id=&amp;status=&amp;provider=&amp;created_gte=&amp;created_lt=:
/// newest first; ids are time-sortable so the cursor is the last id.
/// </summary>
public static class ListPayments
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/payments", Handle).RequireScope("orders:read");

    static async Task<Results<Ok<ListPage<PaymentView>>, ProblemHttpResult>> Handle(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, int? limit, string? starting_after,
        string? order_id, string? status, string? provider, string? created_gte, string? created_lt)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Payments.AsNoTracking().Where(p => p.MerchantId == merchant.Id);
        if (status is not null)
        {
            if (!ListFilters.TryStatus<PaymentStatus>(status, out var s)) return ListFilters.StatusProblem<PaymentStatus>();
            query = query.Where(p => p.Status == s);
        }
        if (provider is not null)
        {
            // Checked for shape only: a provider disabled today still has its past payments.
            if (provider.Length is 0 or > 32 || !provider.All(char.IsAsciiLetterLower))
                return Problems.Invalid("provider_invalid", "provider", "provider is a provider name such as sandbox, alipay, wechatpay, stripe or paypal.");
            query = query.Where(p => p.Provider == provider);
        }
        var (created, problem) = ListFilters.Created(created_gte, created_lt);
        if (problem is not null) return problem;
        if (created!.From is { } from) query = query.Where(p => p.CreatedAt >= from);
        if (created.Until is { } until) query = query.Where(p => p.CreatedAt < until);
        if (!string.IsNullOrEmpty(order_id)) query = query.Where(p => p.OrderId == order_id);
        if (starting_after is not null) query = query.Where(p => string.Compare(p.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(p => p.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, PaymentView.From, p => p.Id));
    }
}
