using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Features.Payments;

public sealed record PaymentView(
    string Id, string Object, string OrderId, string Provider, string Method, PaymentStatus Status, long Amount, string Currency,
    long RefundedAmount, string? ProviderTradeNo, NextAction? NextAction, string? FailureCode, DateTime CreatedAt, DateTime? SucceededAt,
    bool Duplicate, PaymentSettlementView? Settlement = null)
{
    public static PaymentView From(Payment p) => new(
        p.Id, "payment", p.OrderId, p.Provider, p.Method, p.Status, p.Amount, p.Currency, p.RefundedAmount, p.ProviderTradeNo,
        p.Status == PaymentStatus.Pending ? Action(p) : null, p.FailureCode, p.CreatedAt, p.SucceededAt, p.Duplicate,
        p.SettlementCurrency is null && p.PayerCurrency is null ? null
            : new(p.SettlementAmount, p.SettlementCurrency, p.SettlementRate, p.PayerAmount, p.PayerCurrency, p.PayerRate));

    static NextAction? Action(Payment p) =>
        p.QrCode is not null ? new QrCodeNextAction(p.QrCode, p.RedirectUrl)
        : p.RedirectUrl is not null ? new RedirectNextAction(p.RedirectUrl)
        : p.ClientSecret is not null ? new ClientSecretNextAction(p.ClientSecret)
        : p.SignedParameters is not null ? JsonSerializer.Deserialize<NextAction>(p.SignedParameters, KnowPayJson.Options)
        : null;
}

/// <summary>
/// The provider's conversion of a payment, as it reported it. <c>amount</c>/<c>currency</c>: what the merchant's provider account was
/// credited (minor units of that currency); <c>payer_*</c>: what the learner paid in their own currency. A rate is units of that
/// currency per one unit of the payment's currency. Absent when the provider converted nothing.
/// </summary>
public sealed record PaymentSettlementView(long? Amount, string? Currency, decimal? Rate, long? PayerAmount, string? PayerCurrency, decimal? PayerRate);
