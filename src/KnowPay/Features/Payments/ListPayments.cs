using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

/// <summary>
/// GET /v1/payments?limit=&amp;starting_after=&amp;order_id=&amp;status=&amp;provider=&amp;created_gte=&amp;created_lt=:
/// newest first. Paged by (created_at, id) on the (merchant_id, created_at) index that the dashboard needs anyway:
/// every index on payments is written twice per payment (insert, then the status update), so no second one for lists.
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
        if (starting_after is not null)
        {
            var cursor = await db.Payments.AsNoTracking().Where(p => p.MerchantId == merchant.Id && p.Id == starting_after)
                .Select(p => (DateTime?)p.CreatedAt).SingleOrDefaultAsync(ct);
            if (cursor is not { } at)
                return Problems.Invalid("starting_after_invalid", "starting_after", "starting_after is the id of a payment from an earlier page.");
            query = query.Where(p => p.CreatedAt < at || (p.CreatedAt == at && string.Compare(p.Id, starting_after) < 0));
        }
        var rows = await query.OrderByDescending(p => p.CreatedAt).ThenByDescending(p => p.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, PaymentView.From, p => p.Id));
    }
}
