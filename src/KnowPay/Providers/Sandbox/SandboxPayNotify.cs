using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.Sandbox;

/// <summary>
/// POST /v1/notify/sandbox: verify the signature on the raw body first, then the amount, currency and trade
/// against our payment, then confirm exactly once. 2xx acknowledges (also for a duplicate); 4xx refuses a forgery,
/// 5xx asks the provider to send again.
/// </summary>
public static class SandboxPayNotify
{
    public static void Map(IEndpointRouteBuilder notify) => notify.MapPost("/sandbox", Handle).ExcludeFromDescription();

    static async Task<IResult> Handle(HttpContext http, KnowPayDb db, Features.Payments.AwaitedPayments awaited, PaymentProviders providers, SandboxPaySettings settings,
        TimeProvider clock, ILoggerFactory logs, IRefundUpdates refunds, CancellationToken ct) =>
        await HandleCoreAsync(http, db, awaited, providers, settings, clock, logs.CreateLogger(nameof(SandboxPayNotify)), refunds, ct);

    static async Task<IResult> HandleCoreAsync(HttpContext http, KnowPayDb db, Features.Payments.AwaitedPayments awaited, PaymentProviders providers, SandboxPaySettings settings,
        TimeProvider clock, ILogger log, IRefundUpdates refunds, CancellationToken ct)
    {
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync(ct);
        if (!HmacSignature.Verify(settings.Secret, http.Request.Headers["SandboxPay-Signature"], body, clock.GetUtcNow(), TimeSpan.FromMinutes(5)))
        {
            log.LogWarning("Security: sandbox notification with a bad signature refused");
            return Results.Json(new { error = "invalid_signature" }, statusCode: 401);
        }
        JsonObject note;
        try { note = JsonNode.Parse(body)!.AsObject(); }
        catch (JsonException) { return Results.Json(new { error = "invalid_body" }, statusCode: 400); }
        var type = (string?)note["type"];
        var data = note["data"] as JsonObject;
        if (type == "refund.succeeded" && data is not null)
        {
            await refunds.ApplyAsync("sandbox", (string?)data["out_refund_no"] ?? "",
                new ProviderRefundResult(RefundStatus.Succeeded, (string?)data["refund_no"]), ct);
            return Results.Ok(new { received = true });
        }
        if (type != "trade.paid" || data is null) return Results.Ok(new { received = true, ignored = type });

        var state = SandboxPayProvider.State(data);
        var outcome = await ConfirmPayment.ApplyAsync(db, new PaidFact("sandbox", (string?)data["out_trade_no"] ?? "", state.ProviderTradeNo,
            state.Amount ?? -1, state.Currency ?? "", state.PaidAt, "notification"), providers["sandbox"], clock, log, ct, awaited);
        return outcome switch
        {
            ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed => Results.Ok(new { received = true }),
            ConfirmOutcome.UnknownPayment => Results.Json(new { error = "unknown_trade" }, statusCode: 404),
            ConfirmOutcome.Mismatch => Results.Json(new { error = "amount_mismatch" }, statusCode: 400),
            _ => throw new InvalidOperationException(),
        };
    }
}
