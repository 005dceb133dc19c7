using KnowPay.Data;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>GET /v1/invoices/{id} and GET /v1/invoices?subscription= (newest first, cursor paged); an open invoice shows its checkout link.</summary>
public static class GetInvoices
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/invoices/{id}", Get).RequireScope("billing:read");
        v1.MapGet("/invoices", List).RequireScope("billing:read");
    }

    static async Task<Results<Ok<InvoiceView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, IServiceProvider services, CancellationToken ct)
    {
        var s = BillingServices.From(services);
        if (!await s.Db.Invoices.AnyAsync(i => i.Id == id && i.MerchantId == merchant.Id, ct)) return Problems.NotFound("invoice", id);
        return TypedResults.Ok(await ViewAsync(s, id, ct));
    }

    static async Task<Results<Ok<ListPage<InvoiceView>>, ProblemHttpResult>> List(AuthenticatedMerchant merchant, IServiceProvider services, CancellationToken ct,
        int? limit, string? starting_after, string? subscription)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var s = BillingServices.From(services);
        var query = s.Db.Invoices.AsNoTracking().Include(i => i.Lines).Where(i => i.MerchantId == merchant.Id);
        if (subscription is not null) query = query.Where(i => i.SubscriptionId == subscription);
        if (starting_after is not null) query = query.Where(i => string.Compare(i.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(i => i.Id).Take(take + 1).ToListAsync(ct);
        var orderIds = rows.Select(i => i.OrderId).ToList();
        var orders = await s.Db.Orders.AsNoTracking().Where(o => orderIds.Contains(o.Id)).ToDictionaryAsync(o => o.Id, ct);
        return TypedResults.Ok(Paging.Page(rows, take, i => InvoiceView.From(i, orders.TryGetValue(i.OrderId, out var o) ? s.Checkout.UrlFor(o) : null), i => i.Id));
    }

    public static async Task<InvoiceView> ViewAsync(BillingServices s, string id, CancellationToken ct)
    {
        var invoice = await s.Db.Invoices.AsNoTracking().Include(i => i.Lines).SingleAsync(i => i.Id == id, ct);
        // A draft (a plan change's lines waiting for the renewal) has no order yet.
        var order = await s.Db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == invoice.OrderId, ct);
        return InvoiceView.From(invoice, order is null ? null : s.Checkout.UrlFor(order));
    }
}
