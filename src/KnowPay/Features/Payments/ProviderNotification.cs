using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Providers;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Payments;

/// <summary>What a verified provider notification says, in KnowPay's terms.</summary>
public abstract record ProviderNotice
{
    ProviderNotice() { }

    /// <summary>The payment was paid: it is confirmed exactly once.</summary>
    public sealed record Paid(PaidFact Fact) : ProviderNotice;

    /// <summary>The payment failed; <paramref name="ProviderTradeNo"/> must be the payment's own trade.</summary>
    public sealed record Failed(string PaymentId, string? ProviderTradeNo, string Code) : ProviderNotice;

    /// <summary>What the provider says about refunds, by KnowPay's refund id (none: nothing to apply).</summary>
    public sealed record Refunds(IReadOnlyList<RefundReport> Reports) : ProviderNotice;

    /// <summary>What the provider says about a payment agreement (signed, ended), by KnowPay's mandate id.</summary>
    public sealed record Mandate(string MandateId, MandateState State) : ProviderNotice;

    /// <summary>Nothing to apply: the parser already knows the answer (ignored, refused, acknowledged).</summary>
    public sealed record Answered(NotificationOutcome Outcome) : ProviderNotice;

    public static implicit operator ProviderNotice(NotificationOutcome outcome) => new Answered(outcome);
}

public sealed record RefundReport(string RefundId, ProviderRefundResult Result);

/// <summary>A verified JSON notification: the provider's event type and the object it is about.</summary>
public sealed record ProviderEvent(string? Type, JsonObject Data);

public enum NotificationAnswer { Acknowledged, Ignored, NotEnabled, Rejected, UnknownPayment, Mismatch }

/// <summary>How a notification ended; each provider answers it in its own wire format.</summary>
/// <param name="Detail">What was ignored, or why it was rejected (in the provider's words).</param>
public sealed record NotificationOutcome(NotificationAnswer Answer, int StatusCode, string? Detail = null)
{
    public static readonly NotificationOutcome Acknowledged = new(NotificationAnswer.Acknowledged, 200);
    public static readonly NotificationOutcome NotEnabled = new(NotificationAnswer.NotEnabled, 404);
    public static readonly NotificationOutcome UnknownPayment = new(NotificationAnswer.UnknownPayment, 404);
    public static readonly NotificationOutcome Mismatch = new(NotificationAnswer.Mismatch, 400);

    public static NotificationOutcome Ignored(string? what) => new(NotificationAnswer.Ignored, 200, what);

    public static NotificationOutcome Rejected(int statusCode, string reason) => new(NotificationAnswer.Rejected, statusCode, reason);

    /// <summary>The JSON answer Stripe, PayPal and SandboxPay expect: 2xx acknowledges, 4xx refuses, 5xx asks to send again.</summary>
    public IResult ToJson(string unknownPaymentCode) => Answer switch
    {
        NotificationAnswer.Acknowledged => Results.Ok(new { received = true }),
        NotificationAnswer.Ignored => Results.Ok(new { received = true, ignored = Detail }),
        NotificationAnswer.NotEnabled => Results.NotFound(),
        NotificationAnswer.UnknownPayment => Results.Json(new { error = unknownPaymentCode }, statusCode: StatusCode),
        NotificationAnswer.Mismatch => Results.Json(new { error = "amount_mismatch" }, statusCode: StatusCode),
        NotificationAnswer.Rejected => Results.Json(new { error = Detail }, statusCode: StatusCode),
        _ => throw new UnreachableException(),
    };
}

/// <summary>A notification whose signature (and, where the provider says so, app or merchant id) checked out.</summary>
public sealed record Verification<TMessage>(TMessage? Message, NotificationOutcome? Refusal) where TMessage : class
{
    public static implicit operator Verification<TMessage>(TMessage message) => new(message, null);

    public static implicit operator Verification<TMessage>(NotificationOutcome refusal) => new(null, refusal);
}

/// <summary>What a provider's verify and parse steps may use: the database for matching, the enabled adapter, services.</summary>
public sealed record NotificationContext(KnowPayDb Db, IPaymentProvider Provider, IServiceProvider Services, TimeProvider Clock, ILogger Log);

/// <summary>
/// POST /v1/notify/{provider}, the one skeleton: enabled? → verify → parse → apply (confirm exactly once, fail, or hand
/// refunds to the refunds feature) → answer in the provider's format. Verification comes first, so nothing unverified is
/// read; every write is a conditional transition, so duplicates and reordering change nothing and get the same answer.
/// A provider fills in only its verify, parse and answer.
/// </summary>
/// <typeparam name="TSettings">What the provider verifies with (its settings or its verifier); absent means not enabled.</typeparam>
/// <param name="provider">alipay, wechatpay, …: the adapter's name and the path under /v1/notify.</param>
public abstract class ProviderNotification<TSettings, TMessage>(string provider) where TSettings : class where TMessage : class
{
    protected string Provider { get; } = provider;

    /// <summary>Checks the signature (and the provider's ids) and reads the message; anything unverifiable is refused.</summary>
    protected abstract Task<Verification<TMessage>> VerifyAsync(HttpRequest request, TSettings settings, NotificationContext context, CancellationToken ct);

    /// <summary>What the verified message says; a provider whose parsing needs no I/O overrides <see cref="Parse"/> instead.</summary>
    protected virtual Task<ProviderNotice> ParseAsync(TMessage message, NotificationContext context, CancellationToken ct) =>
        Task.FromResult(Parse(message, context));

    protected virtual ProviderNotice Parse(TMessage message, NotificationContext context) =>
        throw new NotSupportedException($"{GetType().Name} overrides neither Parse nor ParseAsync");

    protected abstract IResult Answer(NotificationOutcome outcome);

    internal RouteHandlerBuilder MapTo(IEndpointRouteBuilder notify) =>
        notify.MapPost("/" + Provider, HandleAsync).ExcludeFromDescription().DisableAntiforgery();

    async Task<IResult> HandleAsync(HttpContext http, KnowPayDb db, AwaitedPayments awaited, PaymentProviders providers, TimeProvider clock,
        ILoggerFactory logs, CancellationToken ct)
    {
        if (!providers.TryGet(Provider, out var provider)) return Answer(NotificationOutcome.NotEnabled);
        if (http.RequestServices.GetService<TSettings>() is not { } settings) return Answer(NotificationOutcome.NotEnabled);
        var context = new NotificationContext(db, provider, http.RequestServices, clock, logs.CreateLogger(GetType().Name));
        ProviderNotice notice;
        try
        {
            var verification = await VerifyAsync(http.Request, settings, context, ct);
            if (verification.Message is not { } message) return Answer(verification.Refusal ?? NotificationOutcome.NotEnabled);
            notice = await ParseAsync(message, context, ct);
        }
        catch (Exception e) when (KnowPay.Infrastructure.ProviderJson.IsWrongShape(e))
        {
            // A field of the wrong JSON type (an amount as a string) is a malformed message, not our failure.
            return Answer(NotificationOutcome.Rejected(400, "invalid_body"));
        }
        return Answer(await ApplyAsync(notice, context, awaited, ct));
    }

    async Task<NotificationOutcome> ApplyAsync(ProviderNotice notice, NotificationContext context, AwaitedPayments awaited, CancellationToken ct)
    {
        switch (notice)
        {
            case ProviderNotice.Paid(var fact):
                return await ConfirmPayment.ApplyAsync(context.Db, fact, context.Provider, context.Clock, context.Log, ct, awaited) switch
                {
                    ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed => NotificationOutcome.Acknowledged,
                    ConfirmOutcome.UnknownPayment => NotificationOutcome.UnknownPayment,
                    ConfirmOutcome.Mismatch => NotificationOutcome.Mismatch,
                    _ => throw new UnreachableException(),
                };
            case ProviderNotice.Failed(var paymentId, var providerTradeNo, var code):
            {
                var payment = await context.Db.PaymentOfAsync(paymentId, Provider, ct);
                if (payment is null)
                {
                    context.Log.LogWarning("Security: {Provider} reported payment {PaymentId} which does not exist", Provider, paymentId);
                    return NotificationOutcome.UnknownPayment;
                }
                if (payment.ProviderTradeNo != providerTradeNo)
                {
                    context.Log.LogWarning("Security: {Provider} reported a failure of {PaymentId} for trade {Trade}, not ours; refused",
                        Provider, paymentId, providerTradeNo);
                    return NotificationOutcome.Mismatch;
                }
                await FailPayment.ApplyAsync(context.Db, payment, code, context.Clock.GetUtcNow().UtcDateTime, ct);
                return NotificationOutcome.Acknowledged;
            }
            case ProviderNotice.Refunds(var reports):
            {
                var updates = context.Services.GetRequiredService<IRefundUpdates>();
                foreach (var report in reports) await updates.ApplyAsync(Provider, report.RefundId, report.Result, ct);
                return NotificationOutcome.Acknowledged;
            }
            case ProviderNotice.Mandate(var mandateId, var state):
                await context.Services.GetRequiredService<IMandateUpdates>().ApplyAsync(Provider, mandateId, state, ct);
                return NotificationOutcome.Acknowledged;
            case ProviderNotice.Answered(var outcome):
                return outcome;
            default:
                throw new UnreachableException();
        }
    }
}

/// <summary>
/// A notification signed over its raw JSON body: the body is read once, the provider's signature check runs over exactly
/// those bytes and a failure is logged as a security event and refused; then the body must be a JSON object, from which
/// the provider reads its event. A provider fills in its signature check, its two refusals and where its event sits.
/// </summary>
/// <param name="badSignature">The status and reason a bad, missing or stale signature is refused with.</param>
/// <param name="invalidBody">The reason a verified body that is not a JSON object is refused with (400).</param>
public abstract class SignedJsonNotification<TSettings>(string provider, (int Status, string Reason) badSignature, string invalidBody)
    : ProviderNotification<TSettings, ProviderEvent>(provider) where TSettings : class
{
    /// <summary>Whether the signature in the headers covers the body; a provider whose check needs I/O overrides <see cref="SignatureValidAsync"/> instead.</summary>
    protected virtual bool SignatureValid(IHeaderDictionary headers, SignedBody body, TSettings settings, DateTimeOffset now) =>
        throw new NotSupportedException($"{GetType().Name} overrides neither SignatureValid nor SignatureValidAsync");

    protected virtual Task<bool> SignatureValidAsync(IHeaderDictionary headers, SignedBody body, TSettings settings, DateTimeOffset now, CancellationToken ct) =>
        Task.FromResult(SignatureValid(headers, body, settings, now));

    /// <summary>The event in the verified body, or the answer when there is nothing to apply.</summary>
    protected abstract Verification<ProviderEvent> Read(JsonObject body, TSettings settings, ILogger log);

    protected sealed override async Task<Verification<ProviderEvent>> VerifyAsync(HttpRequest request, TSettings settings, NotificationContext context,
        CancellationToken ct)
    {
        var body = await SignedBody.ReadAsync(request, ct);
        if (!await SignatureValidAsync(request.Headers, body, settings, context.Clock.GetUtcNow(), ct))
        {
            context.Log.LogWarning("Security: {Provider} notification with a bad, missing or stale signature refused", Provider);
            return NotificationOutcome.Rejected(badSignature.Status, badSignature.Reason);
        }
        return ParseObject(body.Text) is { } json ? Read(json, settings, context.Log) : NotificationOutcome.Rejected(400, invalidBody);
    }

    /// <summary>An event of <paramref name="type"/> about <paramref name="data"/>; without an object there is nothing to apply.</summary>
    protected static Verification<ProviderEvent> Event(string? type, JsonNode? data) =>
        data is JsonObject obj ? new ProviderEvent(type, obj) : NotificationOutcome.Ignored(type);

    static JsonObject? ParseObject(string body)
    {
        try { return JsonNode.Parse(body) as JsonObject; }
        catch (JsonException) { return null; }
    }
}

/// <summary>A notification's raw body, read once: the bytes (what PayPal's CRC covers) and their text (what HMACs cover).</summary>
public sealed record SignedBody(byte[] Bytes, string Text)
{
    public static async Task<SignedBody> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, ct);
        var bytes = buffer.ToArray();
        using var reader = new StreamReader(new MemoryStream(bytes));   // UTF-8 unless a byte-order mark names another encoding
        return new SignedBody(bytes, await reader.ReadToEndAsync(ct));
    }
}

public static class ProviderNotifications
{
    /// <summary>POST /v1/notify/{provider} answered by <paramref name="notification"/>.</summary>
    public static RouteHandlerBuilder MapNotification<TSettings, TMessage>(this IEndpointRouteBuilder notify,
        ProviderNotification<TSettings, TMessage> notification) where TSettings : class where TMessage : class =>
        notification.MapTo(notify);
}
