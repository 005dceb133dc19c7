using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Features.Payments;

public sealed record NextAction(string Type, string? QrCode, string? RedirectUrl, string? ClientSecret);

public sealed record PaymentView(
    string Id, string Object, string OrderId, string Provider, string Method, PaymentStatus Status, long Amount, string Currency,
    long RefundedAmount, string? ProviderTradeNo, NextAction? NextAction, string? FailureCode, DateTime CreatedAt, DateTime? SucceededAt,
    bool Duplicate)
{
    public static PaymentView From(Payment p) => new(
        p.Id, "payment", p.OrderId, p.Provider, p.Method, p.Status, p.Amount, p.Currency, p.RefundedAmount, p.ProviderTradeNo,
        p.Status == PaymentStatus.Pending ? Action(p) : null, p.FailureCode, p.CreatedAt, p.SucceededAt, p.Duplicate);

    static NextAction? Action(Payment p) =>
        p.QrCode is not null ? new NextAction("qr_code", p.QrCode, p.RedirectUrl, null)
        : p.RedirectUrl is not null ? new NextAction("redirect", null, p.RedirectUrl, null)
        : p.ClientSecret is not null ? new NextAction("client_secret", null, null, p.ClientSecret)
        : null;
}
