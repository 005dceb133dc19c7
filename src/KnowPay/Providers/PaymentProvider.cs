using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers;

/// <summary>What KnowPay asks of every payment provider. Each adapter speaks its provider's own wire protocol.</summary>
public interface IPaymentProvider
{
    /// <summary>alipay, wechatpay, stripe, paypal, sandbox.</summary>
    string Name { get; }
    /// <summary>qr, page, card; on phones wap, h5, jsapi, mini_program, app (see <see cref="PaymentMethods"/>).</summary>
    IReadOnlyCollection<string> Methods { get; }
    ProviderFee Fee { get; }

    Task<PaymentStarted> StartAsync(PaymentStart request, CancellationToken ct);
    Task<ProviderTradeState> QueryAsync(Payment payment, CancellationToken ct);
    /// <summary>Closes an unpaid trade. Returns the trade's state after the close (Closed, or Paid if the buyer won the race).</summary>
    Task<ProviderTradeState> CloseAsync(Payment payment, CancellationToken ct);
    Task<ProviderRefundResult> RefundAsync(ProviderRefund request, CancellationToken ct);
    Task<ProviderRefundResult> QueryRefundAsync(ProviderRefund request, CancellationToken ct);
}

public sealed record PaymentStart(Payment Payment, Order Order, string Subject, string NotifyUrl, string? ReturnUrl, PaymentPayer? Payer = null);

/// <summary>What a method needs to know of the learner (validated before the provider is called): WeChat openid, network address.</summary>
public sealed record PaymentPayer(string? OpenId, string? Ip);

/// <summary>
/// The next action for the learner: a QR code payload, a redirect URL, a client secret, or the signed parameters for a
/// provider's app SDK or WeChat bridge.
/// </summary>
public sealed record PaymentStarted(string? ProviderTradeNo, string? QrCode = null, string? RedirectUrl = null, string? ClientSecret = null,
    Features.Payments.NextAction? SignedParameters = null);

public enum TradeStatus { Pending, Paid, Closed, Failed, NotFound }

public sealed record ProviderTradeState(TradeStatus Status, string? ProviderTradeNo = null, long? Amount = null, string? Currency = null, DateTime? PaidAt = null, string? FailureCode = null)
{
    /// <summary>The provider's conversion of the payment, when it reports one (cross-border trades, a charge in another currency than the account's).</summary>
    public ProviderSettlement? Settlement { get; init; }
}

/// <summary>
/// What a provider reports converting a payment into, in minor units of each currency; a rate is units of that currency per one unit
/// of the payment's currency (amount × rate ≈ the converted amount). Settlement: what the merchant's provider account is credited
/// (Alipay settle_*, Stripe's balance transaction). Payer: what the learner paid in their own currency (Alipay pay_*, WeChat Pay
/// global payer_*). Either half may be missing.
/// </summary>
public sealed record ProviderSettlement(long? Amount, string? Currency, decimal? Rate, long? PayerAmount = null, string? PayerCurrency = null,
    decimal? PayerRate = null)
{
    /// <summary>Minor units of a decimal string in the named currency (Alipay's "12.34 USD"), or null when either is unreadable.</summary>
    public static long? MinorUnits(string? amount, string? currency) =>
        Domain.Currency.TryFind(currency, out var c) && Money.TryParseDecimal(amount, c, out var money) ? money.MinorUnits : null;

    public static decimal? ParseRate(string? rate) =>
        decimal.TryParse(rate, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var r) && r > 0 ? r : null;
}

/// <summary>A refund to send: its id doubles as the provider's idempotency key (out_request_no, out_refund_no, …).</summary>
public sealed record ProviderRefund(Payment Payment, string RefundId, long Amount, string? Reason);

public enum RefundStatus { Pending, Succeeded, Failed }

public sealed record ProviderRefundResult(RefundStatus Status, string? ProviderRefundId = null, string? FailureReason = null)
{
    /// <summary>What the provider took from the merchant's account for the refund, in that account's currency (a positive amount), when it says.</summary>
    public ProviderSettlement? Settlement { get; init; }
}

/// <summary>The provider answered with an error, a bad signature, or not at all. Nothing may be assumed to have succeeded.</summary>
public sealed class ProviderException(string provider, string code, string message, bool maybeApplied = false)
    : Exception($"{provider}: {code}: {message}")
{
    public string Provider { get; } = provider;
    public string Code { get; } = code;
    /// <summary>True when the call may have taken effect at the provider (timeout after sending).</summary>
    public bool MaybeApplied { get; } = maybeApplied;
}

/// <summary>The enabled providers by name.</summary>
public sealed class PaymentProviders(IEnumerable<IPaymentProvider> providers)
{
    readonly Dictionary<string, IPaymentProvider> byName = providers.ToDictionary(p => p.Name, StringComparer.Ordinal);

    public bool TryGet(string? name, out IPaymentProvider provider) => byName.TryGetValue(name ?? "", out provider!);

    public IPaymentProvider this[string name] => byName.TryGetValue(name, out var p) ? p
        : throw new InvalidOperationException($"provider '{name}' is not enabled");

    public IReadOnlyCollection<string> Names => byName.Keys;

    public IEnumerable<IPaymentProvider> All => byName.Values;
}

/// <summary>
/// Where provider adapters report what they learn about a refund (from a notification or a query).
/// The refunds feature implements it; adapters only verify the provider's message and translate it.
/// </summary>
public interface IRefundUpdates
{
    /// <param name="refundId">KnowPay's refund id (the out_request_no / out_refund_no / idempotency key sent to the provider).</param>
    Task ApplyAsync(string provider, string refundId, ProviderRefundResult result, CancellationToken ct);
}
