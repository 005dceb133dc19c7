using System.Globalization;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;

namespace KnowPay.Providers.Alipay;

/// <summary>
/// The merchant's 周期扣款 contract with Alipay: its product codes, scene and deduction window are per contract, so they are
/// settings. <paramref name="SignScene"/> must not be DEFAULT|DEFAULT, because KnowPay always sends external_agreement_no.
/// </summary>
/// <param name="DeductionWindowDays">Alipay deducts on an agreement's scheduled date or up to this many days before it.</param>
public sealed record AlipayAgreementSettings(string ProductCode = "GENERAL_WITHHOLDING", string PersonalProductCode = "CYCLE_PAY_AUTH_P",
    string SignScene = "INDUSTRY|DIGITAL_MEDIA", int DeductionWindowDays = 5);

/// <summary>
/// Alipay deduction agreements (周期扣款): signing through alipay.user.agreement.page.sign with period_rule_params, the
/// agreement's query and unsign, and each renewal as alipay.trade.pay under agreement_params.agreement_no. The mandate id
/// without its underscore is external_agreement_no, so asking twice for one mandate signs one agreement.
/// </summary>
public sealed partial class AlipayProvider : IRecurringProvider
{
    /// <summary>Alipay refuses a MONTH agreement whose execute_time falls after the 28th.</summary>
    public const int LastMonthlyExecuteDay = 28;
    const string DeductionProductCode = "CYCLE_PAY_AUTH";

    static readonly HashSet<string> AgreementGone = new(StringComparer.Ordinal)
    {
        "ACQ.AGREEMENT_NOT_EXIST", "ACQ.AGREEMENT_INVALID", "ACQ.AGREEMENT_STATUS_NOT_NORMAL", "ACQ.AGREEMENT_ERROR", "ACQ.AGREEMENT_EXPIRED",
    };

    public IReadOnlyCollection<string> SignMethods { get; } = [PaymentMethods.Page, PaymentMethods.Qr, PaymentMethods.App];

    /// <summary>
    /// A deduction is accepted only on the agreement's scheduled date or in the window of days before it, so a month or year
    /// renewal is charged at the window's start and its retries stop at the scheduled date. That date is the period's end,
    /// or for a MONTH agreement on a day after the 28th the 28th of that month (China time, the period end's time of day).
    /// A day or week renewal is charged on the date itself: the window would reach back into the period being served.
    /// </summary>
    public RenewalDates RenewalDates(string interval, DateTime periodEnd)
    {
        if (interval is not ("month" or "year")) return new(periodEnd, periodEnd);
        var day = (periodEnd + ProviderProtocol.ChinaStandardTimeOffset).Day;
        var scheduled = day > LastMonthlyExecuteDay ? periodEnd.AddDays(LastMonthlyExecuteDay - day) : periodEnd;
        return new(scheduled.AddDays(-settings.Agreements.DeductionWindowDays), scheduled);
    }

    /// <summary>
    /// page: a signed redirect to Alipay's sign page (a QR or SMS on a desktop); qr: the same signed URL as the QR payload,
    /// scanned with the Alipay app; app: the redirect a phone opens in the Alipay wallet. Nothing is sent to Alipay now: the
    /// agreement exists there (TEMP) once the learner opens the page, NORMAL once they sign (dut_user_sign).
    /// </summary>
    public Task<MandateSignStarted> StartSigningAsync(MandateSigning request, CancellationToken ct)
    {
        var mandate = request.Mandate;
        if (!string.Equals(mandate.Currency, "CNY", StringComparison.OrdinalIgnoreCase))
            throw new ProviderException(Name, "currency_unsupported", "Alipay deduction agreements are in CNY");
        var channel = mandate.Method switch
        {
            PaymentMethods.Page => "QRCODEORSMS",
            PaymentMethods.Qr => "QRCODE",
            PaymentMethods.App => "ALIPAYAPP",
            _ => throw new ProviderException(Name, "method_unsupported", $"Alipay agreements are signed by {string.Join(", ", SignMethods)}"),
        };
        var rule = AlipayPeriodRule.For(request.Interval, request.IntervalCount, request.FirstChargeAt);
        var biz = AgreementKey(mandate);
        biz["product_code"] = settings.Agreements.ProductCode;
        biz["access_params"] = new JsonObject { ["channel"] = channel };
        biz["period_rule_params"] = new JsonObject
        {
            ["period_type"] = rule.PeriodType,
            ["period"] = rule.Period,
            ["execute_time"] = rule.ExecuteDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["single_amount"] = ProviderAmounts.ToProviderDecimal(Name, new Money(mandate.MaxAmount, Cny)),
        };
        var parameters = Signed("alipay.user.agreement.page.sign", biz, settings.NotifyUrl ?? request.NotifyUrl, request.ReturnUrl);
        var url = settings.GatewayUrl + "?" + Query(parameters, includeBizContent: true);
        return Task.FromResult(mandate.Method == PaymentMethods.Qr ? new MandateSignStarted(QrCode: url) : new MandateSignStarted(RedirectUrl: url));
    }

    /// <summary>alipay.user.agreement.query: TEMP (or none yet: the learner has not opened the page) → Pending, NORMAL → Active, STOP → Revoked.</summary>
    public async Task<MandateState> QueryMandateAsync(Mandate mandate, CancellationToken ct)
    {
        var answer = await CallAsync("alipay.user.agreement.query", AgreementKey(mandate), ct);
        if (SubCode(answer) is "USER_AGREEMENT_NOT_EXIST" or "ACQ.AGREEMENT_NOT_EXIST") return new MandateState(MandateStatus.Pending);
        Ensure(answer);
        var agreementNo = (string?)answer["agreement_no"];
        var user = (string?)answer["principal_id"] ?? (string?)answer["principal_open_id"];
        return (string?)answer["status"] switch
        {
            "NORMAL" => new MandateState(MandateStatus.Active, agreementNo, user, AlipaySignature.ParseTimestamp((string?)answer["sign_time"])),
            "STOP" => new MandateState(MandateStatus.Revoked, agreementNo, user, Reason: "provider"),
            _ => new MandateState(MandateStatus.Pending, agreementNo, user),
        };
    }

    /// <summary>alipay.user.agreement.unsign; an agreement Alipay never had (the learner never opened the page) is ended as not signed.</summary>
    public async Task<MandateState> TerminateMandateAsync(Mandate mandate, string reason, CancellationToken ct)
    {
        var answer = await CallAsync("alipay.user.agreement.unsign", AgreementKey(mandate), ct);
        var now = clock.GetUtcNow().UtcDateTime;
        if (SubCode(answer) is "USER_AGREEMENT_NOT_EXIST" or "ACQ.AGREEMENT_NOT_EXIST")
            return new MandateState(MandateStatus.Revoked, mandate.ProviderMandateId, At: now, Reason: "not_signed");
        Ensure(answer);
        return new MandateState(MandateStatus.Revoked, mandate.ProviderMandateId, At: now, Reason: reason);
    }

    /// <summary>Alipay has no pre-debit notice: the agreement's period rule is the learner's notice.</summary>
    public Task NotifyUpcomingChargeAsync(RecurringCharge charge, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// alipay.trade.pay with agreement_params.agreement_no and product_code CYCLE_PAY_AUTH (no scene, no auth_code);
    /// out_trade_no is the payment id, so a retry after a lost answer meets ACQ.TRADE_HAS_SUCCESS and reads the trade.
    /// A charge above the agreement's single_amount is refused here, before Alipay is called.
    /// </summary>
    public async Task<ProviderTradeState> ChargeAsync(RecurringCharge charge, CancellationToken ct)
    {
        var (payment, mandate) = (charge.Payment, charge.Mandate);
        // single_amount is in the agreement's currency: a deduction in another could not be held to it.
        if (!string.Equals(payment.Currency, mandate.Currency, StringComparison.OrdinalIgnoreCase))
            throw new ProviderException(Name, "currency_unsupported", "an Alipay deduction is in its agreement's currency");
        if (payment.Amount > mandate.MaxAmount)
            throw new ProviderException(Name, RecurringFailures.AmountExceedsMandate, $"{payment.Amount} is above the agreement's single_amount {mandate.MaxAmount}");
        if (mandate.ProviderMandateId is not { Length: > 0 } agreementNo)
            throw new ProviderException(Name, "mandate_not_active", "the agreement has no agreement_no: it was never signed");
        var biz = new JsonObject
        {
            ["out_trade_no"] = payment.Id,
            ["total_amount"] = ProviderAmounts.ToProviderDecimal(Name, new Money(payment.Amount, Cny)),
            ["subject"] = Truncate(charge.Subject, 256),
            ["product_code"] = DeductionProductCode,
            ["agreement_params"] = new JsonObject { ["agreement_no"] = agreementNo },
        };
        CrossBorder(biz, payment);
        var answer = await CallAsync("alipay.trade.pay", biz, ct, settings.NotifyUrl ?? charge.NotifyUrl);
        var tradeNo = (string?)answer["trade_no"];
        switch ((string?)answer["code"])
        {
            case "10000" when (string?)answer["is_async_pay"] == "true" || (string?)answer["async_payment_mode"] == "ASYNC_DELAY_PAY":
            case "10003":   // WAIT_BUYER_PAY: the result comes by notification or query
                return new ProviderTradeState(TradeStatus.Pending, tradeNo);
            case "10000":
                var currency = (string?)answer["trans_currency"] ?? "CNY";
                return new ProviderTradeState(TradeStatus.Paid, tradeNo, ProviderSettlement.MinorUnits((string?)answer["total_amount"], currency), currency,
                    AlipaySignature.ParseTimestamp((string?)answer["gmt_payment"])) { Settlement = Settlement(answer) };
            case "40004" when SubCode(answer) == "ACQ.TRADE_HAS_SUCCESS":
                return await QueryAsync(payment, ct);
            case "40004":
                return new ProviderTradeState(TradeStatus.Failed, tradeNo,
                    FailureCode: AgreementGone.Contains(SubCode(answer) ?? "") ? RecurringFailures.MandateRevoked : RecurringFailures.Declined);
            default:
                Ensure(answer);
                throw new ProviderException(Name, "response_unreadable", $"alipay.trade.pay answered code {(string?)answer["code"]}");
        }
    }

    /// <summary>What names the agreement at Alipay: agreement_no once known, else the product, scene and external_agreement_no.</summary>
    JsonObject AgreementKey(Mandate mandate)
    {
        var key = new JsonObject
        {
            ["personal_product_code"] = settings.Agreements.PersonalProductCode,
            ["sign_scene"] = settings.Agreements.SignScene,
            ["external_agreement_no"] = ExternalAgreementNo(mandate.Id),
        };
        if (mandate.ProviderMandateId is { Length: > 0 } agreementNo) key["agreement_no"] = agreementNo;
        return key;
    }

    /// <summary>mdt_01h… → mdt01h…: external_agreement_no allows only alphanumerics (at most 32).</summary>
    public static string ExternalAgreementNo(string mandateId) => mandateId.Replace("_", "", StringComparison.Ordinal);

    /// <summary>The mandate id an external_agreement_no stands for; null when it is not one of ours.</summary>
    public static string? MandateId(string? externalAgreementNo) =>
        externalAgreementNo is { Length: > 3 } no && no.StartsWith("mdt", StringComparison.Ordinal) && no.All(char.IsAsciiLetterOrDigit)
            ? "mdt_" + no[3..] : null;
}

/// <summary>
/// An agreement's period_rule_params from a subscription's interval: day → DAY n, week → DAY 7n, month → MONTH n,
/// year → MONTH 12n. execute_time is the first charge's date in China time; for MONTH, a day after the 28th becomes the
/// 28th (Alipay refuses later days), so a subscription anchored on the 29th–31st is deducted in the window before the 28th
/// of each month (<see cref="AlipayProvider.RenewalDates"/>).
/// </summary>
public sealed record AlipayPeriodRule(string PeriodType, int Period, DateOnly ExecuteDate)
{
    public static AlipayPeriodRule For(string interval, int count, DateTime firstChargeAtUtc)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "interval_count must be at least 1");
        var (type, period) = interval switch
        {
            "day" => ("DAY", count),
            "week" => ("DAY", checked(7 * count)),
            "month" => ("MONTH", count),
            "year" => ("MONTH", checked(12 * count)),
            _ => throw new ArgumentOutOfRangeException(nameof(interval), interval, "day, week, month or year"),
        };
        var local = DateOnly.FromDateTime(new DateTimeOffset(DateTime.SpecifyKind(firstChargeAtUtc, DateTimeKind.Utc))
            .ToOffset(ProviderProtocol.ChinaStandardTimeOffset).DateTime);
        if (type == "MONTH" && local.Day > AlipayProvider.LastMonthlyExecuteDay)
            local = new DateOnly(local.Year, local.Month, AlipayProvider.LastMonthlyExecuteDay);
        return new AlipayPeriodRule(type, period, local);
    }
}
