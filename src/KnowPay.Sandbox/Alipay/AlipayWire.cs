
namespace KnowPay.Sandbox.Alipay;

/// <summary>One Alipay trade as the simulator holds it (amounts in fen); lock it to read or change its state.</summary>
sealed record AlipayTrade(string TradeNo, string OutTradeNo, long TotalFen, string Subject, string? NotifyUrl, DateTimeOffset CreatedAt)
{
    public string? ReturnUrl { get; set; }
    /// <summary>WAP: where the learner goes when they give up (biz_content.quit_url).</summary>
    public string? QuitUrl { get; set; }
    public string Status { get; set; } = "WAIT_BUYER_PAY";
    public DateTimeOffset? PaidAt { get; set; }
    public long RefundedFen { get; set; }
    /// <summary>By out_request_no: the fen refunded and when.</summary>
    public Dictionary<string, (long Fen, DateTimeOffset At)> Refunds { get; } = new(StringComparer.Ordinal);
    /// <summary>The price's currency (TotalFen is in its minor units): CNY, or alipay.trade.pay's trans_currency.</summary>
    public string TransCurrency { get; init; } = "CNY";
    /// <summary>What the merchant's account is credited in: the account's currency, or alipay.trade.pay's settle_currency.</summary>
    public string SettleCurrency { get; init; } = "CNY";
    public bool CrossBorder => TransCurrency != "CNY" || SettleCurrency != "CNY";
}

/// <summary>
/// Alipay's wire: answers <c>{"&lt;method&gt;_response":{…},"sign":"…"}</c> signed over the exact inner text, its result
/// codes, and notifications form-encoded and signed (sign and sign_type excluded), retried on Alipay's schedule.
/// </summary>
sealed class AlipayWire(SandboxOptions options)
{
    public static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), TimeSpan.FromHours(2),
        TimeSpan.FromHours(6), TimeSpan.FromHours(15),
    ];

    public static JsonObject Ok(JsonObject o)
    {
        var r = new JsonObject { ["code"] = "10000", ["msg"] = "Success" };
        foreach (var (k, v) in o.ToList())
        {
            o.Remove(k);
            r[k] = v;
        }
        return r;
    }

    public static JsonObject Failure(string subCode, string subMsg) =>
        new() { ["code"] = "40004", ["msg"] = "Business Failed", ["sub_code"] = subCode, ["sub_msg"] = subMsg };

    public static JsonObject Invalid(string subMsg) =>
        new() { ["code"] = "40002", ["msg"] = "Invalid Arguments", ["sub_code"] = "isv.invalid-parameter", ["sub_msg"] = subMsg };

    public IResult ErrorResponse(string subCode, string subMsg) =>
        Signed("error_response", new JsonObject { ["code"] = "40002", ["msg"] = "Invalid Arguments", ["sub_code"] = subCode, ["sub_msg"] = subMsg }, false);

    /// <summary>The body is built as text so the signature covers exactly the bytes of the inner object.</summary>
    public IResult Signed(string key, JsonObject inner, bool breakSignature)
    {
        var raw = inner.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var sign = SandboxRsa.Sign(raw, options.AlipayPrivateKeyPem);
        if (breakSignature) sign = (sign[0] == 'A' ? "B" : "A") + sign[1..];
        return Results.Text($"{{\"{key}\":{raw},\"sign\":\"{sign}\"}}", "application/json; charset=utf-8");
    }

    public Dictionary<string, string> TradeFields(AlipayTrade t) => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["notify_type"] = "trade_status_sync",
        ["notify_id"] = "2024" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(14)),
        ["app_id"] = options.AlipayAppId,
        ["charset"] = "utf-8",
        ["version"] = "1.0",
        ["sign_type"] = "RSA2",
        ["trade_no"] = t.TradeNo,
        ["out_trade_no"] = t.OutTradeNo,
        ["trade_status"] = t.Status,
        ["total_amount"] = SandboxFx.Major(t.TotalFen, t.TransCurrency),
        ["receipt_amount"] = SandboxRsa.Yuan(t.TotalFen),
        ["buyer_pay_amount"] = SandboxRsa.Yuan(t.TotalFen),
        ["gmt_create"] = SandboxRsa.Beijing(t.CreatedAt),
        ["gmt_payment"] = t.PaidAt is { } paid ? SandboxRsa.Beijing(paid) : "",
        ["seller_id"] = options.AlipaySellerId,
        ["buyer_id"] = "2088102177846880",
        ["subject"] = t.Subject,
    }.Concat(CrossBorderFields(t)).ToDictionary(StringComparer.Ordinal);

    /// <summary>
    /// A paid cross-border trade's conversion (alipay.trade.query's fields, also sent in the notification): settle_amount in
    /// settle_currency at settle_trans_rate, and what the learner paid in CNY at trans_pay_rate, quoted from <see cref="SandboxFx"/>.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> CrossBorderFields(AlipayTrade t)
    {
        if (!t.CrossBorder || t.PaidAt is null) yield break;
        var settleRate = SandboxFx.SettlementRate(t.TransCurrency, t.SettleCurrency);
        var payRate = SandboxFx.PayerRate(t.TransCurrency, "CNY");
        yield return new("trans_currency", t.TransCurrency);
        yield return new("settle_currency", t.SettleCurrency);
        yield return new("settle_amount", SandboxFx.Major(SandboxFx.Convert(t.TotalFen, t.TransCurrency, t.SettleCurrency, settleRate), t.SettleCurrency));
        yield return new("settle_trans_rate", settleRate.ToString(CultureInfo.InvariantCulture));
        yield return new("pay_currency", "CNY");
        yield return new("pay_amount", SandboxFx.Major(SandboxFx.Convert(t.TotalFen, t.TransCurrency, "CNY", payRate), "CNY"));
        yield return new("trans_pay_rate", payRate.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Signs Alipay's way (sign and sign_type excluded), re-signed with a fresh notify_time on every attempt; same notify_id.</summary>
    public OutgoingNotification Notification(AlipayTrade t, Dictionary<string, string> fields) => Notification(t.OutTradeNo, t.NotifyUrl!, fields);

    /// <summary>Any notification about <paramref name="key"/> (a trade's out_trade_no, an agreement's external_agreement_no) to <paramref name="url"/>.</summary>
    public OutgoingNotification Notification(string key, string url, Dictionary<string, string> fields) =>
        new("alipay", key, url, () =>
        {
            var f = new Dictionary<string, string>(fields, StringComparer.Ordinal) { ["notify_time"] = SandboxRsa.Beijing(DateTimeOffset.UtcNow) };
            f["sign"] = SandboxRsa.Sign(SandboxRsa.AlipayContent(f, withoutSignType: true), options.AlipayPrivateKeyPem);
            var body = string.Join("&", f.Where(kv => kv.Value.Length > 0).Select(kv => kv.Key + "=" + Uri.EscapeDataString(kv.Value)));
            return SandboxNotifier.Post(url, body, "application/x-www-form-urlencoded; charset=utf-8");
        }, (response, body) => response.IsSuccessStatusCode && body == "success", RetrySchedule);
}
