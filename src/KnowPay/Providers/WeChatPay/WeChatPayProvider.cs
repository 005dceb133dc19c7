using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.WeChatPay;

/// <summary><c>Providers:WeChatPay:*</c>, keys normalised to PEM. NotifyUrl null = KnowPay's own /v1/notify/wechatpay.</summary>
public sealed record WeChatPaySettings(string MchId, string AppId, string ApiBaseUrl, string MerchantSerialNo, string PrivateKeyPem,
    string PlatformPublicKeyPem, string PlatformSerialNo, string ApiV3Key, string? NotifyUrl, ProviderFee Fee)
{
    /// <summary>More platform public keys (PEM) by serial, accepted beside <see cref="PlatformSerialNo"/>.</summary>
    public IReadOnlyDictionary<string, string> MorePlatformKeys { get; init; } = new Dictionary<string, string>();
    /// <summary>The official account's AppSecret for the checkout's OAuth (snsapi_base); null = the checkout does not ask WeChat for the openid.</summary>
    public string? AppSecret { get; init; }
    public string OAuthBaseUrl { get; init; } = WeChatPayProvider.DefaultOAuthBaseUrl;
    public string OAuthApiBaseUrl { get; init; } = WeChatPayProvider.DefaultOAuthApiBaseUrl;
    /// <summary>The papay (委托代扣) template the merchant registered; null = no contracts can be signed.</summary>
    public string? PapayPlanId { get; init; }
    /// <summary>The cross-border (global) API's host: payments priced in another currency than CNY go there.</summary>
    public string GlobalApiBaseUrl { get; init; } = WeChatPayProvider.DefaultGlobalApiBaseUrl;

    /// <summary>The public key of the serial an answer or notification names; null = a serial we do not hold, refused.</summary>
    public string? PlatformKey(string serial) =>
        serial == PlatformSerialNo ? PlatformPublicKeyPem : MorePlatformKeys.GetValueOrDefault(serial);
}

/// <summary>
/// WeChat Pay API v3 adapter: Native, JSAPI, H5 and app pay, query, close, refunds; a price in another currency than CNY goes
/// to the cross-border (global) API on its own host, every call about that trade too. Requests carry the
/// WECHATPAY2-SHA256-RSA2048 Authorization and name the platform key KnowPay verifies with (Wechatpay-Serial); every
/// answer's Wechatpay-Signature is verified with the key its Wechatpay-Serial names (unknown refused, ±5 min)
/// before it is read. All calls are idempotent at WeChat Pay (same out_trade_no with the same parameters returns the
/// same code_url; out_refund_no is the refund's idempotency key), so the resilient client may retry them.
/// </summary>
public sealed partial class WeChatPayProvider(HttpClient http, WeChatPaySettings settings, TimeProvider clock) : IPaymentProvider
{
    public const string HttpClientName = "provider-wechatpay";
    public const string DefaultApiBaseUrl = "https://api.mch.weixin.qq.com";
    public const string DefaultGlobalApiBaseUrl = "https://apihk.mch.weixin.qq.com";
    public const string DefaultOAuthBaseUrl = "https://open.weixin.qq.com";
    public const string DefaultOAuthApiBaseUrl = "https://api.weixin.qq.com";
    const string SandboxMchId = "1900000109";
    const string SandboxAppId = "wxd678efh567hg6787";
    const string NotifyPath = "/v1/notify/wechatpay";

    public string Name => "wechatpay";

    /// <summary>An amount of the payment's currency in WeChat Pay's integer units.</summary>
    long Total(Payment payment, long amount) => ProviderAmounts.ToProviderUnits(Name, new Money(amount, Currency.Of(payment.Currency)));
    public IReadOnlyCollection<string> Methods { get; } =
        [PaymentMethods.Qr, PaymentMethods.Jsapi, PaymentMethods.MiniProgram, PaymentMethods.H5, PaymentMethods.App];
    public ProviderFee Fee => settings.Fee;

    public async Task<PaymentStarted> StartAsync(PaymentStart request, CancellationToken ct)
    {
        var payment = request.Payment;
        if (payment.Method != PaymentMethods.Qr) return await StartOnPhoneAsync(request, ct);
        var (prefix, baseUrl) = TradeApi(payment);
        var body = OrderBody(request);
        if (IsGlobal(payment)) body["trade_type"] = "NATIVE";
        var (_, answer) = await SendAsync(HttpMethod.Post, prefix + "/native", body, ct, baseUrl: baseUrl);
        return new PaymentStarted(null, QrCode: (string?)answer?["code_url"]
            ?? throw new ProviderException(Name, "response_unreadable", "no code_url in the answer"));
    }

    /// <summary>
    /// What every order placement carries. A price in another currency than CNY (domestic merchant ids take CNY only) goes to
    /// the cross-border API on its own host with the amount in the price's currency and a trade_type; the learner pays in
    /// CNY and the query and notification state payer_total, payer_currency and the exchange rate.
    /// </summary>
    JsonObject OrderBody(PaymentStart request) => new()
    {
        ["appid"] = settings.AppId,
        ["mchid"] = settings.MchId,
        ["description"] = request.Subject.Length <= 127 ? request.Subject : request.Subject[..127],
        ["out_trade_no"] = request.Payment.Id,
        ["notify_url"] = settings.NotifyUrl ?? request.NotifyUrl,
        ["amount"] = new JsonObject { ["total"] = Total(request.Payment, request.Payment.Amount), ["currency"] = request.Payment.Currency.ToUpperInvariant() },
    };

    /// <summary>
    /// jsapi and mini_program: …/jsapi with payer.openid → prepay_id → the bridge's parameters, signed
    /// "appId\ntimeStamp\nnonceStr\npackage\n"; app: …/app → the app SDK's parameters, signed
    /// "appid\ntimestamp\nnoncestr\nprepayid\n"; h5: …/h5 (the global API's …/mweb) with scene_info.payer_client_ip → h5_url,
    /// with the return page appended as redirect_url (reached whether or not the learner paid). The global API takes the same
    /// bodies plus trade_type JSAPI, APP or MWEB, and its prepay_id is signed for the client the same way.
    /// </summary>
    async Task<PaymentStarted> StartOnPhoneAsync(PaymentStart request, CancellationToken ct)
    {
        var payment = request.Payment;
        var body = OrderBody(request);
        var tradeType = payment.Method switch
        {
            PaymentMethods.Jsapi or PaymentMethods.MiniProgram => "jsapi",
            PaymentMethods.H5 => "h5",
            PaymentMethods.App => "app",
            _ => throw new ProviderException(Name, "method_unsupported", $"no WeChat Pay trade type for '{payment.Method}'"),
        };
        if (tradeType == "jsapi") body["payer"] = new JsonObject { ["openid"] = request.Payer?.OpenId };
        if (tradeType == "h5")
            body["scene_info"] = new JsonObject { ["payer_client_ip"] = request.Payer?.Ip, ["h5_info"] = new JsonObject { ["type"] = "Wap" } };
        var (prefix, baseUrl) = TradeApi(payment);
        var global = IsGlobal(payment);
        if (global) body["trade_type"] = tradeType == "h5" ? "MWEB" : tradeType.ToUpperInvariant();
        var (_, answer) = await SendAsync(HttpMethod.Post, $"{prefix}/{(global && tradeType == "h5" ? "mweb" : tradeType)}", body, ct, baseUrl: baseUrl);
        if (tradeType == "h5")
        {
            var h5Url = (string?)answer?["h5_url"] ?? throw new ProviderException(Name, "response_unreadable", "no h5_url in the answer");
            return new PaymentStarted(null, RedirectUrl: request.ReturnUrl is null ? h5Url
                : h5Url + (h5Url.Contains('?') ? "&" : "?") + "redirect_url=" + Uri.EscapeDataString(request.ReturnUrl));
        }
        var prepayId = (string?)answer?["prepay_id"] ?? throw new ProviderException(Name, "response_unreadable", "no prepay_id in the answer");
        var timeStamp = clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var nonce = WeChatPaySignature.Nonce();
        if (tradeType == "app")
            return new PaymentStarted(null, SignedParameters: new Features.Payments.WeChatAppNextAction(settings.AppId, settings.MchId, prepayId,
                "Sign=WXPay", nonce, timeStamp, WeChatPaySignature.Sign(WeChatPaySignature.Message(settings.AppId, timeStamp, nonce, prepayId), settings.PrivateKeyPem)));
        var package = "prepay_id=" + prepayId;
        return new PaymentStarted(null, SignedParameters: new Features.Payments.WeChatJsapiNextAction(settings.AppId, timeStamp, nonce, package,
            "RSA", WeChatPaySignature.Sign(WeChatPaySignature.Message(settings.AppId, timeStamp, nonce, package), settings.PrivateKeyPem)));
    }

    static bool IsGlobal(Payment payment) => !string.Equals(payment.Currency, "CNY", StringComparison.OrdinalIgnoreCase);

    /// <summary>The API a payment's trade lives in: /v3/pay on the domestic host, /v3/global on the cross-border one.</summary>
    (string Prefix, string BaseUrl) TradeApi(Payment payment) =>
        IsGlobal(payment) ? ("/v3/global/transactions", settings.GlobalApiBaseUrl) : ("/v3/pay/transactions", settings.ApiBaseUrl);

    public async Task<ProviderTradeState> QueryAsync(Payment payment, CancellationToken ct)
    {
        var (prefix, baseUrl) = TradeApi(payment);
        var (status, answer) = await SendAsync(HttpMethod.Get,
            $"{prefix}/out-trade-no/{Uri.EscapeDataString(payment.Id)}?mchid={Uri.EscapeDataString(settings.MchId)}", null, ct,
            tolerate: "ORDER_NOT_EXIST", baseUrl: baseUrl);
        if (status == HttpStatusCode.NotFound || answer is null) return new ProviderTradeState(TradeStatus.NotFound);
        if ((string?)answer["mchid"] != settings.MchId || (string?)answer["appid"] != settings.AppId)
            throw new ProviderException(Name, "merchant_mismatch", "the answer is for another mchid/appid");
        return State(answer);
    }

    public async Task<ProviderTradeState> CloseAsync(Payment payment, CancellationToken ct)
    {
        var (prefix, baseUrl) = TradeApi(payment);
        var (status, answer) = await SendAsync(HttpMethod.Post, $"{prefix}/out-trade-no/{Uri.EscapeDataString(payment.Id)}/close",
            new JsonObject { ["mchid"] = settings.MchId }, ct, tolerate: "ORDERPAID", baseUrl: baseUrl);
        if (status == HttpStatusCode.NoContent) return new ProviderTradeState(TradeStatus.Closed);
        // ORDERPAID: the buyer won the race.
        return (string?)answer?["code"] == "ORDERPAID" ? await QueryAsync(payment, ct) : new ProviderTradeState(TradeStatus.Closed);
    }

    /// <summary>
    /// Domestic: POST /v3/refund/domestic/refunds. Cross-border: POST /v3/global/refunds on the global host, naming mchid and
    /// appid, the amount in the price's currency (WeChat refuses another); its answer has no status yet (accepted = pending)
    /// and states payer_refund in payer_currency and the merchant's settlement_refund, reported as the refund's settlement.
    /// </summary>
    public async Task<ProviderRefundResult> RefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var global = IsGlobal(request.Payment);
        var body = new JsonObject
        {
            ["out_trade_no"] = request.Payment.Id,
            ["out_refund_no"] = request.RefundId,
            ["notify_url"] = settings.NotifyUrl,
            ["amount"] = new JsonObject
            {
                ["refund"] = Total(request.Payment, request.Amount), ["total"] = Total(request.Payment, request.Payment.Amount), ["currency"] = request.Payment.Currency.ToUpperInvariant(),
            },
        };
        if (global) (body["mchid"], body["appid"]) = (settings.MchId, settings.AppId);
        if (!string.IsNullOrEmpty(request.Reason)) body["reason"] = request.Reason.Length <= 80 ? request.Reason : request.Reason[..80];
        if (body["notify_url"] is null) body.Remove("notify_url");
        try
        {
            var (_, answer) = global
                ? await SendAsync(HttpMethod.Post, "/v3/global/refunds", body, ct, baseUrl: settings.GlobalApiBaseUrl)
                : await SendAsync(HttpMethod.Post, "/v3/refund/domestic/refunds", body, ct);
            return RefundState(answer, accepted: global);
        }
        catch (ProviderException e) when (!e.MaybeApplied && e.Code is "INVALID_REQUEST" or "NOT_ENOUGH" or "PARAM_ERROR" or "RESOURCE_NOT_EXISTS")
        {
            return new ProviderRefundResult(RefundStatus.Failed, FailureReason: e.Code);
        }
    }

    public async Task<ProviderRefundResult> QueryRefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var refundNo = Uri.EscapeDataString(request.RefundId);
        var (status, answer) = IsGlobal(request.Payment)
            ? await SendAsync(HttpMethod.Get, $"/v3/global/refunds/out-refund-no/{refundNo}?mchid={Uri.EscapeDataString(settings.MchId)}", null, ct,
                tolerate: "RESOURCE_NOT_EXISTS", baseUrl: settings.GlobalApiBaseUrl)
            : await SendAsync(HttpMethod.Get, $"/v3/refund/domestic/refunds/{refundNo}", null, ct, tolerate: "RESOURCE_NOT_EXISTS");
        return status == HttpStatusCode.NotFound
            ? new ProviderRefundResult(RefundStatus.Failed, FailureReason: "refund_not_found")
            : RefundState(answer);
    }

    /// <summary>
    /// The day's trade bill, for reconciliation: GET /v3/bill/tradebill (a signed answer naming download_url, hash_type and
    /// hash_value), then a signed GET of download_url whose answer is the file itself, unsigned, so its SHA1 is checked
    /// against the signed hash_value instead. Returns WeChat's CSV: a header row, rows whose fields each start with a
    /// backtick, then the totals header and row. <paramref name="billType"/> is ALL, SUCCESS or REFUND.
    /// </summary>
    public Task<string> TradeBillAsync(DateOnly billDate, string billType, CancellationToken ct) =>
        BillAsync($"/v3/bill/tradebill?bill_date={billDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}&bill_type={Uri.EscapeDataString(billType)}", ct);

    /// <summary>
    /// The day's fund-flow bill of an account (BASIC, OPERATION or FEES): GET /v3/bill/fundflowbill, then its file, checked
    /// against the signed SHA1 as <see cref="TradeBillAsync"/> checks the trade bill.
    /// </summary>
    public Task<string> FundFlowBillAsync(DateOnly billDate, string accountType, CancellationToken ct) =>
        BillAsync($"/v3/bill/fundflowbill?bill_date={billDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}&account_type={Uri.EscapeDataString(accountType)}", ct);

    async Task<string> BillAsync(string pathAndQuery, CancellationToken ct)
    {
        var (_, answer) = await SendAsync(HttpMethod.Get, pathAndQuery, null, ct);
        if (answer is null || !Uri.TryCreate((string?)answer["download_url"], UriKind.Absolute, out var uri))
            throw new ProviderException(Name, "response_unreadable", "no download_url in the answer");
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.TryAddWithoutValidation("Wechatpay-Serial", settings.PlatformSerialNo);
        request.Headers.TryAddWithoutValidation("Authorization", WeChatPaySignature.Authorization(settings.MchId, settings.MerchantSerialNo,
            settings.PrivateKeyPem, "GET", uri.PathAndQuery, "", clock.GetUtcNow().ToUnixTimeSeconds(), WeChatPaySignature.Nonce()));
        using var response = await ProviderHttp.SendAsync(http, request, Name, false, ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (!response.IsSuccessStatusCode)
            throw new ProviderException(Name, ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), "the bill download was refused");
        // The file is not signed; its digest in the signed answer is what vouches for it.
        var digest = (string?)answer["hash_type"] == "SHA1" ? Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(bytes)) : null;
        if (digest is null || !string.Equals(digest, (string?)answer["hash_value"], StringComparison.OrdinalIgnoreCase))
            throw new ProviderException(Name, "bill_hash_mismatch", "the downloaded bill does not match the signed hash_value");
        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return await reader.ReadToEndAsync(ct);
    }

    /// <summary>
    /// Maps a refund object (an API answer or a decrypted REFUND.* resource) to the common refund result. The cross-border
    /// refund's id is "id" (the notification's refund_id), and its creation answer carries no status: <paramref name="accepted"/>
    /// reads that as pending.
    /// </summary>
    public static ProviderRefundResult RefundState(JsonObject? r, bool accepted = false)
    {
        var refundId = (string?)r?["refund_id"] ?? (string?)r?["id"];
        var result = ((string?)r?["status"] ?? (string?)r?["refund_status"]) switch
        {
            "SUCCESS" => new ProviderRefundResult(RefundStatus.Succeeded, refundId),
            "PROCESSING" => new ProviderRefundResult(RefundStatus.Pending, refundId),
            null when accepted && refundId is not null => new ProviderRefundResult(RefundStatus.Pending, refundId),
            var other => new ProviderRefundResult(RefundStatus.Failed, refundId, (other ?? "unknown").ToLowerInvariant()),
        };
        return r is null ? result : result with { Settlement = RefundConversion(r) };
    }

    /// <summary>
    /// A cross-border refund's conversion: what the learner gets back (payer_refund in payer_currency, at exchange_rate.rate, the
    /// ratio × 10^8, found in the amount or beside it) and what the merchant's account gives (settlement_refund in
    /// settlement_currency, when that is not the price's currency). Null when neither was converted.
    /// </summary>
    public static ProviderSettlement? RefundConversion(JsonObject r)
    {
        var amount = r["amount"];
        var currency = (string?)amount?["currency"];
        bool Converted(string? other) => other is not null && !string.Equals(other, currency, StringComparison.OrdinalIgnoreCase);
        var (payerCurrency, settlementCurrency) = ((string?)amount?["payer_currency"], (string?)amount?["settlement_currency"]);
        if (!Converted(payerCurrency) && !Converted(settlementCurrency)) return null;
        decimal? rate = (long?)(amount?["exchange_rate"] ?? r["exchange_rate"])?["rate"] is > 0 and var ratio ? ratio / 100_000_000m : null;
        return Converted(settlementCurrency)
            ? new ProviderSettlement((long?)amount?["settlement_refund"], settlementCurrency, null,
                Converted(payerCurrency) ? (long?)amount?["payer_refund"] : null, Converted(payerCurrency) ? payerCurrency : null, Converted(payerCurrency) ? rate : null)
            : new ProviderSettlement(null, null, null, (long?)amount?["payer_refund"], payerCurrency, rate);
    }

    /// <summary>Maps a transaction object (query answer or decrypted TRANSACTION.* resource) to the common trade state.</summary>
    public static ProviderTradeState State(JsonObject t)
    {
        var status = (string?)t["trade_state"] switch
        {
            "SUCCESS" or "REFUND" => TradeStatus.Paid,
            "CLOSED" or "REVOKED" => TradeStatus.Closed,
            // ACCEPT: a papay deduction accepted and not yet settled.
            "NOTPAY" or "USERPAYING" or "ACCEPT" => TradeStatus.Pending,
            _ => TradeStatus.Failed,
        };
        var paidAt = DateTimeOffset.TryParse((string?)t["success_time"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var at)
            ? at.UtcDateTime : (DateTime?)null;
        // The cross-border API names WeChat's transaction id "id".
        return new ProviderTradeState(status, (string?)t["transaction_id"] ?? (string?)t["id"], (long?)t["amount"]?["total"], (string?)t["amount"]?["currency"], paidAt,
            status != TradeStatus.Failed ? null : (string?)t["trade_state"] == "PAY_FAIL" ? RecurringFailures.Declined : ((string?)t["trade_state"])?.ToLowerInvariant())
        { Settlement = PayerConversion(t) };
    }

    /// <summary>
    /// A cross-border trade's conversion: the learner paid payer_total in payer_currency at exchange_rate.rate (the ratio × 10^8).
    /// The merchant is settled in the price's currency, so only the payer's half is reported; null when nothing was converted.
    /// </summary>
    public static ProviderSettlement? PayerConversion(JsonObject t)
    {
        var (currency, payerCurrency) = ((string?)t["amount"]?["currency"], (string?)t["amount"]?["payer_currency"]);
        if (payerCurrency is null || string.Equals(currency, payerCurrency, StringComparison.OrdinalIgnoreCase)) return null;
        decimal? rate = (long?)t["exchange_rate"]?["rate"] is > 0 and var ratio ? ratio / 100_000_000m : null;
        return new ProviderSettlement(null, null, null, (long?)t["amount"]?["payer_total"], payerCurrency, rate);
    }

    async Task<(HttpStatusCode Status, JsonObject? Answer)> SendAsync(HttpMethod method, string pathAndQuery, JsonObject? body, CancellationToken ct,
        string? tolerate = null, string? baseUrl = null)
    {
        var json = body?.ToJsonString() ?? "";
        var uri = new Uri((baseUrl ?? settings.ApiBaseUrl).TrimEnd('/') + pathAndQuery);
        using var request = new HttpRequestMessage(method, uri);
        if (body is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        request.Headers.Accept.ParseAdd("application/json");
        // Names the key we verify with: WeChat Pay signs the answer with it.
        request.Headers.TryAddWithoutValidation("Wechatpay-Serial", settings.PlatformSerialNo);
        request.Headers.TryAddWithoutValidation("Authorization", WeChatPaySignature.Authorization(settings.MchId, settings.MerchantSerialNo,
            settings.PrivateKeyPem, method.Method, uri.PathAndQuery, json, clock.GetUtcNow().ToUnixTimeSeconds(), WeChatPaySignature.Nonce()));
        var response = await ProviderHttp.SendAsync(http, request, Name, true, ct);
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            string? Header(string name) => response.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault() : null;
            var signature = Header("Wechatpay-Signature");
            var verified = WeChatPaySignature.VerifyHeaders(Header("Wechatpay-Serial"), Header("Wechatpay-Timestamp"), Header("Wechatpay-Nonce"),
                signature, text, settings.PlatformKey, clock.GetUtcNow());
            if (!verified && (response.IsSuccessStatusCode || signature is not null))
                throw new ProviderException(Name, "response_signature_invalid", "the answer's Wechatpay-Signature did not verify; the answer is ignored",
                    maybeApplied: method != HttpMethod.Get);
            JsonObject? answer = null;
            if (text.Length > 0)
            {
                try { answer = JsonNode.Parse(text) as JsonObject; }
                catch (JsonException) { throw new ProviderException(Name, "response_unreadable", "the answer is not JSON"); }
            }
            if (response.IsSuccessStatusCode) return (response.StatusCode, answer);
            var code = (string?)answer?["code"];
            if (code is not null && code == tolerate) return (response.StatusCode, answer);
            throw ProviderHttp.Refused(Name, response, code, (string?)answer?["message"]);
        }
    }

    /// <summary>
    /// WeChat Pay with every <c>Providers:WeChatPay</c> credential, or — with the sandbox on and no PrivateKey configured —
    /// with key pairs, serials and an APIv3 key generated at start and shared with the embedded WeChat Pay simulator.
    /// </summary>
    public static void Register(ProviderWiring wiring)
    {
        var options = wiring.Options<WeChatPayOptions>();
        var notifyUrl = string.IsNullOrWhiteSpace(options.NotifyUrl) ? null : options.NotifyUrl;
        var missing = options.Missing();
        Func<PublicUrl, WeChatPaySettings> settings;
        if (missing.Count == 0)
        {
            try
            {
                if (Encoding.UTF8.GetByteCount(options.ApiV3Key!) != 32) throw new ArgumentException("ApiV3Key must be 32 bytes");
                var configured = new WeChatPaySettings(options.MchId!, options.AppId!, ProviderWiring.Given(options.ApiBaseUrl) ?? DefaultApiBaseUrl,
                    options.MerchantSerialNo!, ProviderKeys.PrivatePem(options.PrivateKey!), ProviderKeys.PublicPem(options.PlatformPublicKey!),
                    options.PlatformSerialNo!, options.ApiV3Key!, notifyUrl, options.Fee)
                {
                    MorePlatformKeys = (options.MorePlatformKeys ?? new Dictionary<string, string>()).ToDictionary(k => k.Key, k => ProviderKeys.PublicPem(k.Value), StringComparer.Ordinal),
                    AppSecret = ProviderWiring.Given(options.AppSecret),
                    OAuthBaseUrl = ProviderWiring.Given(options.OAuthBaseUrl) ?? DefaultOAuthBaseUrl,
                    OAuthApiBaseUrl = ProviderWiring.Given(options.OAuthApiBaseUrl) ?? DefaultOAuthApiBaseUrl,
                    PapayPlanId = ProviderWiring.Given(options.PapayPlanId),
                    GlobalApiBaseUrl = ProviderWiring.Given(options.GlobalApiBaseUrl) ?? DefaultGlobalApiBaseUrl,
                };
                settings = url => configured with { NotifyUrl = configured.NotifyUrl ?? url.Combine(NotifyPath) };
            }
            catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException or IOException)
            {
                wiring.Disable("wechatpay", $"Providers:WeChatPay keys cannot be read: {e.Message}");
                return;
            }
        }
        else if (wiring.Sandbox is { } sandbox && ProviderWiring.Given(options.PrivateKey) is null)
        {
            var mchId = ProviderWiring.Given(options.MchId) ?? SandboxMchId;
            var appId = ProviderWiring.Given(options.AppId) ?? SandboxAppId;
            var keys = sandbox.WeChatPay(mchId, appId);
            var appSecret = sandbox.WeChatAppSecret(ProviderWiring.Given(options.AppSecret));
            settings = url => new WeChatPaySettings(mchId, appId, sandbox.Url(url, "/wechatpay"), keys.MerchantSerialNo, keys.MerchantPrivateKeyPem,
                keys.PlatformPublicKeyPem, keys.PlatformSerialNo, keys.ApiV3Key, notifyUrl ?? url.Combine(NotifyPath), options.Fee)
            {
                MorePlatformKeys = keys.MorePlatformKeys, AppSecret = appSecret,
                OAuthBaseUrl = sandbox.Url(url, "/wechatpay"), OAuthApiBaseUrl = sandbox.Url(url, "/wechatpay"),
                PapayPlanId = ProviderWiring.Given(options.PapayPlanId) ?? KnowPay.Sandbox.WeChatPay.WeChatPaySimulator.SandboxPlanId,
                GlobalApiBaseUrl = ProviderWiring.Given(options.GlobalApiBaseUrl) ?? sandbox.Url(url, "/wechatpay"),
            };
        }
        else
        {
            wiring.Disable("wechatpay", $"Providers:WeChatPay:{string.Join(", ", missing)} not set");
            return;
        }
        wiring.Add(HttpClientName, options, settings, (provider, http, s) => new WeChatPayProvider(http, s, provider.GetRequiredService<TimeProvider>()));
    }
}
