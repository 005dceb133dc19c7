using Microsoft.AspNetCore.Http.Extensions;

namespace KnowPay.Sandbox.WeChatPay;

/// <summary>One WeChat Pay trade as the simulator holds it (amounts in fen); lock it to read or change its state.</summary>
sealed record WeChatTrade(string TransactionId, string OutTradeNo, string CodeUrl, long Total, string Currency, string Description, string NotifyUrl)
{
    public string State { get; set; } = "NOTPAY";
    public DateTimeOffset CreatedAt { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? PaidAt { get; set; }
    public long Refunded { get; set; }
    public Dictionary<string, WeChatRefund> Refunds { get; } = new(StringComparer.Ordinal);
    /// <summary>NATIVE, JSAPI, MWEB (H5) or APP.</summary>
    public string TradeType { get; init; } = "NATIVE";
    /// <summary>JSAPI and APP: the prepay_id the merchant signs for the bridge or the SDK; H5: the one in h5_url.</summary>
    public string? PrepayId { get; init; }
    /// <summary>JSAPI: the payer the merchant named (payer.openid).</summary>
    public string? OpenId { get; init; }
    /// <summary>H5: scene_info.payer_client_ip.</summary>
    public string? PayerClientIp { get; init; }
    /// <summary>Made through the cross-border API: priced in a foreign currency, paid by the learner in CNY.</summary>
    public bool Global { get; init; }
}

/// <summary>One refund of a trade; settles (PROCESSING → SUCCESS) shortly after it is accepted.</summary>
sealed record WeChatRefund(string RefundId, string OutRefundNo, WeChatTrade Trade, long Amount, string? NotifyUrl)
{
    public string Status { get; set; } = "PROCESSING";
    public DateTimeOffset CreatedAt { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? SucceededAt { get; set; }
    /// <summary>What the learner gets back in the currency they paid (the amount itself for a CNY trade).</summary>
    public long PayerRefund { get; init; }
}

/// <summary>
/// WeChat Pay API v3's wire from the platform's side: the merchant's WECHATPAY2-SHA256-RSA2048 Authorization, answers
/// signed with the platform key (Wechatpay-* headers), AES-256-GCM encrypted notifications retried on WeChat's schedule,
/// and the transaction and refund resources.
/// </summary>
sealed class WeChatPayWire(SandboxOptions options)
{
    static readonly TimeSpan[] RetrySchedule =
    [
        TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(10),
        TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(60),
        TimeSpan.FromHours(3), TimeSpan.FromHours(3), TimeSpan.FromHours(3), TimeSpan.FromHours(6), TimeSpan.FromHours(6),
    ];

    public static readonly TimeSpan CstOffset = TimeSpan.FromHours(8);

    public JsonObject TransactionView(WeChatTrade t)
    {
        var o = new JsonObject
        {
            ["appid"] = options.WeChatAppId, ["mchid"] = options.WeChatMchId, ["out_trade_no"] = t.OutTradeNo, ["trade_type"] = t.TradeType,
            ["trade_state"] = t.State,
            ["trade_state_desc"] = t.State switch { "SUCCESS" => "支付成功", "NOTPAY" => "未支付", "ACCEPT" => "已接收，等待扣款", "PAY_FAIL" => "余额不足", "PAYERROR" => "支付失败(其他原因，如银行返回失败)", _ => t.State },
            ["amount"] = new JsonObject { ["total"] = t.Total, ["currency"] = t.Currency },
        };
        if (t.PaidAt is { } paid)
        {
            o["transaction_id"] = t.TransactionId;
            o["success_time"] = Rfc3339(paid);
            o["bank_type"] = "OTHERS";
            o["payer"] = new JsonObject { ["openid"] = t.OpenId ?? "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" };
            o["amount"] = new JsonObject { ["total"] = t.Total, ["payer_total"] = t.Total, ["currency"] = t.Currency, ["payer_currency"] = t.Currency };
            if (t.Global)
            {
                o.Remove("transaction_id");
                o["id"] = t.TransactionId;
                o["amount"] = new JsonObject
                {
                    ["total"] = t.Total, ["currency"] = t.Currency, ["payer_total"] = PayerTotal(t), ["payer_currency"] = "CNY",
                };
                o["exchange_rate"] = ExchangeRate(t);
            }
        }
        return o;
    }

    /// <summary>A cross-border trade's learner paid CNY at the sandbox's rate (plus its spread), fixed for the trade.</summary>
    static decimal PayerRate(WeChatTrade t) => SandboxFx.PayerRate(t.Currency, "CNY");

    static long PayerTotal(WeChatTrade t) => t.Global ? SandboxFx.Convert(t.Total, t.Currency, "CNY", PayerRate(t)) : t.Total;

    /// <summary>The rate as WeChat states it: the ratio × 10^8, an integer.</summary>
    static JsonObject ExchangeRate(WeChatTrade t) => new() { ["type"] = "SETTLEMENT_RATE", ["rate"] = (long)(PayerRate(t) * 100_000_000m) };

    /// <summary>
    /// What a refund gives the learner back in CNY at the payment's rate; the refund that completes the trade's refunds gives
    /// the rest of payer_total, so the parts add up to what was paid. Call with the trade locked, before the refund is added.
    /// </summary>
    public static long PayerRefund(WeChatTrade t, long amount) =>
        !t.Global ? amount
        : t.Refunded + amount == t.Total ? PayerTotal(t) - t.Refunds.Values.Sum(r => r.PayerRefund)
        : SandboxFx.Convert(amount, t.Currency, "CNY", PayerRate(t));

    /// <summary>
    /// A cross-border refund's amount: the refund in the price's currency, payer_refund in CNY, and the merchant's side,
    /// settled in the price's currency here; a notification states the totals too.
    /// </summary>
    public static JsonObject GlobalRefundAmount(WeChatRefund r, bool notification)
    {
        var a = new JsonObject
        {
            ["refund"] = r.Amount, ["currency"] = r.Trade.Currency, ["payer_refund"] = r.PayerRefund, ["payer_currency"] = "CNY",
        };
        if (notification) (a["total"], a["payer_total"]) = (r.Trade.Total, PayerTotal(r.Trade));
        else (a["settlement_refund"], a["settlement_currency"]) = (r.Amount, r.Trade.Currency);
        a["exchange_rate"] = ExchangeRate(r.Trade);
        return a;
    }

    /// <summary>
    /// POST /v3/global/refunds answers id, out_refund_no, create_time and the amount, no status yet (<paramref name="created"/>);
    /// the refund query adds the trade, the channel, the status and its time.
    /// </summary>
    public static JsonObject GlobalRefundView(WeChatRefund r, bool created)
    {
        var o = new JsonObject { ["id"] = r.RefundId, ["out_refund_no"] = r.OutRefundNo, ["create_time"] = Rfc3339(r.CreatedAt) };
        if (!created)
        {
            o["transaction_id"] = r.Trade.TransactionId;
            o["out_trade_no"] = r.Trade.OutTradeNo;
            o["channel"] = "ORIGINAL";
            o["recv_account"] = "支付用户零钱";
            o["status"] = r.Status;
            if (r.SucceededAt is { } s) o["success_time"] = Rfc3339(s);
        }
        o["amount"] = GlobalRefundAmount(r, notification: false);
        return o;
    }

    public static JsonObject RefundView(WeChatRefund r) => new()
    {
        ["refund_id"] = r.RefundId, ["out_refund_no"] = r.OutRefundNo, ["transaction_id"] = r.Trade.TransactionId, ["out_trade_no"] = r.Trade.OutTradeNo,
        ["channel"] = "ORIGINAL", ["user_received_account"] = "支付用户零钱", ["status"] = r.Status,
        ["create_time"] = Rfc3339(r.CreatedAt), ["success_time"] = r.SucceededAt is { } s ? Rfc3339(s) : null,
        ["amount"] = new JsonObject
        {
            ["total"] = r.Trade.Total, ["refund"] = r.Amount, ["payer_total"] = r.Trade.Total, ["payer_refund"] = r.Amount, ["currency"] = r.Trade.Currency,
        },
    };

    /// <summary>Encrypts the resource once (same id on every attempt) and signs each attempt afresh.</summary>
    public OutgoingNotification Notification(WeChatTrade t, string url, string eventType, string associatedData, JsonObject resource, string summary) =>
        Notification(t.OutTradeNo, url, eventType, associatedData, resource, summary);

    /// <summary>The same about something other than a trade (a papay contract): <paramref name="key"/> names it for faults and signing keys.</summary>
    public OutgoingNotification Notification(string key, string url, string eventType, string associatedData, JsonObject resource, string summary)
    {
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var plain = Encoding.UTF8.GetBytes(resource.ToJsonString());
        var cipher = new byte[plain.Length + 16];
        using (var aes = new AesGcm(Encoding.UTF8.GetBytes(options.WeChatApiV3Key), 16))
            aes.Encrypt(Encoding.UTF8.GetBytes(nonce), plain, cipher.AsSpan(0, plain.Length), cipher.AsSpan(plain.Length), Encoding.UTF8.GetBytes(associatedData));
        var body = new JsonObject
        {
            ["id"] = Guid.NewGuid().ToString(), ["create_time"] = Rfc3339(DateTimeOffset.UtcNow), ["resource_type"] = "encrypt-resource",
            ["event_type"] = eventType, ["summary"] = summary,
            ["resource"] = new JsonObject
            {
                ["original_type"] = associatedData, ["algorithm"] = "AEAD_AES_256_GCM", ["ciphertext"] = Convert.ToBase64String(cipher),
                ["associated_data"] = associatedData, ["nonce"] = nonce,
            },
        }.ToJsonString();
        return new OutgoingNotification("wechatpay", key, url,
            () => SandboxNotifier.Post(url, body, "application/json", SignatureHeaders(body, tradeKey: key)),
            (response, _) => (int)response.StatusCode is 200 or 204, RetrySchedule);
    }

    /// <summary>
    /// Wechatpay-Timestamp/-Nonce/-Signature/-Serial over "TIMESTAMP\nNONCE\nBODY\n": with the key <see cref="SignWith"/> chose
    /// for the trade, else the one the merchant's Wechatpay-Serial named, else the default platform key; the serial names it.
    /// </summary>
    public IEnumerable<KeyValuePair<string, string>> SignatureHeaders(string body, bool broken = false, string? tradeKey = null, string? requestedSerial = null)
    {
        var (serial, key) = tradeKey is not null && signingKeys.TryGetValue(tradeKey, out var chosen) ? chosen
            : requestedSerial is not null && PlatformKey(requestedSerial) is { } named ? (requestedSerial, named)
            : (options.WeChatPlatformSerialNo, options.WeChatPlatformPrivateKeyPem);
        var ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var signature = SandboxRsa.Sign($"{ts}\n{nonce}\n{body}\n", key);
        if (broken) signature = (signature[0] == 'A' ? "B" : "A") + signature[1..];
        return
        [
            new("Wechatpay-Timestamp", ts), new("Wechatpay-Nonce", nonce), new("Wechatpay-Signature", signature),
            new("Wechatpay-Serial", serial), new("Request-ID", Guid.NewGuid().ToString()),
        ];
    }

    /// <summary>The private key of one of the platform's serials (the default, or one of <see cref="SandboxOptions.WeChatPlatformKeys"/>); null = unknown.</summary>
    public string? PlatformKey(string serial) =>
        serial == options.WeChatPlatformSerialNo ? options.WeChatPlatformPrivateKeyPem : options.WeChatPlatformKeys.GetValueOrDefault(serial);

    /// <summary>Test hook: answers and notifications about this trade ("" = about no trade) are signed with this key and serial; null serial restores the default.</summary>
    public void SignWith(string tradeKey, string? serial, string? privateKeyPem = null)
    {
        if (serial is null) signingKeys.TryRemove(tradeKey, out _);
        else signingKeys[tradeKey] = (serial, privateKeyPem ?? PlatformKey(serial) ?? throw new ArgumentException($"unknown platform serial {serial}"));
    }

    readonly ConcurrentDictionary<string, (string Serial, string PrivateKeyPem)> signingKeys = new(StringComparer.Ordinal);

    public async Task<(JsonObject? Body, IResult? Refusal)> VerifyAsync(HttpContext http)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        // WeChat Pay refuses a request without either header before it looks at the signature.
        if (string.IsNullOrWhiteSpace(http.Request.Headers.UserAgent) || string.IsNullOrWhiteSpace(http.Request.Headers.Accept))
            return (null, Error(400, "INVALID_REQUEST", "Http头缺少Accept或User-Agent"));
        if (http.Request.Headers["Wechatpay-Serial"].ToString() is { Length: > 0 } serial && PlatformKey(serial) is null)
            return (null, Error(400, "PARAM_ERROR", "平台证书序列号Wechatpay-Serial错误"));
        var auth = http.Request.Headers.Authorization.ToString();
        const string scheme = "WECHATPAY2-SHA256-RSA2048 ";
        if (!auth.StartsWith(scheme, StringComparison.Ordinal)) return (null, Error(401, "SIGN_ERROR", "Authorization 认证类型不正确"));
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in auth[scheme.Length..].Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length == 2) fields[kv[0].Trim()] = kv[1].Trim().Trim('"');
        }
        if (fields.GetValueOrDefault("mchid") != options.WeChatMchId) return (null, Error(401, "SIGN_ERROR", "商户号与签名不匹配"));
        if (fields.GetValueOrDefault("serial_no") != options.WeChatMerchantSerialNo) return (null, Error(401, "SIGN_ERROR", "商户证书序列号有误"));
        if (!long.TryParse(fields.GetValueOrDefault("timestamp"), NumberStyles.None, CultureInfo.InvariantCulture, out var ts)
            || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - ts) > 300)
            return (null, Error(401, "SIGN_ERROR", "timestamp 已过期或不合法"));
        var message = $"{http.Request.Method}\n{http.Request.GetEncodedPathAndQuery()}\n{fields.GetValueOrDefault("timestamp")}\n{fields.GetValueOrDefault("nonce_str")}\n{body}\n";
        if (string.IsNullOrEmpty(fields.GetValueOrDefault("nonce_str")) || !SandboxRsa.Verify(message, fields.GetValueOrDefault("signature"), options.WeChatMerchantPublicKeyPem))
            return (null, Error(401, "SIGN_ERROR", "签名错误"));
        if (body.Length == 0) return (null, null);
        try { return (JsonNode.Parse(body) as JsonObject, null); }
        catch (JsonException) { return (null, Error(400, "PARAM_ERROR", "请求体不是合法的 JSON")); }
    }

    /// <summary>An answer signed as it is sent, with the key chosen for <paramref name="tradeKey"/> or named by the request.</summary>
    public IResult Signed(int status, JsonObject? value, bool broken = false, string? tradeKey = null)
    {
        var body = value?.ToJsonString(Relaxed) ?? "";
        return new SignedResult(status, body, http => SignatureHeaders(body, broken, tradeKey, RequestedSerial(http)).ToList());
    }

    public IResult Error(int status, string code, string message, bool sign = false)
    {
        var body = new JsonObject { ["code"] = code, ["message"] = message }.ToJsonString(Relaxed);
        return new SignedResult(status, body, http => sign ? SignatureHeaders(body, requestedSerial: RequestedSerial(http)).ToList() : []);
    }

    static string? RequestedSerial(HttpContext http) => http.Request.Headers["Wechatpay-Serial"].ToString() is { Length: > 0 } s ? s : null;

    /// <summary>WeChat Pay's answer to a call the fault settings fail.</summary>
    public IResult Unavailable() => Error(500, "SYSTEM_ERROR", "系统错误");

    static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Rfc3339(DateTimeOffset t) => t.ToOffset(CstOffset).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    sealed class SignedResult(int status, string body, Func<HttpContext, IReadOnlyList<KeyValuePair<string, string>>> headers) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = status;
            foreach (var (k, v) in headers(http)) http.Response.Headers[k] = v;
            if (body.Length == 0) return Task.CompletedTask;
            http.Response.ContentType = "application/json; charset=utf-8";
            return http.Response.WriteAsync(body);
        }
    }
}
