using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.Alipay;

/// <summary><c>Providers:Alipay:*</c>, keys normalised to PEM. NotifyUrl null = KnowPay's own /v1/notify/alipay.</summary>
public sealed record AlipaySettings(string AppId, string GatewayUrl, string PrivateKeyPem, string AlipayPublicKeyPem, string? NotifyUrl, ProviderFee Fee)
{
    /// <summary>The merchant's PID that every notification's seller_id must equal; null = not checked.</summary>
    public string? SellerId { get; init; }
    /// <summary>The deduction agreement contract (周期扣款): product codes and sign scene.</summary>
    public AlipayAgreementSettings Agreements { get; init; } = new();
    /// <summary>The currency the Alipay account settles in (ISO 4217); not CNY for an overseas-settled (cross-border) merchant.</summary>
    public string SettleCurrency { get; init; } = "CNY";
}

/// <summary>
/// Alipay OpenAPI adapter (RSA2). Common parameters go in the query string and biz_content in a form body, as the
/// official SDK sends them; every synchronous answer is verified on the raw text of its <c>*_response</c> object
/// before it is read. Every call is idempotent at Alipay (out_trade_no; out_request_no for refunds), so the
/// resilient client may retry them.
/// </summary>
public sealed partial class AlipayProvider(HttpClient http, AlipaySettings settings, TimeProvider clock) : IPaymentProvider
{
    public const string HttpClientName = "provider-alipay";
    public const string DefaultGatewayUrl = "https://openapi.alipay.com/gateway.do";
    const string SandboxAppId = "9021000000000001";
    const string NotifyPath = "/v1/notify/alipay";
    static readonly Currency Cny = Currency.Of("CNY");

    public string Name => "alipay";
    public IReadOnlyCollection<string> Methods { get; } = [PaymentMethods.Qr, PaymentMethods.Page, PaymentMethods.Wap, PaymentMethods.App];
    public ProviderFee Fee => settings.Fee;

    public async Task<PaymentStarted> StartAsync(PaymentStart request, CancellationToken ct)
    {
        var payment = request.Payment;
        if (!string.Equals(payment.Currency, "CNY", StringComparison.OrdinalIgnoreCase))
            throw new ProviderException(Name, "currency_unsupported", "Alipay domestic payments are in CNY");
        var biz = new JsonObject
        {
            ["out_trade_no"] = payment.Id,
            ["total_amount"] = ProviderAmounts.ToProviderDecimal(Name, new Money(payment.Amount, Cny)),
            ["subject"] = Truncate(request.Subject, 256),
        };
        var notifyUrl = settings.NotifyUrl ?? request.NotifyUrl;
        if (payment.Method is PaymentMethods.Wap or PaymentMethods.App) return StartOnPhone(payment.Method, biz, notifyUrl, request.ReturnUrl);
        if (payment.Method == "page")
        {
            biz["product_code"] = "FAST_INSTANT_TRADE_PAY";
            var parameters = Signed("alipay.trade.page.pay", biz, notifyUrl, request.ReturnUrl);
            return new PaymentStarted(null, RedirectUrl: settings.GatewayUrl + "?" + Query(parameters, includeBizContent: true));
        }
        var answer = await CallAsync("alipay.trade.precreate", biz, ct, notifyUrl);
        Ensure(answer);
        return new PaymentStarted(null, QrCode: (string?)answer["qr_code"]);
    }

    /// <summary>
    /// wap: a signed browser redirect like page.pay, sized for a phone, with quit_url for a learner who gives up; app: the
    /// whole signed order string, which the platform's app hands to the Alipay SDK. Neither calls Alipay now: the trade
    /// exists there once the learner acts, so until then query and close answer ACQ.TRADE_NOT_EXIST (not paid).
    /// </summary>
    PaymentStarted StartOnPhone(string method, JsonObject biz, string notifyUrl, string? returnUrl)
    {
        if (method == PaymentMethods.Wap)
        {
            biz["product_code"] = "QUICK_WAP_WAY";
            if (returnUrl is not null) biz["quit_url"] = returnUrl;
            var wap = Signed("alipay.trade.wap.pay", biz, notifyUrl, returnUrl);
            return new PaymentStarted(null, RedirectUrl: settings.GatewayUrl + "?" + Query(wap, includeBizContent: true));
        }
        biz["product_code"] = "QUICK_MSECURITY_PAY";
        // The SDK's own format (sdkExecute): every parameter, sign included, URL-encoded in key order.
        var app = Signed("alipay.trade.app.pay", biz, notifyUrl);
        return new PaymentStarted(null, SignedParameters: new Features.Payments.AlipayAppNextAction(Query(app, includeBizContent: true)));
    }

    public async Task<ProviderTradeState> QueryAsync(Payment payment, CancellationToken ct)
    {
        var answer = await CallAsync("alipay.trade.query", new JsonObject { ["out_trade_no"] = payment.Id }, ct);
        if (SubCode(answer) == "ACQ.TRADE_NOT_EXIST") return new ProviderTradeState(TradeStatus.NotFound);
        Ensure(answer);
        return State(answer);
    }

    public async Task<ProviderTradeState> CloseAsync(Payment payment, CancellationToken ct)
    {
        var answer = await CallAsync("alipay.trade.close", new JsonObject { ["out_trade_no"] = payment.Id }, ct);
        // A precreated trade nobody scanned does not exist at Alipay yet: nothing to close.
        if (SubCode(answer) == "ACQ.TRADE_NOT_EXIST") return new ProviderTradeState(TradeStatus.Closed);
        // Paid (or finished) meanwhile: the buyer won the race; report what the trade is.
        if (SubCode(answer) == "ACQ.TRADE_STATUS_ERROR") return await QueryAsync(payment, ct);
        Ensure(answer);
        return new ProviderTradeState(TradeStatus.Closed, (string?)answer["trade_no"]);
    }

    public async Task<ProviderRefundResult> RefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var biz = new JsonObject
        {
            ["out_trade_no"] = request.Payment.Id,
            ["refund_amount"] = ProviderAmounts.ToProviderDecimal(Name, new Money(request.Amount, Cny)),
            ["out_request_no"] = request.RefundId,
        };
        if (!string.IsNullOrEmpty(request.Reason)) biz["refund_reason"] = Truncate(request.Reason, 256);
        var answer = await CallAsync("alipay.trade.refund", biz, ct);
        if ((string?)answer["code"] == "40004")
            return new ProviderRefundResult(RefundStatus.Failed, FailureReason: SubCode(answer) ?? "refund_refused");
        Ensure(answer);
        // fund_change "N" on a repeated out_request_no: the refund happened earlier (or not at all); ask to be sure.
        return (string?)answer["fund_change"] == "Y"
            ? new ProviderRefundResult(RefundStatus.Succeeded, $"{answer["trade_no"]}:{request.RefundId}")
            : await QueryRefundAsync(request, ct);
    }

    public async Task<ProviderRefundResult> QueryRefundAsync(ProviderRefund request, CancellationToken ct)
    {
        var answer = await CallAsync("alipay.trade.fastpay.refund.query",
            new JsonObject { ["out_trade_no"] = request.Payment.Id, ["out_request_no"] = request.RefundId }, ct);
        if (SubCode(answer) == "ACQ.TRADE_NOT_EXIST") return new ProviderRefundResult(RefundStatus.Failed, FailureReason: "trade_not_found");
        Ensure(answer);
        // An empty answer (no refund_amount) means Alipay has no such refund: it did not happen.
        if (string.IsNullOrEmpty((string?)answer["refund_amount"]))
            return new ProviderRefundResult(RefundStatus.Failed, FailureReason: "refund_not_found");
        var status = (string?)answer["refund_status"];
        return status is null or "REFUND_SUCCESS"
            ? new ProviderRefundResult(RefundStatus.Succeeded, $"{answer["trade_no"]}:{request.RefundId}")
            : new ProviderRefundResult(RefundStatus.Pending, $"{answer["trade_no"]}:{request.RefundId}");
    }

    /// <summary>
    /// alipay.data.dataservice.bill.downloadurl.query: the short-lived URL of the day's trade bill (a zip of GBK CSV files,
    /// <c>#</c> header and footer lines around rows starting 支付宝交易号,商户订单号,业务类型). For reconciliation.
    /// </summary>
    public async Task<string> DownloadBillUrlAsync(DateOnly billDate, CancellationToken ct)
    {
        var answer = await CallAsync("alipay.data.dataservice.bill.downloadurl.query", new JsonObject
        {
            ["bill_type"] = "trade",
            ["bill_date"] = billDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        }, ct);
        Ensure(answer);
        return (string?)answer["bill_download_url"] is { Length: > 0 } url ? url
            : throw new ProviderException(Name, "response_unreadable", "no bill_download_url in the answer");
    }

    /// <summary>Maps alipay.trade.query's answer (or a notification's fields) to the common trade state.</summary>
    public static ProviderTradeState State(JsonObject trade)
    {
        var status = (string?)trade["trade_status"] switch
        {
            "TRADE_SUCCESS" or "TRADE_FINISHED" => TradeStatus.Paid,
            "TRADE_CLOSED" => TradeStatus.Closed,
            "WAIT_BUYER_PAY" => TradeStatus.Pending,
            _ => TradeStatus.Failed,
        };
        // total_amount is in the price's currency: trans_currency on a cross-border trade, else CNY.
        var currency = (string?)trade["trans_currency"] ?? "CNY";
        return new ProviderTradeState(status, (string?)trade["trade_no"], ProviderSettlement.MinorUnits((string?)trade["total_amount"], currency), currency,
            AlipaySignature.ParseTimestamp((string?)trade["send_pay_date"] ?? (string?)trade["gmt_payment"])) { Settlement = Settlement(trade) };
    }

    /// <summary>
    /// A cross-border trade's conversion as alipay.trade.query (and the notification) state it: settle_amount in settle_currency at
    /// settle_trans_rate, and pay_amount in pay_currency at trans_pay_rate (both per unit of trans_currency). Null on a domestic trade.
    /// </summary>
    public static ProviderSettlement? Settlement(JsonObject trade)
    {
        string? settleCurrency = (string?)trade["settle_currency"], payCurrency = (string?)trade["pay_currency"];
        if (settleCurrency is null && payCurrency is null) return null;
        return new ProviderSettlement(ProviderSettlement.MinorUnits((string?)trade["settle_amount"], settleCurrency), settleCurrency,
            ProviderSettlement.ParseRate((string?)trade["settle_trans_rate"]), ProviderSettlement.MinorUnits((string?)trade["pay_amount"], payCurrency), payCurrency,
            ProviderSettlement.ParseRate((string?)trade["trans_pay_rate"]));
    }

    /// <summary>
    /// alipay.trade.pay's cross-border fields (the only method that takes them): trans_currency with total_amount in it when the
    /// price is not in CNY, settle_currency when the price is not in CNY or the account settles in another currency.
    /// </summary>
    void CrossBorder(JsonObject biz, Payment payment)
    {
        var currency = Currency.Of(payment.Currency);
        if (currency.Code != "CNY")
        {
            biz["trans_currency"] = currency.Code;
            biz["total_amount"] = new Money(payment.Amount, currency).ToDecimalString();
        }
        if (currency.Code != "CNY" || settings.SettleCurrency != "CNY") biz["settle_currency"] = settings.SettleCurrency;
    }

    SortedDictionary<string, string?> Signed(string method, JsonObject biz, string? notifyUrl = null, string? returnUrl = null)
    {
        var p = new SortedDictionary<string, string?>(StringComparer.Ordinal)
        {
            ["app_id"] = settings.AppId,
            ["method"] = method,
            ["format"] = "JSON",
            ["charset"] = "utf-8",
            ["sign_type"] = "RSA2",
            ["timestamp"] = AlipaySignature.Timestamp(clock.GetUtcNow()),
            ["version"] = "1.0",
            ["notify_url"] = notifyUrl,
            ["return_url"] = returnUrl,
            ["biz_content"] = biz.ToJsonString(),
        };
        p["sign"] = AlipaySignature.Sign(AlipaySignature.Content(p, dropSignType: false), settings.PrivateKeyPem);
        return p;
    }

    static string Query(IEnumerable<KeyValuePair<string, string?>> parameters, bool includeBizContent) =>
        string.Join("&", parameters.Where(p => !string.IsNullOrEmpty(p.Value) && (includeBizContent || p.Key != "biz_content"))
            .Select(p => p.Key + "=" + Uri.EscapeDataString(p.Value!)));

    /// <summary>Sends one method and returns its verified <c>*_response</c> (or <c>error_response</c>) object.</summary>
    async Task<JsonObject> CallAsync(string method, JsonObject biz, CancellationToken ct, string? notifyUrl = null)
    {
        var parameters = Signed(method, biz, notifyUrl);
        using var request = new HttpRequestMessage(HttpMethod.Post, settings.GatewayUrl + "?" + Query(parameters, includeBizContent: false))
        {
            Content = new FormUrlEncodedContent([new("biz_content", parameters["biz_content"]!)]),
        };
        var response = await ProviderHttp.SendAsync(http, request, Name, true, ct);
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
                throw ProviderHttp.Refused(Name, response, code: null);
            var key = AlipaySignature.ResponseKey(method);
            if (!AlipaySignature.TryExtract(text, key, out var raw, out var sign) && !AlipaySignature.TryExtract(text, "error_response", out raw, out sign))
                throw new ProviderException(Name, "response_unreadable", $"no {key} in the answer");
            var answer = JsonNode.Parse(raw)!.AsObject();
            var verified = AlipaySignature.Verify(raw, sign, settings.AlipayPublicKeyPem);
            // Alipay leaves some error answers unsigned; an unsigned or badly signed answer is never taken as success.
            if (!verified && (sign is not null || (string?)answer["code"] == "10000"))
                throw new ProviderException(Name, "response_signature_invalid", $"the {method} answer's signature did not verify; the answer is ignored");
            if (!verified)
                throw new ProviderException(Name, (string?)answer["sub_code"] ?? (string?)answer["code"] ?? "error", (string?)answer["sub_msg"] ?? (string?)answer["msg"] ?? "error");
            return answer;
        }
    }

    void Ensure(JsonObject answer)
    {
        if ((string?)answer["code"] != "10000")
            throw new ProviderException(Name, SubCode(answer) ?? (string?)answer["code"] ?? "error", (string?)answer["sub_msg"] ?? (string?)answer["msg"] ?? "error",
                maybeApplied: (string?)answer["code"] == "20000");
    }

    static string? SubCode(JsonObject answer) => (string?)answer["sub_code"];

    static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];

    /// <summary>
    /// Alipay with <c>Providers:Alipay:AppId</c>, <c>PrivateKey</c> and <c>AlipayPublicKey</c>, or — with the sandbox on
    /// and the keys not configured — with key pairs generated at start and shared with the embedded Alipay simulator.
    /// </summary>
    public static void Register(ProviderWiring wiring)
    {
        var options = wiring.Options<AlipayOptions>();
        var notifyUrl = string.IsNullOrWhiteSpace(options.NotifyUrl) ? null : options.NotifyUrl;
        var agreements = new AlipayAgreementSettings(options.AgreementProductCode, options.PersonalProductCode, options.SignScene,
            options.DeductionWindowDays);
        Func<PublicUrl, AlipaySettings> settings;
        if (options is { AppId.Length: > 0, PrivateKey.Length: > 0, AlipayPublicKey.Length: > 0 })
        {
            try
            {
                var configured = new AlipaySettings(options.AppId, ProviderWiring.Given(options.GatewayUrl) ?? DefaultGatewayUrl,
                    ProviderKeys.PrivatePem(options.PrivateKey), ProviderKeys.PublicPem(options.AlipayPublicKey), notifyUrl, options.Fee)
                { SellerId = ProviderWiring.Given(options.SellerId), Agreements = agreements, SettleCurrency = options.SettleCurrency };
                settings = url => configured with { NotifyUrl = configured.NotifyUrl ?? url.Combine(NotifyPath) };
            }
            catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException or IOException)
            {
                wiring.Disable("alipay", $"Providers:Alipay:PrivateKey or AlipayPublicKey cannot be read: {e.GetType().Name}");
                return;
            }
        }
        else if (wiring.Sandbox is { } sandbox)
        {
            var appId = ProviderWiring.Given(options.AppId) ?? SandboxAppId;
            var (merchantPrivateKey, alipayPublicKey) = sandbox.Alipay(appId);
            var sellerId = sandbox.AlipaySellerId(ProviderWiring.Given(options.SellerId));
            sandbox.AlipaySettleCurrency(options.SettleCurrency);
            settings = url => new AlipaySettings(appId, sandbox.Url(url, "/alipay/gateway.do"), merchantPrivateKey, alipayPublicKey,
                notifyUrl ?? url.Combine(NotifyPath), options.Fee) { SellerId = sellerId, Agreements = agreements, SettleCurrency = options.SettleCurrency };
        }
        else
        {
            wiring.Disable("alipay", "Providers:Alipay:AppId, PrivateKey and AlipayPublicKey are required");
            return;
        }
        wiring.Add(HttpClientName, options, settings, (provider, http, s) => new AlipayProvider(http, s, provider.GetRequiredService<TimeProvider>()));
    }
}
