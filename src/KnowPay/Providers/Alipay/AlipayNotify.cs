using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Payments;

namespace KnowPay.Providers.Alipay;

/// <summary>
/// POST /v1/notify/alipay (form-encoded). Verify first: sign_type must be RSA2, the signature (sign and sign_type
/// dropped) must verify with Alipay's public key, app_id must be ours; then out_trade_no, total_amount and currency
/// are checked against our payment by <see cref="ConfirmPayment"/>. The body <c>success</c> acknowledges (also a
/// duplicate); anything else makes Alipay send again. A refund notification (out_biz_no) goes to the refunds feature.
/// </summary>
public static class AlipayNotify
{
    public static void Map(IEndpointRouteBuilder notify) => notify.MapPost("/alipay", Handle).ExcludeFromDescription().DisableAntiforgery();

    static async Task<IResult> Handle(HttpContext http, KnowPayDb db, Features.Payments.AwaitedPayments awaited, TimeProvider clock, ILoggerFactory logs, CancellationToken ct)
    {
        var log = logs.CreateLogger(nameof(AlipayNotify));
        var settings = http.RequestServices.GetService<AlipaySettings>();
        var providers = http.RequestServices.GetRequiredService<PaymentProviders>();
        if (settings is null || !providers.TryGet("alipay", out var provider)) return Fail(404, "alipay is not enabled");
        if (!http.Request.HasFormContentType) return Fail(400, "form body expected");
        var form = await http.Request.ReadFormAsync(ct);
        var p = form.ToDictionary(f => f.Key, f => (string?)f.Value.ToString(), StringComparer.Ordinal);
        string? Get(string key) => p.TryGetValue(key, out var v) && !string.IsNullOrEmpty(v) ? v : null;

        if (Get("sign_type") != "RSA2" || !AlipaySignature.Verify(AlipaySignature.Content(p, dropSignType: true), Get("sign"), settings.AlipayPublicKeyPem))
        {
            log.LogWarning("Security: Alipay notification with a bad signature or sign_type refused (out_trade_no {OutTradeNo})", Get("out_trade_no"));
            return Fail(401, "invalid signature");
        }
        if (Get("app_id") != settings.AppId)
        {
            log.LogWarning("Security: Alipay notification for app_id {AppId}, not ours; refused", Get("app_id"));
            return Fail(400, "app_id mismatch");
        }

        if (Get("out_biz_no") is { } refundId && Get("refund_fee") is not null)
        {
            await http.RequestServices.GetRequiredService<IRefundUpdates>().ApplyAsync("alipay", refundId,
                new ProviderRefundResult(RefundStatus.Succeeded, $"{Get("trade_no")}:{refundId}"), ct);
            return Success();
        }
        if (Get("trade_status") is not ("TRADE_SUCCESS" or "TRADE_FINISHED")) return Success();

        var state = AlipayProvider.State(new System.Text.Json.Nodes.JsonObject
        {
            ["trade_status"] = Get("trade_status"), ["trade_no"] = Get("trade_no"), ["total_amount"] = Get("total_amount"),
            ["trans_currency"] = Get("trans_currency"), ["gmt_payment"] = Get("gmt_payment"),
        });
        var outcome = await ConfirmPayment.ApplyAsync(db, new PaidFact("alipay", Get("out_trade_no") ?? "", state.ProviderTradeNo,
            state.Amount ?? -1, state.Currency ?? "", state.PaidAt, "notification"), provider, clock, log, ct, awaited);
        return outcome switch
        {
            ConfirmOutcome.Confirmed or ConfirmOutcome.AlreadyConfirmed => Success(),
            ConfirmOutcome.UnknownPayment => Fail(404, "unknown trade"),
            ConfirmOutcome.Mismatch => Fail(400, "amount mismatch"),
            _ => throw new InvalidOperationException(),
        };
    }

    /// <summary>Exactly the seven characters Alipay looks for.</summary>
    static IResult Success() => Results.Text("success", "text/plain");

    static IResult Fail(int status, string reason) => Results.Text("fail: " + reason, "text/plain", statusCode: status);
}
