namespace KnowPay.Sandbox.Alipay;

/// <summary>
/// Alipay deduction agreements (周期扣款) from Alipay's side: alipay.user.agreement.page.sign (a browser call checked like
/// the real gateway, then the phone-sized sign page), the signed dut_user_sign / dut_user_unsign notifications,
/// alipay.user.agreement.query / unsign, and alipay.trade.pay under agreement_params.agreement_no, capped by the
/// agreement's single_amount. Test hooks: the buyer signs or cancels without a browser, and declines the next deductions.
/// </summary>
public sealed partial class AlipaySimulator
{
    readonly TradeStore<AlipayAgreement> agreements = new(options, a => a.Status != "STOP", a => a.AgreementNo is { } no ? [no] : []);

    void MapAgreements(IEndpointRouteBuilder g)
    {
        g.MapGet("/agreements/{externalNo}", (string externalNo) => SignPage(externalNo));
        g.MapPost("/agreements/{externalNo}", (string externalNo) =>
        {
            Sign(externalNo);
            return agreements.TryGet(externalNo, out var a) && a.ReturnUrl is { } back
                ? Results.Redirect(back + (back.Contains('?') ? "&" : "?") + "external_agreement_no=" + externalNo + "&agreement_no=" + a.AgreementNo)
                : Results.Redirect($"{options.BasePath}/alipay/agreements/{Uri.EscapeDataString(externalNo)}");
        }).DisableAntiforgery();
        g.MapPost("/buyer/agreements/{key}/sign", (string key) => Sign(key));
        g.MapPost("/buyer/agreements/{key}/unsign", (string key) => Unsign(key, "user"));
        g.MapPost("/buyer/agreements/{key}/decline", (string key, int? times) => DeclineDeductions(key, times ?? 1));
    }

    /// <summary>The agreement as the sandbox holds it (for tests): status, agreement_no, deductions made, its period rule.</summary>
    public (string Status, string? AgreementNo, int Deductions, string PeriodType, int Period, DateOnly ExecuteDate)? InspectAgreement(string key) =>
        Find(key) is { } a ? (a.Status, a.AgreementNo, a.Deductions, a.Request.PeriodType, a.Request.Period, a.Request.ExecuteDate) : null;

    /// <summary>The buyer's balance will not cover the next <paramref name="times"/> deductions (−1: none): ACQ.BUYER_BALANCE_NOT_ENOUGH.</summary>
    public IResult DeclineDeductions(string key, int times)
    {
        if (Find(key) is not { } a) return Results.Json(new { error = "agreement_not_found" }, statusCode: 404);
        lock (a) a.DeclinesLeft = times;
        return Results.Json(new { external_agreement_no = a.ExternalAgreementNo, declines = times });
    }

    AlipayAgreement? Find(string key) =>
        agreements.TryGet(key, out var a) || agreements.TryGetByAlias(key, out a) ? a : null;

    /// <summary>The browser arrives with the signed page.sign request (its signature already verified): checked, then the agreement exists as TEMP.</summary>
    IResult PageSign(HttpContext http, JsonObject biz, Dictionary<string, string> p)
    {
        if (http.Request.Method != "GET" && !http.Request.HasFormContentType) return wire.ErrorResponse("isv.invalid-method", "page.sign is a browser call");
        if (AgreementRequest.Error(biz) is { } error) return Refusal(error);
        var request = AgreementRequest.Read(biz)!;
        var notifyUrl = (string?)biz["sign_notify_url"] is { Length: > 0 } signNotify ? signNotify : p.GetValueOrDefault("notify_url");
        var a = agreements.GetOrAdd(request.ExternalAgreementNo, () => new AlipayAgreement(request, notifyUrl, DateTimeOffset.UtcNow));
        if (a.Request.SingleFen != request.SingleFen || a.Request.PeriodType != request.PeriodType)
            return Refusal("isv.invalid-parameter: external_agreement_no 已用于其他协议");
        if (p.GetValueOrDefault("return_url") is { Length: > 0 } back) a.ReturnUrl = back;
        return SignPage(request.ExternalAgreementNo);
    }

    IResult SignPage(string externalNo)
    {
        if (!agreements.TryGet(externalNo, out var a)) return Results.NotFound();
        var every = a.Request.PeriodType == "MONTH" ? $"每 {a.Request.Period} 个月 (months)" : $"每 {a.Request.Period} 天 (days)";
        return new BuyerPage("支付宝 – 周期扣款协议", "支付宝 周期扣款 (sandbox)",
            $"{every}扣款, 首次 {a.Request.ExecuteDate:yyyy-MM-dd} · {a.Request.SignScene}", "单笔最高 ¥" + SandboxRsa.Yuan(a.Request.SingleFen), a.Status)
        {
            Phone = true,
            QrLabel = "external_agreement_no",
            Qr = a.ExternalAgreementNo,
            ReturnUrl = a.ReturnUrl,
            Form = a.Status == "TEMP" ? new BuyerForm($"{options.BasePath}/alipay/agreements/{Uri.EscapeDataString(a.ExternalAgreementNo)}", "sign", "同意协议并开通 Sign") : null,
        }.Render();
    }

    /// <summary>The simulated buyer signs: NORMAL, then the signed dut_user_sign notification.</summary>
    public IResult Sign(string key)
    {
        if (Find(key) is not { } a) return Results.Json(new { error = "agreement_not_found" }, statusCode: 404);
        lock (a)
        {
            if (a.Status == "STOP") return Results.Json(new { error = "agreement_stopped" }, statusCode: 409);
            if (a.Status == "TEMP")
            {
                a.Status = "NORMAL";
                a.SignedAt = DateTimeOffset.UtcNow;
                a.AgreementNo = DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + "6602"
                    + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture);
                a.AlipayUserId = "2088" + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture) + "123";
                agreements.Alias(a.AgreementNo, a);
                Notify(a, "dut_user_sign");
            }
            return Results.Json(new { external_agreement_no = a.ExternalAgreementNo, agreement_no = a.AgreementNo, status = a.Status });
        }
    }

    /// <summary>The agreement ends (the buyer at Alipay, or the merchant's unsign): STOP, then the signed dut_user_unsign notification.</summary>
    public IResult Unsign(string key, string by)
    {
        if (Find(key) is not { } a) return Results.Json(new { error = "agreement_not_found" }, statusCode: 404);
        lock (a)
        {
            if (a.Status != "STOP")
            {
                var signed = a.Status == "NORMAL";
                a.Status = "STOP";
                a.UnsignedAt = DateTimeOffset.UtcNow;
                a.UnsignedBy = by;
                if (signed) Notify(a, "dut_user_unsign");
            }
            return Results.Json(new { external_agreement_no = a.ExternalAgreementNo, agreement_no = a.AgreementNo, status = a.Status });
        }
    }

    void Notify(AlipayAgreement a, string type)
    {
        if (a.NotifyUrl is null) return;
        var fields = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["notify_type"] = type, ["notify_id"] = "2024" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(14)),
            ["app_id"] = options.AlipayAppId, ["auth_app_id"] = options.AlipayAppId, ["charset"] = "utf-8", ["version"] = "1.0", ["sign_type"] = "RSA2",
            ["agreement_no"] = a.AgreementNo ?? "", ["external_agreement_no"] = a.ExternalAgreementNo,
            ["personal_product_code"] = a.Request.PersonalProductCode, ["sign_scene"] = a.Request.SignScene,
            ["alipay_user_id"] = a.AlipayUserId ?? "", ["alipay_logon_id"] = "lea***@example.com",
        };
        if (type == "dut_user_sign")
        {
            fields["status"] = "NORMAL";
            fields["sign_time"] = SandboxRsa.Beijing(a.SignedAt!.Value);
            fields["valid_time"] = SandboxRsa.Beijing(a.SignedAt.Value);
            fields["invalid_time"] = "2115-02-01 00:00:00";
        }
        else
        {
            fields["status"] = "UNSIGN";
            fields["unsign_time"] = SandboxRsa.Beijing(a.UnsignedAt!.Value);
        }
        notifier.Send(wire.Notification(a.ExternalAgreementNo, a.NotifyUrl, fields));
    }

    JsonObject AgreementQuery(JsonObject biz)
    {
        if (FindBy(biz) is not { } a) return AlipayWire.Failure("USER_AGREEMENT_NOT_EXIST", "用户协议不存在");
        lock (a)
        {
            var o = new JsonObject
            {
                ["agreement_no"] = a.AgreementNo, ["external_agreement_no"] = a.ExternalAgreementNo, ["status"] = a.Status,
                ["personal_product_code"] = a.Request.PersonalProductCode, ["sign_scene"] = a.Request.SignScene, ["principal_id"] = a.AlipayUserId,
                ["single_quota"] = SandboxRsa.Yuan(a.Request.SingleFen), ["third_party_type"] = "PARTNER",
            };
            if (a.SignedAt is { } signed)
            {
                o["sign_time"] = SandboxRsa.Beijing(signed);
                o["valid_time"] = SandboxRsa.Beijing(signed);
                o["invalid_time"] = "2115-02-01 00:00:00";
            }
            return AlipayWire.Ok(o);
        }
    }

    JsonObject AgreementUnsign(JsonObject biz)
    {
        if (FindBy(biz) is not { } a) return AlipayWire.Failure("USER_AGREEMENT_NOT_EXIST", "用户协议不存在");
        Unsign(a.ExternalAgreementNo, "merchant");
        return AlipayWire.Ok(new JsonObject());
    }

    /// <summary>agreement_no wins; otherwise external_agreement_no with the product code and scene it was signed under.</summary>
    AlipayAgreement? FindBy(JsonObject biz)
    {
        if ((string?)biz["agreement_no"] is { Length: > 0 } no) return agreements.TryGetByAlias(no, out var byNo) ? byNo : null;
        return (string?)biz["external_agreement_no"] is { Length: > 0 } external && agreements.TryGet(external, out var a)
            && a.Request.PersonalProductCode == (string?)biz["personal_product_code"] ? a : null;
    }

    /// <summary>alipay.trade.pay under an agreement: product_code CYCLE_PAY_AUTH, no scene or auth_code, at most single_amount.</summary>
    JsonObject AgreementPay(JsonObject biz, Dictionary<string, string> p)
    {
        var agreementNo = (string?)biz["agreement_params"]?["agreement_no"];
        if (string.IsNullOrEmpty(agreementNo)) return AlipayWire.Invalid("agreement_params.agreement_no 不能为空 (the sandbox pays only under agreements)");
        if ((string?)biz["product_code"] != "CYCLE_PAY_AUTH") return AlipayWire.Invalid("product_code 应为 CYCLE_PAY_AUTH");
        if (biz["scene"] is not null || biz["auth_code"] is not null) return AlipayWire.Invalid("scene / auth_code 不能与 agreement_params 同传");
        if (!agreements.TryGetByAlias(agreementNo, out var a)) return AlipayWire.Failure("ACQ.AGREEMENT_NOT_EXIST", "协议不存在");
        var trans = (string?)biz["trans_currency"] ?? "CNY";
        if (!SandboxFx.TryMinor((string?)biz["total_amount"], trans, out var priced)) return AlipayWire.Invalid("total_amount 参数非法");
        // single_amount is in yuan: a price in another currency is held to it at the learner's rate.
        var fen = SandboxFx.Convert(priced, trans, "CNY", SandboxFx.PayerRate(trans, "CNY"));
        AlipayTrade? trade;
        lock (a)
        {
            if (a.Status != "NORMAL") return AlipayWire.Failure("ACQ.AGREEMENT_STATUS_NOT_NORMAL", "协议状态非正常");
            if (fen > a.Request.SingleFen) return AlipayWire.Failure("ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED", "周期扣款的单笔金额超过约定值");
            if (trades.TryGet((string?)biz["out_trade_no"] ?? "", out var earlier) && earlier.Status is "TRADE_SUCCESS" or "TRADE_FINISHED")
                return AlipayWire.Failure("ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
            if (a.DeclinesLeft != 0)
            {
                if (a.DeclinesLeft > 0) a.DeclinesLeft--;
                return AlipayWire.Failure("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足");
            }
            (trade, var error) = Create(biz, p);
            if (error == "ACQ.CONTEXT_INCONSISTENT") return AlipayWire.Failure("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
            if (error == "ACQ.CURRENCY_NOT_SUPPORT") return AlipayWire.Failure("ACQ.CURRENCY_NOT_SUPPORT", "币种不支持");
            if (trade is null) return AlipayWire.Invalid($"{error} 参数非法");
            a.Deductions++;
        }
        Pay(trade.OutTradeNo, declinable: false);
        lock (trade)
        {
            var answer = AlipayWire.Ok(new JsonObject
            {
                ["trade_no"] = trade.TradeNo, ["out_trade_no"] = trade.OutTradeNo, ["buyer_logon_id"] = "lea***@example.com",
                ["buyer_user_id"] = a.AlipayUserId, ["total_amount"] = SandboxFx.Major(trade.TotalFen, trade.TransCurrency), ["receipt_amount"] = SandboxRsa.Yuan(trade.TotalFen),
                ["buyer_pay_amount"] = SandboxRsa.Yuan(trade.TotalFen), ["gmt_payment"] = SandboxRsa.Beijing(trade.PaidAt ?? DateTimeOffset.UtcNow),
            });
            foreach (var (k, v) in AlipayWire.CrossBorderFields(trade)) answer[k] = v;
            return answer;
        }
    }
}
