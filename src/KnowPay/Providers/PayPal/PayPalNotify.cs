using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Payments;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Providers.PayPal;

/// <summary>
/// POST /v1/notify/paypal: the transmission signature is verified offline first, then the resource is matched with our
/// payment (custom_id = payment id, order id, amount, currency). An approved order is captured (idempotently); a
/// completed capture confirms the payment exactly once; a denied capture fails it; a refund goes to the refunds feature.
/// 2xx acknowledges; 4xx refuses a forgery; 5xx asks PayPal to send again.
/// </summary>
public static class PayPalNotify
{
    public static void Map(IEndpointRouteBuilder notify) => notify.MapPost("/paypal", Handle).ExcludeFromDescription();

    static async Task<IResult> Handle(HttpContext http, KnowPayDb db, Features.Payments.AwaitedPayments awaited, PaymentProviders providers, TimeProvider clock, ILoggerFactory logs, CancellationToken ct)
    {
        if (http.RequestServices.GetService<PayPalWebhookVerifier>() is not { } verifier || !providers.TryGet("paypal", out var provider) ||
            provider is not PayPalProvider paypal)
            return Results.NotFound();
        var log = logs.CreateLogger(nameof(PayPalNotify));
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, ct);
        var raw = buffer.ToArray();
        if (!await verifier.VerifyAsync(http.Request.Headers, raw, ct))
        {
            log.LogWarning("Security: PayPal webhook with a bad or missing transmission signature refused");
            return Results.Json(new { error = "invalid_signature" }, statusCode: 400);
        }
        JsonObject evt;
        try { evt = JsonNode.Parse(raw)!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return Results.Json(new { error = "invalid_body" }, statusCode: 400); }
        var type = (string?)evt["event_type"];
        if (evt["resource"] is not JsonObject resource) return Results.Ok(new { received = true, ignored = type });
        var now = clock.GetUtcNow().UtcDateTime;

        switch (type)
        {
            case "CHECKOUT.ORDER.APPROVED":
            {
                var unit = resource["purchase_units"]?[0];
                var (payment, refusal) = await MatchAsync(db, (string?)unit?["custom_id"], (string?)resource["id"], PayPalProvider.ParseAmount(unit?["amount"]), log, ct);
                if (refusal is not null) return refusal;
                if (payment!.Status != PaymentStatus.Pending) return Results.Ok(new { received = true });
                ProviderTradeState state;
                try { state = await paypal.CaptureAsync(payment, ct); }
                catch (ProviderException e)
                {
                    log.LogWarning(e, "Capture of PayPal order {Order} for {PaymentId} failed; PayPal will send again and the poller will retry", payment.ProviderTradeNo, payment.Id);
                    return Results.Json(new { error = "capture_failed" }, statusCode: 503);
                }
                if (state.Status == TradeStatus.Paid)
                    return Answer(await ConfirmPayment.ApplyAsync(db, new PaidFact("paypal", payment.Id, state.ProviderTradeNo, state.Amount ?? -1,
                        state.Currency ?? "", null, "notification"), paypal, clock, log, ct, awaited));
                if (state.Status == TradeStatus.Failed) await PaymentPoller.MarkFailedAsync(db, payment, state.FailureCode ?? "capture_declined", now, ct);
                return Results.Ok(new { received = true });
            }
            case "PAYMENT.CAPTURE.COMPLETED":
            {
                var money = PayPalProvider.ParseAmount(resource["amount"]);
                if ((string?)resource["status"] is not ("COMPLETED" or "PARTIALLY_REFUNDED" or "REFUNDED") || money is null)
                    return Results.Json(new { error = "capture_invalid" }, statusCode: 400);
                var outcome = await ConfirmPayment.ApplyAsync(db, new PaidFact("paypal", (string?)resource["custom_id"] ?? "",
                    (string?)resource["supplementary_data"]?["related_ids"]?["order_id"] ?? "", money.Value.MinorUnits, money.Value.Currency.Code,
                    null, "notification"), paypal, clock, log, ct, awaited);
                return Answer(outcome);
            }
            case "PAYMENT.CAPTURE.DENIED" or "PAYMENT.CAPTURE.DECLINED":
            {
                var (payment, refusal) = await MatchAsync(db, (string?)resource["custom_id"],
                    (string?)resource["supplementary_data"]?["related_ids"]?["order_id"], PayPalProvider.ParseAmount(resource["amount"]), log, ct);
                if (refusal is not null) return refusal;
                await PaymentPoller.MarkFailedAsync(db, payment!, "capture_denied", now, ct);
                return Results.Ok(new { received = true });
            }
            case "PAYMENT.CAPTURE.REFUNDED" or "PAYMENT.REFUND.PENDING" or "PAYMENT.REFUND.FAILED":
                if ((string?)resource["custom_id"] is { } refundId)
                    await http.RequestServices.GetRequiredService<IRefundUpdates>().ApplyAsync("paypal", refundId, PayPalProvider.RefundState(resource), ct);
                return Results.Ok(new { received = true });
            default:
                return Results.Ok(new { received = true, ignored = type });
        }
    }

    /// <summary>Our payment for the resource, or the refusal when it is unknown or names another order, amount or currency.</summary>
    static async Task<(Payment? Payment, IResult? Refusal)> MatchAsync(KnowPayDb db, string? paymentId, string? orderId, Money? amount, ILogger log, CancellationToken ct)
    {
        var payment = paymentId is null ? null
            : await db.Payments.AsNoTracking().SingleOrDefaultAsync(p => p.Id == paymentId && p.Provider == "paypal", ct);
        if (payment is null)
        {
            log.LogWarning("Security: PayPal reported payment {PaymentId} which does not exist", paymentId);
            return (null, Answer(ConfirmOutcome.UnknownPayment));
        }
        if (payment.ProviderTradeNo != orderId || amount is not { } m || m.MinorUnits != payment.Amount || m.Currency.Code != payment.Currency)
        {
            log.LogWarning("Security: PayPal reported order {Order} / {Amount} for payment {PaymentId} (order {Expected}, {ExpectedAmount} {Currency}); refused",
                orderId, amount, payment.Id, payment.ProviderTradeNo, payment.Amount, payment.Currency);
            return (null, Answer(ConfirmOutcome.Mismatch));
        }
        return (payment, null);
    }

    static IResult Answer(ConfirmOutcome outcome) => outcome switch
    {
        ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed => Results.Ok(new { received = true }),
        ConfirmOutcome.UnknownPayment => Results.Json(new { error = "unknown_payment" }, statusCode: 404),
        ConfirmOutcome.Mismatch => Results.Json(new { error = "amount_mismatch" }, statusCode: 400),
        _ => throw new InvalidOperationException(),
    };
}

/// <summary>
/// PayPal's offline webhook verification: SHA256withRSA over "transmission_id|transmission_time|webhook_id|crc32(raw body)"
/// (the CRC-32 as an unsigned decimal) with the public key of the certificate at PAYPAL-CERT-URL. The certificate is
/// fetched only over HTTP(S) from PayPal's own API host (the configured ApiBaseUrl's host, or api.… for api-m.…), checked
/// for validity, and cached by URL.
/// </summary>
public sealed class PayPalWebhookVerifier(PayPalSettings settings, IHttpClientFactory httpFactory, TimeProvider clock, ILogger<PayPalWebhookVerifier> log)
{
    readonly ConcurrentDictionary<string, X509Certificate2> certificates = new();

    public async Task<bool> VerifyAsync(IHeaderDictionary headers, byte[] rawBody, CancellationToken ct)
    {
        string id = headers["PAYPAL-TRANSMISSION-ID"].ToString(), time = headers["PAYPAL-TRANSMISSION-TIME"].ToString(),
            sig = headers["PAYPAL-TRANSMISSION-SIG"].ToString(), certUrl = headers["PAYPAL-CERT-URL"].ToString(),
            algo = headers["PAYPAL-AUTH-ALGO"].ToString();
        if (id.Length == 0 || time.Length == 0 || sig.Length == 0 || algo != "SHA256withRSA") return false;
        if (!AllowedCertUrl(certUrl, out var uri))
        {
            log.LogWarning("Security: PayPal webhook names certificate URL {Url} outside the PayPal API host; refused", certUrl);
            return false;
        }
        var certificate = await CertificateAsync(uri, ct);
        if (certificate is null) return false;
        var now = clock.GetUtcNow();
        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime()) return false;
        var crc = Crc32.HashToUInt32(rawBody).ToString(CultureInfo.InvariantCulture);
        var message = Encoding.UTF8.GetBytes($"{id}|{time}|{settings.WebhookId}|{crc}");
        byte[] signature;
        try { signature = Convert.FromBase64String(sig); }
        catch (FormatException) { return false; }
        using var key = certificate.GetRSAPublicKey();
        return key is not null && key.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    bool AllowedCertUrl(string url, out Uri uri)
    {
        uri = null!;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || !Uri.TryCreate(settings.ApiBaseUrl, UriKind.Absolute, out var api)) return false;
        uri = parsed;
        var hosts = new[] { api.Host, api.Host.StartsWith("api-m.", StringComparison.OrdinalIgnoreCase) ? "api." + api.Host[6..] : api.Host };
        return parsed.Scheme == api.Scheme && parsed.Port == api.Port && hosts.Contains(parsed.Host, StringComparer.OrdinalIgnoreCase)
               && string.IsNullOrEmpty(parsed.UserInfo);
    }

    async Task<X509Certificate2?> CertificateAsync(Uri uri, CancellationToken ct)
    {
        if (certificates.TryGetValue(uri.AbsoluteUri, out var cached)) return cached;
        try
        {
            using var http = httpFactory.CreateClient(PayPalProvider.HttpClientName);
            var pem = await http.GetStringAsync(uri, ct);
            var certificate = X509Certificate2.CreateFromPem(pem);
            return certificates.GetOrAdd(uri.AbsoluteUri, certificate);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or CryptographicException or ArgumentException
                                      or Polly.Timeout.TimeoutRejectedException && !ct.IsCancellationRequested)
        {
            log.LogWarning(e, "Could not fetch the PayPal certificate at {Url}", uri);
            return null;
        }
    }
}
