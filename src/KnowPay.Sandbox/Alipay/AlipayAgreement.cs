namespace KnowPay.Sandbox.Alipay;

/// <summary>One deduction agreement as the simulator holds it: TEMP until the buyer signs, NORMAL, STOP for good. Lock it to change it.</summary>
sealed class AlipayAgreement(AgreementRequest request, string? notifyUrl, DateTimeOffset createdAt)
{
    public AgreementRequest Request { get; } = request;
    public string ExternalAgreementNo => Request.ExternalAgreementNo;
    /// <summary>sign_notify_url in biz_content, else the request's notify_url: where dut_user_sign / dut_user_unsign go.</summary>
    public string? NotifyUrl { get; } = notifyUrl;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public string? ReturnUrl { get; set; }
    public string Status { get; set; } = "TEMP";
    public string? AgreementNo { get; set; }
    public string? AlipayUserId { get; set; }
    public DateTimeOffset? SignedAt { get; set; }
    public DateTimeOffset? UnsignedAt { get; set; }
    /// <summary>user (the buyer at Alipay) or merchant (alipay.user.agreement.unsign).</summary>
    public string? UnsignedBy { get; set; }
    /// <summary>Deductions still to decline for want of balance; −1 declines all.</summary>
    public int DeclinesLeft { get; set; }
    public int Deductions { get; set; }
}

/// <summary>
/// alipay.user.agreement.page.sign's biz_content as the real gateway checks it: personal_product_code, sign_scene (not
/// DEFAULT|DEFAULT when external_agreement_no is sent), external_agreement_no (at most 32 alphanumerics),
/// access_params.channel, and for a periodic product period_rule_params (DAY|MONTH, period ≥ 1, execute_time
/// yyyy-MM-dd with a day ≤ 28 for MONTH, single_amount in yuan).
/// </summary>
sealed record AgreementRequest(string ExternalAgreementNo, string PersonalProductCode, string? ProductCode, string SignScene, string Channel,
    string PeriodType, int Period, DateOnly ExecuteDate, long SingleFen)
{
    static readonly string[] Channels = ["ALIPAYAPP", "QRCODE", "QRCODEORSMS"];

    public static AgreementRequest? Read(JsonObject biz) => Error(biz) is null ? Parse(biz) : null;

    /// <summary>The gateway's refusal (isv.invalid-parameter / isv.missing-parameter and the offending field), or null.</summary>
    public static string? Error(JsonObject biz)
    {
        var external = (string?)biz["external_agreement_no"];
        var scene = (string?)biz["sign_scene"];
        var rule = biz["period_rule_params"] as JsonObject;
        if (string.IsNullOrEmpty((string?)biz["personal_product_code"])) return "isv.missing-parameter: personal_product_code";
        if (string.IsNullOrEmpty(external)) return "isv.missing-parameter: external_agreement_no";
        if (external.Length > 32 || !external.All(char.IsAsciiLetterOrDigit)) return "isv.invalid-parameter: external_agreement_no 只能为32位以内的字母或数字";
        if (string.IsNullOrEmpty(scene) || scene == "DEFAULT|DEFAULT") return "isv.invalid-parameter: 传入external_agreement_no时sign_scene不能为空或DEFAULT|DEFAULT";
        if (!Channels.Contains((string?)biz["access_params"]?["channel"])) return "isv.invalid-parameter: access_params.channel";
        if (rule is null) return "isv.missing-parameter: period_rule_params";
        var type = (string?)rule["period_type"];
        if (type is not ("DAY" or "MONTH")) return "isv.invalid-parameter: period_rule_params.period_type 只能为DAY或MONTH";
        if (!TryPeriod(rule["period"], out _)) return "isv.invalid-parameter: period_rule_params.period";
        if (!DateOnly.TryParseExact((string?)rule["execute_time"], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var execute))
            return "isv.invalid-parameter: period_rule_params.execute_time 格式为yyyy-MM-dd";
        if (type == "MONTH" && execute.Day > 28) return "isv.invalid-parameter: period_type为MONTH时execute_time不允许传28日之后的日期";
        if (!SandboxRsa.TryFen((string?)rule["single_amount"], out _)) return "isv.invalid-parameter: period_rule_params.single_amount";
        return null;
    }

    static AgreementRequest Parse(JsonObject biz)
    {
        var rule = biz["period_rule_params"]!.AsObject();
        TryPeriod(rule["period"], out var period);
        SandboxRsa.TryFen((string?)rule["single_amount"], out var fen);
        return new AgreementRequest((string)biz["external_agreement_no"]!, (string)biz["personal_product_code"]!, (string?)biz["product_code"],
            (string)biz["sign_scene"]!, (string)biz["access_params"]!["channel"]!, (string)rule["period_type"]!, period,
            DateOnly.ParseExact((string)rule["execute_time"]!, "yyyy-MM-dd", CultureInfo.InvariantCulture), fen);
    }

    /// <summary>A whole number ≥ 1, as a JSON number or a numeric string (the SDKs send either).</summary>
    static bool TryPeriod(JsonNode? node, out int period)
    {
        period = 0;
        var text = node is JsonValue v && v.TryGetValue<int>(out var n) ? n.ToString(CultureInfo.InvariantCulture) : node is JsonValue s && s.TryGetValue<string>(out var t) ? t : null;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out period) && period >= 1;
    }
}
