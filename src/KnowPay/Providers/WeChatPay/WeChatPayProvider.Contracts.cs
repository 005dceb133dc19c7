using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers.WeChatPay;

/// <summary>
/// 委托代扣 (papay, API v3): the contract signed on WeChat's page or QR (pre-entrust-sign), its query and termination, the
/// pre-debit notice, and the deduction (pay/transactions/apply), accepted at once and settled later by the TRANSACTION
/// notification or the ordinary transaction query. out_contract_code is the mandate id without its underscore.
/// </summary>
public sealed partial class WeChatPayProvider : IRecurringProvider
{
    /// <summary>
    /// The ProviderException code of a pre-debit notice refused because it is outside 06:00–22:00 Beijing time: nothing
    /// was sent to the learner; send it again once <see cref="PreDebitWindowOpensAt"/> says the window is open.
    /// </summary>
    public const string PreDebitWindowClosed = "pre_debit_window_closed";
    /// <summary>The ProviderException code of a charge above the mandate's MaxAmount or in another currency: refused before any call.</summary>
    public const string AmountExceedsMandate = RecurringFailures.AmountExceedsMandate;
    /// <summary>The ProviderException code of a call under a mandate that has no signed contract (no contract_id yet).</summary>
    public const string MandateNotSigned = "mandate_not_signed";
    /// <summary>WeChat Pay's refusal code of a business rule (here: a pre-debit notice outside its hours).</summary>
    const string RuleLimit = "RULE_LIMIT";
    static readonly TimeSpan Beijing = TimeSpan.FromHours(8);

    public IReadOnlyCollection<string> SignMethods { get; } = [PaymentMethods.Qr, PaymentMethods.App];

    /// <summary>mdt_xxx → mdtxxx: out_contract_code allows only letters and digits.</summary>
    public static string ContractCode(string mandateId) => mandateId.Replace("_", "", StringComparison.Ordinal);

    /// <summary>mdtxxx → mdt_xxx; null for a code KnowPay did not make.</summary>
    public static string? MandateId(string? contractCode) =>
        contractCode is { Length: > 3 } c && c.StartsWith("mdt", StringComparison.Ordinal) && !c.Contains('_') ? "mdt_" + c[3..] : null;

    /// <summary>When the pre-debit notice may next be sent: <paramref name="now"/> itself inside 06:00–22:00 Beijing time, else the next 06:00.</summary>
    public static DateTimeOffset PreDebitWindowOpensAt(DateTimeOffset now)
    {
        var local = now.ToOffset(Beijing);
        if (local.Hour is >= 6 and < 22) return now;
        var day = local.Hour >= 22 ? local.Date.AddDays(1) : local.Date;
        return new DateTimeOffset(day.AddHours(6), Beijing).ToUniversalTime();
    }

    public async Task<MandateSignStarted> StartSigningAsync(MandateSigning request, CancellationToken ct)
    {
        var planId = PlanId();
        var scene = request.Mandate.Method switch
        {
            PaymentMethods.Qr => "SIGN_SCENE_QRCODE",
            PaymentMethods.App => "SIGN_SCENE_APP",
            _ => throw new ProviderException(Name, "method_unsupported", $"no papay sign scene for '{request.Mandate.Method}'"),
        };
        var customer = request.Customer;
        var display = customer.Name ?? customer.ExternalId;
        var body = new JsonObject
        {
            ["sign_scene"] = scene,
            ["appid"] = settings.AppId,
            ["plan_id"] = long.TryParse(planId, NumberStyles.None, CultureInfo.InvariantCulture, out var numeric) ? numeric : planId,
            ["out_contract_code"] = ContractCode(request.Mandate.Id),
            ["contract_display_account"] = display.Length <= 32 ? display : display[..32],
            ["contract_notify_url"] = settings.NotifyUrl ?? request.NotifyUrl,
            ["out_user_code"] = customer.Id,
            // MandateSigning carries no facts about the learner's device: the protocol's "unknown" values, every field present.
            ["device_info"] = new JsonObject
            {
                ["device_type"] = "DEVICE_TYPE_UNKNOW", ["device_os"] = "unknown", ["device_id"] = customer.Id,
                ["device_running_as_root"] = false, ["device_ip"] = "0.0.0.0", ["weixin_installed"] = true, ["weixin_version"] = "unknown",
                ["days_since_first_login"] = "DAYS_SINCE_FIRST_LOGIN_UNKNOW",
            },
        };
        if (request.ReturnUrl is not null) body["return_url"] = request.ReturnUrl;
        var (_, answer) = await SendAsync(HttpMethod.Post, "/v3/papay/sign/contracts/pre-entrust-sign", body, ct);
        var preEntrustId = (string?)answer?["pre_entrustweb_id"]
            ?? throw new ProviderException(Name, "response_unreadable", "no pre_entrustweb_id in the answer");
        if (scene == "SIGN_SCENE_APP") return new MandateSignStarted(ClientSecret: preEntrustId);
        var url = (string?)answer!["redirect_url"] ?? throw new ProviderException(Name, "response_unreadable", "no redirect_url in the answer");
        return new MandateSignStarted(RedirectUrl: url, QrCode: url);
    }

    public async Task<MandateState> QueryMandateAsync(Mandate mandate, CancellationToken ct)
    {
        var (status, answer) = await SendAsync(HttpMethod.Get, ContractPath(mandate), null, ct, tolerate: "RESOURCE_NOT_EXISTS");
        if (status == HttpStatusCode.NotFound || answer is null) return new MandateState(MandateStatus.Pending);
        if ((string?)answer["mchid"] is { } mchId && mchId != settings.MchId || (string?)answer["appid"] is { } appId && appId != settings.AppId)
            throw new ProviderException(Name, "merchant_mismatch", "the contract is for another mchid/appid");
        return ContractState(answer);
    }

    /// <summary>Terminates by out_contract_code, then reads the contract back: WeChat's terminated time orders it against the notification.</summary>
    public async Task<MandateState> TerminateMandateAsync(Mandate mandate, string reason, CancellationToken ct)
    {
        var remark = string.IsNullOrWhiteSpace(reason) ? "merchant" : reason.Length <= 120 ? reason : reason[..120];
        await SendAsync(HttpMethod.Post, ContractPath(mandate) + "/terminate", new JsonObject { ["contract_termination_remark"] = remark }, ct);
        var state = await QueryMandateAsync(mandate, ct);
        return state.Status == MandateStatus.Revoked ? state
            : new MandateState(MandateStatus.Revoked, mandate.ProviderMandateId, At: clock.GetUtcNow().UtcDateTime, Reason: "merchant");
    }

    /// <summary>
    /// POST /v3/papay/contracts/{contract_id}/notify: the learner is told of the deduction due within one day and its amount;
    /// the deduction may not exceed it. WeChat refuses it outside 06:00–22:00 Beijing time (its clock decides, not ours):
    /// that refusal is a <see cref="ProviderException"/> with code <see cref="PreDebitWindowClosed"/>, nothing applied.
    /// </summary>
    public async Task NotifyUpcomingChargeAsync(RecurringCharge charge, CancellationToken ct)
    {
        var contractId = ContractId(charge.Mandate);
        CheckAmount(charge);
        try
        {
            await SendAsync(HttpMethod.Post, $"/v3/papay/contracts/{Uri.EscapeDataString(contractId)}/notify", new JsonObject
            {
                ["mchid"] = settings.MchId,
                ["appid"] = settings.AppId,
                ["deduct_duration"] = new JsonObject { ["count"] = 1, ["unit"] = "DAY" },
                ["estimated_amount"] = new JsonObject { ["amount"] = charge.Payment.Amount, ["currency"] = charge.Payment.Currency.ToUpperInvariant() },
            }, ct);
        }
        catch (ProviderException e) when (e.Code == RuleLimit)
        {
            var opens = PreDebitWindowOpensAt(clock.GetUtcNow());
            throw new ProviderException(Name, PreDebitWindowClosed,
                $"WeChat Pay sends pre-debit notices only 06:00–22:00 Beijing time; send again from {opens:yyyy-MM-dd'T'HH:mm:ss'Z'}");
        }
    }

    /// <summary>
    /// POST /v3/papay/pay/transactions/apply with out_trade_no = the payment id (a retry of the same payment is the same
    /// deduction). ACCEPT → Pending: SUCCESS or PAY_FAIL follows by the TRANSACTION notification or the transaction query.
    /// </summary>
    public async Task<ProviderTradeState> ChargeAsync(RecurringCharge charge, CancellationToken ct)
    {
        if (charge.Mandate.Status == MandateStatus.Revoked) return new ProviderTradeState(TradeStatus.Failed, FailureCode: RecurringFailures.MandateRevoked);
        var contractId = ContractId(charge.Mandate);
        CheckAmount(charge);
        var payment = charge.Payment;
        JsonObject? answer;
        try
        {
            (_, answer) = await SendAsync(HttpMethod.Post, "/v3/papay/pay/transactions/apply", new JsonObject
            {
                ["appid"] = settings.AppId,
                ["description"] = charge.Subject.Length <= 127 ? charge.Subject : charge.Subject[..127],
                ["contract_id"] = contractId,
                ["out_trade_no"] = payment.Id,
                ["amount"] = new JsonObject { ["total"] = payment.Amount, ["currency"] = payment.Currency.ToUpperInvariant() },
                ["notify_url"] = settings.NotifyUrl ?? charge.NotifyUrl,
            }, ct);
        }
        catch (ProviderException e) when (e.Code is "NOT_ENOUGH" or "NOTENOUGH")
        {
            return new ProviderTradeState(TradeStatus.Failed, FailureCode: RecurringFailures.Declined);
        }
        catch (ProviderException e) when (e.Code is "CONTRACT_NOT_EXIST" or "CONTRACT_TERMINATED")
        {
            return new ProviderTradeState(TradeStatus.Failed, FailureCode: RecurringFailures.MandateRevoked);
        }
        return (string?)answer?["trade_state"] is null or "ACCEPT" ? new ProviderTradeState(TradeStatus.Pending) : State(answer!);
    }

    /// <summary>Maps a contract (a query answer or a decrypted ENTRUST.* resource) to the agreement's state.</summary>
    public static MandateState ContractState(JsonObject c)
    {
        var contractId = (string?)c["contract_id"];
        var openId = (string?)c["openid"];
        switch ((string?)c["contract_state"])
        {
            case "SIGNED":
                return new MandateState(MandateStatus.Active, contractId, openId, Time(c["contract_signed_time"]));
            case "TERMINATED":
                var info = c["contract_terminate_info"];
                var mode = (string?)info?["contract_termination_mode"];
                return new MandateState(MandateStatus.Revoked, contractId, openId, Time(info?["contract_terminated_time"]), mode switch
                {
                    "USER_TERMINATE" => "user",
                    "MCH_API_TERMINATE" => "merchant",
                    null => "provider",
                    _ => mode.ToLowerInvariant(),
                });
            default:
                return new MandateState(MandateStatus.Pending, contractId, openId);
        }
    }

    static DateTime? Time(JsonNode? value) =>
        DateTimeOffset.TryParse((string?)value, CultureInfo.InvariantCulture, DateTimeStyles.None, out var at) ? at.UtcDateTime : null;

    string PlanId() => settings.PapayPlanId ?? throw new ProviderException(Name, "plan_id_missing", "Providers:WeChatPay:PapayPlanId is not set");

    string ContractPath(Mandate mandate) =>
        $"/v3/papay/sign/contracts/plan-id/{Uri.EscapeDataString(PlanId())}/out-contract-code/{Uri.EscapeDataString(ContractCode(mandate.Id))}";

    string ContractId(Mandate mandate) => mandate.Status == MandateStatus.Active && mandate.ProviderMandateId is { Length: > 0 } id ? id
        : throw new ProviderException(Name, MandateNotSigned, $"mandate {mandate.Id} has no signed contract");

    void CheckAmount(RecurringCharge charge)
    {
        if (!string.Equals(charge.Payment.Currency, charge.Mandate.Currency, StringComparison.OrdinalIgnoreCase)
            || charge.Mandate.MaxAmount > 0 && charge.Payment.Amount > charge.Mandate.MaxAmount)
            throw new ProviderException(Name, AmountExceedsMandate,
                $"{charge.Payment.Amount} {charge.Payment.Currency} is above the mandate's {charge.Mandate.MaxAmount} {charge.Mandate.Currency}");
    }
}
