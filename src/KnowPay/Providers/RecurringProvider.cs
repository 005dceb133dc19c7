using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers;

/// <summary>
/// What KnowPay asks of a provider that can charge a learner again without them present, under an agreement they signed
/// (<see cref="Mandate"/>). The adapter class that implements <see cref="IPaymentProvider"/> implements this too; the
/// agreement's own notifications arrive on the provider's notify endpoint and are handed to <see cref="IMandateUpdates"/>.
/// </summary>
public interface IRecurringProvider
{
    /// <summary>alipay, wechatpay, stripe, sandbox: the same name as the <see cref="IPaymentProvider"/>.</summary>
    string Name { get; }
    /// <summary>How a learner can sign here: page, qr, app, card (see the adapter).</summary>
    IReadOnlyCollection<string> SignMethods { get; }

    /// <summary>
    /// Asks the provider for the learner's signing (sign page, QR, SetupIntent). The mandate's id (without its
    /// underscore where the provider allows only alphanumerics) is the provider's external agreement number, so asking
    /// twice for one mandate signs one agreement.
    /// </summary>
    Task<MandateSignStarted> StartSigningAsync(MandateSigning request, CancellationToken ct);

    /// <summary>The agreement's state at the provider (Pending while unsigned, Active once signed, Revoked once ended).</summary>
    Task<MandateState> QueryMandateAsync(Mandate mandate, CancellationToken ct);

    /// <summary>Ends the agreement at the provider (the merchant's or the learner's wish through the platform).</summary>
    Task<MandateState> TerminateMandateAsync(Mandate mandate, string reason, CancellationToken ct);

    /// <summary>
    /// Tells the learner of a coming charge where the protocol requires it (WeChat Pay's pre-debit notice, only
    /// 06:00–22:00 Beijing time); a no-op elsewhere. Called before <see cref="ChargeAsync"/> for the same charge.
    /// </summary>
    Task NotifyUpcomingChargeAsync(RecurringCharge charge, CancellationToken ct);

    /// <summary>
    /// Charges under the agreement. The payment's id is the provider's idempotency key (out_trade_no, Idempotency-Key),
    /// so a retry of the same payment never charges twice. Answers Paid (settled in the answer), Pending (the result comes
    /// by notification or query, as for any trade), or Failed with a <see cref="ProviderTradeState.FailureCode"/>:
    /// <see cref="RecurringFailures"/> names the codes the billing engine acts on.
    /// </summary>
    Task<ProviderTradeState> ChargeAsync(RecurringCharge charge, CancellationToken ct);

    /// <summary>
    /// When the renewal of a period ending at <paramref name="periodEnd"/> is charged, and the last moment the provider accepts
    /// a retry of it. Most providers charge at the period's end and accept retries whenever the dunning schedule makes them.
    /// </summary>
    RenewalDates RenewalDates(string interval, DateTime periodEnd) => new(periodEnd, null);
}

/// <param name="ChargeAt">When the renewal is first charged (UTC).</param>
/// <param name="LastRetryAt">The last moment a failed charge may be retried (UTC); null: whenever the dunning schedule says.</param>
public sealed record RenewalDates(DateTime ChargeAt, DateTime? LastRetryAt);

/// <param name="Interval">day, week, month or year; with <paramref name="IntervalCount"/>, the schedule the agreement allows.</param>
/// <param name="FirstChargeAt">When the first charge under the agreement is due (UTC).</param>
public sealed record MandateSigning(Mandate Mandate, Customer Customer, string Description, string Interval, int IntervalCount,
    DateTime FirstChargeAt, string NotifyUrl, string? ReturnUrl);

/// <summary>Where the learner signs: a redirect URL, a QR payload or a client secret; the provider's ids when it already gave them.</summary>
public sealed record MandateSignStarted(string? RedirectUrl = null, string? QrCode = null, string? ClientSecret = null,
    string? ProviderMandateId = null, string? ProviderCustomerRef = null);

/// <param name="At">The provider's time of this state (signed or terminated time): what orders notifications that race.</param>
/// <param name="Reason">For Revoked: user, merchant, provider, not_signed (or the provider's own mode).</param>
public sealed record MandateState(MandateStatus Status, string? ProviderMandateId = null, string? ProviderCustomerRef = null,
    DateTime? At = null, string? Reason = null);

/// <summary>One charge under an agreement: the payment row (already written, pending) of the invoice's order.</summary>
public sealed record RecurringCharge(Payment Payment, Order Order, Mandate Mandate, string Subject, string NotifyUrl);

/// <summary>The failure codes of <see cref="IRecurringProvider.ChargeAsync"/> the billing engine acts on; others are retried as declines.</summary>
public static class RecurringFailures
{
    /// <summary>Declined (insufficient funds, limits): retried on the dunning schedule.</summary>
    public const string Declined = "card_declined";
    /// <summary>The learner must act (3-D Secure, confirm in the app): the invoice stays open with a link for the learner.</summary>
    public const string AuthenticationRequired = "authentication_required";
    /// <summary>The agreement is gone at the provider: no retry under it.</summary>
    public const string MandateRevoked = "mandate_revoked";
    /// <summary>Never retried (stolen card, closed account).</summary>
    public const string HardDecline = "hard_decline";
    /// <summary>
    /// The <see cref="ProviderException"/> code of a charge above <see cref="Mandate.MaxAmount"/> (Alipay's single_amount,
    /// WeChat Pay's estimate) or in another currency: every adapter refuses it before calling its provider.
    /// </summary>
    public const string AmountExceedsMandate = "amount_exceeds_mandate";
}

/// <summary>
/// Where provider adapters report what they learn about an agreement (a sign or unsign notification, or a query). The
/// billing feature implements it; adapters only verify the provider's message and translate it.
/// </summary>
public interface IMandateUpdates
{
    /// <param name="mandateId">KnowPay's mandate id (the external agreement number / out_contract_code sent to the provider, with its underscore).</param>
    Task ApplyAsync(string provider, string mandateId, MandateState state, CancellationToken ct);
}

/// <summary>The enabled providers that can charge under an agreement, by name.</summary>
public sealed class RecurringProviders(PaymentProviders providers)
{
    readonly Dictionary<string, IRecurringProvider> byName = providers.All.OfType<IRecurringProvider>().ToDictionary(p => p.Name, StringComparer.Ordinal);

    public bool TryGet(string? name, out IRecurringProvider provider) => byName.TryGetValue(name ?? "", out provider!);

    /// <summary>The provider named, or null when it cannot charge under an agreement (or is not enabled).</summary>
    public IRecurringProvider? Of(string? name) => byName.GetValueOrDefault(name ?? "");

    public IReadOnlyCollection<string> Names => byName.Keys;
}
