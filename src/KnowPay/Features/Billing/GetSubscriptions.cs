using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>GET /v1/subscriptions/{id} (with latest_invoice and pending_mandate) and GET /v1/subscriptions?customer=&amp;status= (newest first, cursor paged).</summary>
public static class GetSubscriptions
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/subscriptions/{id}", Get).RequireScope("billing:read");
        v1.MapGet("/subscriptions", List).RequireScope("billing:read");
    }

    static async Task<Results<Ok<SubscriptionView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, IServiceProvider services, CancellationToken ct)
    {
        var s = BillingServices.From(services);
        if (!await s.Db.Subscriptions.AnyAsync(x => x.Id == id && x.MerchantId == merchant.Id, ct)) return Problems.NotFound("subscription", id);
        return TypedResults.Ok(await ExpandedAsync(s, id, ct));
    }

    static async Task<Results<Ok<ListPage<SubscriptionView>>, ProblemHttpResult>> List(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct,
        int? limit, string? starting_after, string? customer, string? status)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.Subscriptions.AsNoTracking().Where(x => x.MerchantId == merchant.Id);
        if (status is not null)
        {
            if (!ListFilters.TryStatus<SubscriptionStatus>(status, out var one)) return ListFilters.StatusProblem<SubscriptionStatus>();
            query = query.Where(x => x.Status == one);
        }
        if (customer is not null) query = query.Where(x => x.CustomerId == customer);
        if (starting_after is not null) query = query.Where(x => string.Compare(x.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(x => x.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, SubscriptionView.From, x => x.Id));
    }

    /// <summary>The subscription with its latest invoice (and its checkout link while open) and, while unsigned, its agreement's next action.</summary>
    public static async Task<SubscriptionView> ExpandedAsync(BillingServices s, string id, CancellationToken ct)
    {
        var db = s.Db;
        var sub = await db.Subscriptions.AsNoTracking().SingleAsync(x => x.Id == id, ct);
        var view = SubscriptionView.From(sub);
        if (sub.LatestInvoiceId is { } invoiceId)
            view = view with { LatestInvoice = await GetInvoices.ViewAsync(s, invoiceId, ct) };
        if (sub.MandateId is { } mandateId && await db.Mandates.AsNoTracking().SingleOrDefaultAsync(m => m.Id == mandateId, ct) is { Status: MandateStatus.Pending } mandate)
            view = view with { PendingMandate = new PendingMandateView(mandate.Id, "pending", CreateSubscription.ParseSignAction(mandate.SignAction)) };
        return view;
    }
}
