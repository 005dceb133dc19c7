using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Payments;

namespace KnowPay.Features.Orders;

public sealed record OrderView(
    string Id, string Object, OrderStatus Status, string CustomerId, string ProductId, string CreatorId,
    long Amount, string Currency, DateTime CreatedAt, DateTime ExpiresAt, DateTime? PaidAt, bool PaidAfterExpiry,
    string? Description, string? CheckoutUrl)
{
    /// <summary>Only in the answer to POST /v1/orders with a payment: the payment started with the order.</summary>
    public PaymentView? Payment { get; init; }

    /// <summary>A converted price: the quote locked on the order (amount is the price in the product's currency, converted_amount this order's).</summary>
    public Fx.FxQuoteView? FxQuote { get; init; }

    public static OrderView From(Order o, string? checkoutUrl = null) => new(
        o.Id, "order", o.Status, o.CustomerId, o.ProductId, o.CreatorId, o.Amount, o.Currency, o.CreatedAt, o.ExpiresAt,
        o.PaidAt, o.PaidAfterExpiry, o.Description, checkoutUrl) { FxQuote = Fx.FxQuoteView.Of(o) };
}

/// <summary>A page of a cursor-paginated list.</summary>
public sealed record ListPage<T>(IReadOnlyList<T> Data, bool HasMore, string? NextCursor)
{
    public string Object => "list";
}
