using System.Text.Json.Nodes;
using KnowPay.Domain;
using KnowPay.Features.Payments;

namespace KnowPay.Providers.Alipay;

/// <summary>
/// POST /v1/notify/alipay (form-encoded): trade, refund and agreement (dut_user_sign / dut_user_unsign) notifications. Verify first: sign_type must be RSA2, the signature (sign and sign_type
/// dropped) must verify with Alipay's public key, app_id and seller_id (when configured) must be ours; then out_trade_no, total_amount and currency
/// are checked against our payment by <see cref="ConfirmPayment"/>. The body <c>success</c> acknowledges (also a
/// duplicate); anything else makes Alipay send again. A refund notification (out_biz_no) goes to the refunds feature.
/// </summary>
public sealed class AlipayNotify() : ProviderNotification<AlipaySettings, Dictionary<string, string?>>("alipay")
{
    protected override async Task<Verification<Dictionary<string, string?>>> VerifyAsync(HttpRequest request, AlipaySettings settings,
        NotificationContext context, CancellationToken ct)
    {
        if (!request.HasFormContentType) return NotificationOutcome.Rejected(400, "form body expected");
        var form = await request.ReadFormAsync(ct);
        var p = form.ToDictionary(f => f.Key, f => (string?)f.Value.ToString(), StringComparer.Ordinal);
        if (Get(p, "sign_type") != "RSA2" || !AlipaySignature.Verify(AlipaySignature.Content(p, dropSignType: true), Get(p, "sign"), settings.AlipayPublicKeyPem))
        {
            context.Log.LogWarning("Security: Alipay notification with a bad signature or sign_type refused (out_trade_no {OutTradeNo})", Get(p, "out_trade_no"));
            return NotificationOutcome.Rejected(401, "invalid signature");
        }
        if (Get(p, "app_id") != settings.AppId)
        {
            context.Log.LogWarning("Security: Alipay notification for app_id {AppId}, not ours; refused", Get(p, "app_id"));
            return NotificationOutcome.Rejected(400, "app_id mismatch");
        }
        // Agreement notifications (dut_user_sign / dut_user_unsign) name the app, not a seller.
        if (settings.SellerId is { } sellerId && !IsAgreementNotice(p) && Get(p, "seller_id") != sellerId)
        {
            context.Log.LogWarning("Security: Alipay notification for seller_id {SellerId}, not ours; refused", Get(p, "seller_id"));
            return NotificationOutcome.Rejected(400, "seller_id mismatch");
        }
        return p;
    }

    protected override ProviderNotice Parse(Dictionary<string, string?> p, NotificationContext context)
    {
        if (IsAgreementNotice(p)) return ParseAgreement(p);
        if (Get(p, "out_biz_no") is { } refundId && Get(p, "refund_fee") is not null)
            return new ProviderNotice.Refunds([new RefundReport(refundId, new ProviderRefundResult(RefundStatus.Succeeded, $"{Get(p, "trade_no")}:{refundId}"))]);
        if (Get(p, "trade_status") is not ("TRADE_SUCCESS" or "TRADE_FINISHED"))
            return NotificationOutcome.Ignored(Get(p, "trade_status"));
        var state = AlipayProvider.State(new JsonObject
        {
            ["trade_status"] = Get(p, "trade_status"), ["trade_no"] = Get(p, "trade_no"), ["total_amount"] = Get(p, "total_amount"),
            ["trans_currency"] = Get(p, "trans_currency"), ["gmt_payment"] = Get(p, "gmt_payment"),
            ["settle_currency"] = Get(p, "settle_currency"), ["settle_amount"] = Get(p, "settle_amount"), ["settle_trans_rate"] = Get(p, "settle_trans_rate"),
            ["pay_currency"] = Get(p, "pay_currency"), ["pay_amount"] = Get(p, "pay_amount"), ["trans_pay_rate"] = Get(p, "trans_pay_rate"),
        });
        return new ProviderNotice.Paid(PaidFact.From(Provider, Get(p, "out_trade_no") ?? "", state, "notification"));
    }

    static bool IsAgreementNotice(Dictionary<string, string?> p) => Get(p, "notify_type") is "dut_user_sign" or "dut_user_unsign";

    /// <summary>
    /// dut_user_sign (status NORMAL, sign_time) → Active; dut_user_unsign (status UNSIGN, unsign_time) → Revoked by the
    /// user. The provider's time orders them, so a sign notification replayed after the unsign revives nothing.
    /// </summary>
    static ProviderNotice ParseAgreement(Dictionary<string, string?> p)
    {
        if (AlipayProvider.MandateId(Get(p, "external_agreement_no")) is not { } mandateId)
            return NotificationOutcome.Ignored("agreement " + Get(p, "external_agreement_no"));
        var (agreementNo, user) = (Get(p, "agreement_no"), Get(p, "alipay_user_id") ?? Get(p, "alipay_open_id"));
        return (Get(p, "notify_type"), Get(p, "status")) switch
        {
            ("dut_user_sign", "NORMAL") => new ProviderNotice.Mandate(mandateId,
                new MandateState(MandateStatus.Active, agreementNo, user, AlipaySignature.ParseTimestamp(Get(p, "sign_time")))),
            ("dut_user_unsign", "UNSIGN") => new ProviderNotice.Mandate(mandateId,
                new MandateState(MandateStatus.Revoked, agreementNo, user, AlipaySignature.ParseTimestamp(Get(p, "unsign_time")), "user")),
            var (type, status) => NotificationOutcome.Ignored($"{type} {status}"),
        };
    }

    /// <summary><c>success</c> is exactly the seven characters Alipay looks for; anything else makes it send again.</summary>
    protected override IResult Answer(NotificationOutcome outcome) => outcome.Answer switch
    {
        NotificationAnswer.Acknowledged or NotificationAnswer.Ignored => Results.Text("success", "text/plain"),
        NotificationAnswer.NotEnabled => Fail(outcome.StatusCode, "alipay is not enabled"),
        NotificationAnswer.UnknownPayment => Fail(outcome.StatusCode, "unknown trade"),
        NotificationAnswer.Mismatch => Fail(outcome.StatusCode, "amount mismatch"),
        _ => Fail(outcome.StatusCode, outcome.Detail ?? "refused"),
    };

    static IResult Fail(int status, string reason) => Results.Text("fail: " + reason, "text/plain", statusCode: status);

    static string? Get(Dictionary<string, string?> p, string key) => p.TryGetValue(key, out var v) && !string.IsNullOrEmpty(v) ? v : null;
}
