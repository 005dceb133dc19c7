using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

public sealed record CreatePaymentRequest([property: Required] string? Provider, string? Method, [property: ColumnLength(TextInput.ReturnUrl)] string? ReturnUrl);

/// <summary>
/// POST /v1/orders/{id}/payments: sends the provider a signed request and returns the next action.
/// The provider is called first and the payment row written once afterwards: the learner cannot pay before
/// this response gives them the QR code or link, so no notification can precede the row, and a failed call
/// leaves nothing behind but an unpaid trade at the provider that expires there.
/// </summary>
public static class CreatePayment
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/orders/{orderId}/payments", Handle).RequireScope("orders:write");

    static async Task<Results<Created<PaymentView>, ProblemHttpResult>> Handle(
        string orderId, CreatePaymentRequest body, AuthenticatedMerchant merchant, KnowPayDb db, PaymentProviders providers,
        PublicUrl publicUrl, TimeProvider clock, ILoggerFactory logs, AwaitedPayments awaited, CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orderId && o.MerchantId == merchant.Id, ct);
        if (order is null) return Problems.NotFound("order", orderId);
        var (payment, problem) = await StartAsync(order, body, db, providers, publicUrl, clock, logs.CreateLogger(nameof(CreatePayment)), ct);
        if (problem is not null) return problem;
        var answer = TypedResults.Created($"/v1/payments/{payment!.Id}", PaymentView.From(payment));
        awaited.Add(payment, order);
        return answer;
    }

    public static async Task<(Payment? Payment, ProblemHttpResult? Problem)> StartAsync(
        Order order, CreatePaymentRequest body, KnowPayDb db, PaymentProviders providers, PublicUrl publicUrl, TimeProvider clock,
        ILogger log, CancellationToken ct)
    {
        var (payment, problem) = await PrepareAsync(order, body, providers, publicUrl, clock, log, ct);
        if (problem is not null) return (null, problem);
        db.Payments.Add(payment!);
        await db.SaveChangesAsync(ct);
        Monitoring.KnowPayMetrics.PaymentCreated(payment!);
        return (payment, null);
    }

    /// <summary>
    /// Validates the request and starts the payment at the provider; returns the payment row NOT yet saved, so that
    /// POST /v1/orders with a payment can write the order and its payment in one commit.
    /// </summary>
    public static async Task<(Payment? Payment, ProblemHttpResult? Problem)> PrepareAsync(
        Order order, CreatePaymentRequest body, PaymentProviders providers, PublicUrl publicUrl, TimeProvider clock,
        ILogger log, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (OrderTransitions.IsTerminal(order.Status)) return (null, Problems.Conflict("order_already_paid", $"Order '{order.Id}' is already paid."));
        if (!OrderTransitions.AcceptsPayments(order.Status) || order.ExpiresAt <= now)
            return (null, Problems.Conflict("order_expired", $"Order '{order.Id}' has expired; create a new order."));
        if (!providers.TryGet(body.Provider, out var provider))
            return (null, Problems.Invalid("provider_unsupported", "provider", $"Provider '{body.Provider}' is not enabled. Enabled: {string.Join(", ", providers.Names)}."));
        var method = body.Method ?? provider.Methods.First();
        if (!provider.Methods.Contains(method))
            return (null, Problems.Invalid("method_unsupported", "method", $"{provider.Name} supports {string.Join(", ", provider.Methods)}."));
        if (body.ReturnUrl is not null && !Uri.TryCreate(body.ReturnUrl, UriKind.Absolute, out _))
            return (null, Problems.Invalid("return_url_invalid", "return_url", "return_url must be an absolute URL."));

        var payment = new Payment
        {
            Id = Ids.New("pay"), MerchantId = order.MerchantId, OrderId = order.Id, Provider = provider.Name, Method = method,
            Status = PaymentStatus.Pending, Amount = order.Amount, Currency = order.Currency, CreatedAt = now,
        };
        PaymentStarted started;
        try
        {
            started = await provider.StartAsync(new PaymentStart(payment, order, order.Description ?? $"Order {order.Id}",
                publicUrl.Combine($"/v1/notify/{provider.Name}"), body.ReturnUrl), ct);
        }
        catch (ProviderException e) when (e.Code == "currency_unsupported")
        {
            // Refused before any call to the provider: the client's choice for this currency, not a gateway failure.
            return (null, Problems.Of(StatusCodes.Status422UnprocessableEntity, "currency_unsupported", $"{provider.Name} does not take payments in {order.Currency}."));
        }
        catch (ProviderException e)
        {
            log.LogWarning(e, "Provider {Provider} refused to start payment for order {OrderId}", provider.Name, order.Id);
            Monitoring.KnowPayMetrics.PaymentFailed(provider.Name, method, "start_" + e.Code);
            return (null, Problems.Of(StatusCodes.Status502BadGateway, "provider_error", $"{provider.Name} did not accept the payment: {e.Code}."));
        }
        payment.ProviderTradeNo = started.ProviderTradeNo;
        payment.QrCode = started.QrCode;
        payment.RedirectUrl = started.RedirectUrl;
        payment.ClientSecret = started.ClientSecret;
        return (payment, null);
    }
}
