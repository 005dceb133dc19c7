using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Features.Payments;

namespace KnowPay.Providers.WeChatPay;

/// <summary>
/// POST /v1/notify/wechatpay. Verify first (Wechatpay-Serial is the platform serial, timestamp within ±5 min,
/// signature over "TIMESTAMP\nNONCE\nBODY\n"), then decrypt the resource (a wrong GCM tag is a forgery), then
/// check mchid/appid, and amount and currency against our payment. 204 acknowledges (also a duplicate);
/// 4xx/5xx with {"code":"FAIL","message":…} makes WeChat Pay send again. REFUND.* events go to the refunds feature.
/// </summary>
public static class WeChatPayNotify
{
    public static void Map(IEndpointRouteBuilder notify) => notify.MapPost("/wechatpay", Handle).ExcludeFromDescription();

    static async Task<IResult> Handle(HttpContext http, KnowPayDb db, Features.Payments.AwaitedPayments awaited, TimeProvider clock, ILoggerFactory logs, CancellationToken ct)
    {
        var log = logs.CreateLogger(nameof(WeChatPayNotify));
        var settings = http.RequestServices.GetService<WeChatPaySettings>();
        var providers = http.RequestServices.GetRequiredService<PaymentProviders>();
        if (settings is null || !providers.TryGet("wechatpay", out var provider)) return Fail(404, "wechatpay is not enabled");
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync(ct);
        var h = http.Request.Headers;
        if (!WeChatPaySignature.VerifyHeaders(h["Wechatpay-Serial"], h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], h["Wechatpay-Signature"], body,
                settings.PlatformSerialNo, settings.PlatformPublicKeyPem, clock.GetUtcNow()))
        {
            log.LogWarning("Security: WeChat Pay notification with a bad, stale or unknown-serial signature refused");
            return Fail(401, "invalid signature");
        }
        JsonObject note;
        try { note = JsonNode.Parse(body)!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return Fail(400, "invalid body"); }
        var resource = note["resource"] as JsonObject;
        var plain = WeChatPaySignature.Decrypt(settings.ApiV3Key, (string?)resource?["nonce"], (string?)resource?["associated_data"],
            (string?)resource?["ciphertext"]);
        if (plain is null)
        {
            log.LogWarning("Security: WeChat Pay notification {Id} whose resource does not decrypt; refused", (string?)note["id"]);
            return Fail(400, "resource does not decrypt");
        }
        var data = JsonNode.Parse(plain)!.AsObject();
        if ((string?)data["mchid"] != settings.MchId || (data["appid"] is not null && (string?)data["appid"] != settings.AppId))
        {
            log.LogWarning("Security: WeChat Pay notification for mchid {MchId}/appid {AppId}, not ours; refused", (string?)data["mchid"], (string?)data["appid"]);
            return Fail(400, "mchid mismatch");
        }

        var eventType = (string?)note["event_type"] ?? "";
        if (eventType.StartsWith("REFUND.", StringComparison.Ordinal))
        {
            if ((string?)data["out_refund_no"] is not { Length: > 0 } refundId) return Fail(400, "no out_refund_no");
            await http.RequestServices.GetRequiredService<IRefundUpdates>().ApplyAsync("wechatpay", refundId, WeChatPayProvider.RefundState(data), ct);
            return Results.NoContent();
        }
        if (eventType != "TRANSACTION.SUCCESS") return Results.NoContent();

        var state = WeChatPayProvider.State(data);
        if (state.Status != TradeStatus.Paid) return Results.NoContent();
        var outcome = await ConfirmPayment.ApplyAsync(db, new PaidFact("wechatpay", (string?)data["out_trade_no"] ?? "", state.ProviderTradeNo,
            state.Amount ?? -1, state.Currency ?? "", state.PaidAt, "notification"), provider, clock, log, ct, awaited);
        return outcome switch
        {
            ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed => Results.NoContent(),
            ConfirmOutcome.UnknownPayment => Fail(404, "unknown trade"),
            ConfirmOutcome.Mismatch => Fail(400, "amount mismatch"),
            _ => throw new InvalidOperationException(),
        };
    }

    static IResult Fail(int status, string message) => Results.Json(new { code = "FAIL", message }, statusCode: status);
}
