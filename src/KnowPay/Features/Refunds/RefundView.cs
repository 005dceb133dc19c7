using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Features.Refunds;

public sealed record RefundView(
    string Id, string Object, string PaymentId, string OrderId, long Amount, string Currency, RefundState Status, string? Reason,
    string? ProviderRefundId, string? FailureReason, DateTime CreatedAt, DateTime? CompletedAt)
{
    public static RefundView From(Refund r) => new(
        r.Id, "refund", r.PaymentId, r.OrderId, r.Amount, r.Currency, r.Status, r.Reason, r.ProviderRefundId, r.FailureReason,
        r.CreatedAt, r.CompletedAt);
}
