using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

public sealed record CreatePaymentRequest([property: Required] string? Provider, string? Method, [property: ColumnLength(TextInput.ReturnUrl)] string? ReturnUrl,
    PayerInput? Payer = null, Risk.RiskContextInput? RiskContext = null);

/// <summary>
/// The learner as the method needs them: <c>openid</c> (of the merchant's WeChat appid) for <c>jsapi</c> and <c>mini_program</c>,
/// <c>ip</c> (the learner's own address, not a proxy's) for <c>h5</c>. The platform or the hosted checkout fills them in.
/// </summary>
public sealed record PayerInput([property: ColumnLength(128)] string? Openid, [property: ColumnLength(45)] string? Ip);

/// <summary>
/// POST /v1/orders/{id}/payments: sends the provider a signed request and returns the next action.
/// The provider is called first and the payment row written once afterwards: the learner cannot pay before
/// this response gives them the QR code or link, so no notification can precede the row, and a failed call
/// leaves nothing behind but an unpaid trade at the provider that expires there.
/// </summary>
public static partial class CreatePayment
{
    public static void Map(RouteGroupBuilder v1) => v1.MapPost("/orders/{orderId}/payments", Handle).RequireScope("orders:write");

    static async Task<Results<Created<PaymentView>, ProblemHttpResult>> Handle(
        string orderId, CreatePaymentRequest body, AuthenticatedMerchant merchant, KnowPayDb db, PaymentProviders providers,
        PublicUrl publicUrl, TimeProvider clock, ILoggerFactory logs, AwaitedPayments awaited, Risk.RiskEngine risk, Microsoft.Extensions.Options.IOptions<Fx.FxOptions> fx,
        CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orderId && o.MerchantId == merchant.Id, ct);
        if (order is null) return Problems.NotFound("order", orderId);
        var (payment, problem) = await StartAsync(order, body, db, providers, publicUrl, clock, logs.CreateLogger(nameof(CreatePayment)), ct, risk, fx.Value);
        if (problem is not null) return problem;
        var answer = TypedResults.Created($"/v1/payments/{payment!.Id}", PaymentView.From(payment));
        awaited.Add(payment, order);
        return answer;
    }

    public static async Task<(Payment? Payment, ProblemHttpResult? Problem)> StartAsync(
        Order order, CreatePaymentRequest body, KnowPayDb db, PaymentProviders providers, PublicUrl publicUrl, TimeProvider clock,
        ILogger log, CancellationToken ct, Risk.RiskEngine? risk = null, Fx.FxOptions? fx = null)
    {
        // An expired FX quote is refreshed before a new payment starts: the new payment charges the new amount.
        if (fx is not null && await Fx.ConvertedPrices.RefreshAsync(db, order, fx, clock.GetUtcNow().UtcDateTime, ct) is { } fxProblem) return (null, fxProblem);
        var decided = risk is null ? Risk.RiskOutcome.Unchecked : await risk.DecidePaymentAsync(db, order, body.RiskContext, body.Provider, ct);
        if (decided.Problem is not null) return (null, decided.Problem);
        var (payment, problem) = await PrepareAsync(order, body, providers, publicUrl, clock, log, ct);
        if (problem is not null) return (null, problem);
        db.Payments.Add(payment!);
        decided.Stage(db, payment);
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
        if (PayerProblem(method, body.Payer) is { } payerProblem) return (null, payerProblem);

        if (!ProviderAmounts.Carries(provider.Name, Currency.Of(order.Currency)))
            return (null, Problems.Of(StatusCodes.Status422UnprocessableEntity, "currency_unsupported_by_provider",
                $"{provider.Name} does not take {order.Currency}; choose another provider or currency."));
        if (!ProviderAmounts.Fits(provider.Name, new Money(order.Amount, Currency.Of(order.Currency))))
            return (null, Problems.Of(StatusCodes.Status422UnprocessableEntity, "amount_not_representable",
                $"{provider.Name} takes {order.Currency} with {ProviderAmounts.Exponent(provider.Name, Currency.Of(order.Currency))} decimals; " +
                $"{new Money(order.Amount, Currency.Of(order.Currency))} has more."));
        var payment = new Payment
        {
            Id = Ids.New("pay"), MerchantId = order.MerchantId, OrderId = order.Id, Provider = provider.Name, Method = method,
            Status = PaymentStatus.Pending, Amount = order.Amount, Currency = order.Currency, CreatedAt = now,
        };
        PaymentStarted started;
        try
        {
            started = await provider.StartAsync(new PaymentStart(payment, order, order.Description ?? $"Order {order.Id}",
                publicUrl.Combine($"/v1/notify/{provider.Name}"), body.ReturnUrl, new PaymentPayer(body.Payer?.Openid, body.Payer?.Ip)), ct);
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
        Risk.RiskContextInput.Apply(payment, body.RiskContext);
        payment.SignedParameters = started.SignedParameters is { } signed ? JsonSerializer.Serialize(signed, KnowPayJson.Options) : null;
        return (payment, null);
    }

    /// <summary>The payer fields the method needs, and any given, well-formed: a problem naming the field, or null.</summary>
    static ProblemHttpResult? PayerProblem(string method, PayerInput? payer)
    {
        if (PaymentMethods.NeedsOpenId(method) && string.IsNullOrEmpty(payer?.Openid))
            return Problems.Invalid("payer_openid_required", "payer.openid",
                $"{method} pays as the learner's WeChat user: payer.openid (an openid of the merchant's appid) is required.");
        if (payer?.Openid is { } openid && !OpenIdPattern().IsMatch(openid))
            return Problems.Invalid("payer_openid_invalid", "payer.openid", "payer.openid is 1-128 letters, digits, '-' or '_'.");
        if (PaymentMethods.NeedsPayerIp(method) && string.IsNullOrEmpty(payer?.Ip))
            return Problems.Invalid("payer_ip_required", "payer.ip", $"{method} needs the learner's own IP address in payer.ip.");
        if (payer?.Ip is { } ip && !IsIpAddress(ip))
            return Problems.Invalid("payer_ip_invalid", "payer.ip", "payer.ip must be an IPv4 (203.0.113.7) or IPv6 address.");
        return null;
    }

    /// <summary>Dotted-quad IPv4 or IPv6 without a zone; IPAddress.TryParse alone would take "1" as 0.0.0.1.</summary>
    static bool IsIpAddress(string text) =>
        IPAddress.TryParse(text, out var address) && address.AddressFamily switch
        {
            AddressFamily.InterNetwork => text.Count(c => c == '.') == 3,
            AddressFamily.InterNetworkV6 => !text.Contains('%'),
            _ => false,
        };

    [GeneratedRegex("^[A-Za-z0-9_-]{1,128}$")]
    private static partial Regex OpenIdPattern();
}
