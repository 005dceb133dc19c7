namespace KnowPay.Sandbox.WeChatPay;

/// <summary>One papay contract as the simulator holds it; lock it to read or change its state.</summary>
sealed record WeChatContract(string OutContractCode, string PlanId, string PreEntrustId, string SignScene, string OutUserCode, string DisplayAccount,
    string NotifyUrl, string? ReturnUrl)
{
    /// <summary>UNSIGNED until the buyer signs (WeChat does not show it before), then SIGNED, then TERMINATED.</summary>
    public string State { get; set; } = "UNSIGNED";
    public string? ContractId { get; set; }
    public string? OpenId { get; set; }
    public DateTimeOffset? SignedAt { get; set; }
    public DateTimeOffset? TerminatedAt { get; set; }
    public string? TerminationMode { get; set; }
    public string? TerminationRemark { get; set; }
    /// <summary>The pre-debit notice in force: the most the next deduction may take.</summary>
    public (long Amount, string Currency)? Notice { get; set; }
    /// <summary>How many of the next deductions end PAY_FAIL (declines on demand).</summary>
    public int DeclinesLeft { get; set; }
}

/// <summary>
/// 委托代扣 (papay, API v3) from WeChat's side: pre-entrust-sign (signed request, fields checked) → the buyer's phone-sized
/// sign page at <c>/papay/sign/{pre_entrustweb_id}</c> (or <c>POST /buyer/contracts/{out_contract_code}/sign</c> without a
/// browser) → the encrypted, signed ENTRUST.SIGN notification to contract_notify_url; the contract query and terminate;
/// the pre-debit notice (06:00–22:00 Beijing time only); the deduction (ACCEPT, then TRANSACTION.SUCCESS or, with
/// declines on demand, TRANSACTION.FAIL / PAY_FAIL, never above the notice's estimate); and the buyer cancelling in
/// WeChat (<c>POST /buyer/contracts/{code}/terminate</c>: ENTRUST.TERMINATE, USER_TERMINATE).
/// </summary>
public sealed partial class WeChatPaySimulator
{
    /// <summary>The papay template (plan_id) the sandbox merchant has registered.</summary>
    public const string SandboxPlanId = "12535";
    static readonly string[] DeviceFields =
        ["device_type", "device_os", "device_id", "device_running_as_root", "device_ip", "weixin_installed", "weixin_version", "days_since_first_login"];
    /// <summary>By out_contract_code, also found by pre_entrustweb_id and contract_id; a terminated contract may be forgotten.</summary>
    readonly TradeStore<WeChatContract> contracts = new(options, c => c.State != "TERMINATED",
        c => c.ContractId is { } id ? [c.PreEntrustId, id] : [c.PreEntrustId]);
    Func<DateTimeOffset> papayClock = () => DateTimeOffset.UtcNow;

    /// <summary>Test hook: the time the pre-debit window is judged by (null = the real clock); signatures keep the real one.</summary>
    public void SetPreDebitClock(Func<DateTimeOffset>? now) => papayClock = now ?? (() => DateTimeOffset.UtcNow);

    /// <summary>Test hook: the next <paramref name="count"/> deductions under the contract end PAY_FAIL.</summary>
    public void DeclineDeductions(string outContractCode, int count)
    {
        if (!contracts.TryGet(outContractCode, out var c)) throw new ArgumentException($"no contract {outContractCode}");
        lock (c) c.DeclinesLeft = count;
    }

    /// <summary>The contract as the sandbox holds it: state, contract_id, openid and the estimate in force.</summary>
    public (string State, string? ContractId, string? OpenId, long? NoticeAmount)? InspectContract(string outContractCode) =>
        contracts.TryGet(outContractCode, out var c) ? Locked(c, x => (x.State, x.ContractId, x.OpenId, x.Notice?.Amount)) : null;

    void MapContracts(IEndpointRouteBuilder g)
    {
        g.MapPost("/v3/papay/sign/contracts/pre-entrust-sign", (Delegate)PreEntrustSignAsync);
        g.MapGet("/v3/papay/sign/contracts/plan-id/{planId}/out-contract-code/{code}", (Delegate)QueryContractAsync);
        g.MapPost("/v3/papay/sign/contracts/plan-id/{planId}/out-contract-code/{code}/terminate", (Delegate)TerminateContractAsync);
        g.MapPost("/v3/papay/contracts/{contractId}/notify", (Delegate)PreDebitNoticeAsync);
        g.MapPost("/v3/papay/pay/transactions/apply", (Delegate)ApplyDeductionAsync);
        g.MapGet("/papay/sign/{preEntrustId}", (string preEntrustId) => SignPage(preEntrustId));
        g.MapPost("/papay/sign/{preEntrustId}", (string preEntrustId, HttpContext http) =>
        {
            if (!contracts.TryGetByAlias(preEntrustId, out var c)) return Results.NotFound();
            var action = http.Request.HasFormContentType ? http.Request.Form["action"].ToString() : "";
            if (action == "terminate") EndContract(c, "USER_TERMINATE", "用户在微信中解约");
            else Sign(c);
            return Results.Redirect(action != "terminate" && c.ReturnUrl is { Length: > 0 } back ? back
                : $"{options.BasePath}/wechatpay/papay/sign/{Uri.EscapeDataString(preEntrustId)}");
        }).DisableAntiforgery();
        g.MapPost("/buyer/contracts/{code}/sign", (string code) => contracts.TryGet(code, out var c)
            ? Results.Json(new { contract_id = Sign(c), contract_state = Locked(c, x => x.State) }, SdkJson)
            : Results.Json(new { code = "RESOURCE_NOT_EXISTS" }, SdkJson, statusCode: 404));
        g.MapPost("/buyer/contracts/{code}/terminate", (string code) => contracts.TryGet(code, out var c)
            ? Results.Json(new { contract_state = EndContract(c, "USER_TERMINATE", "用户在微信中解约") }, SdkJson)
            : Results.Json(new { code = "RESOURCE_NOT_EXISTS" }, SdkJson, statusCode: 404));
    }

    async Task<IResult> PreEntrustSignAsync(HttpContext http)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if ((string?)req?["appid"] != options.WeChatAppId) return wire.Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        var code = (string?)req!["out_contract_code"];
        var scene = (string?)req["sign_scene"];
        var notifyUrl = (string?)req["contract_notify_url"];
        var device = req["device_info"] as JsonObject;
        if (PlanOf(req["plan_id"]) != SandboxPlanId) return wire.Error(400, "PARAM_ERROR", "plan_id 对应的模板不存在");
        if (string.IsNullOrEmpty(code) || code.Length > 32 || !code.All(char.IsAsciiLetterOrDigit))
            return wire.Error(400, "PARAM_ERROR", "out_contract_code 应为 1-32 位字母或数字");
        if (scene is not ("SIGN_SCENE_APP" or "SIGN_SCENE_QRCODE")) return wire.Error(400, "PARAM_ERROR", "sign_scene 取值应为 SIGN_SCENE_APP 或 SIGN_SCENE_QRCODE");
        if (string.IsNullOrEmpty((string?)req["contract_display_account"]) || string.IsNullOrEmpty((string?)req["out_user_code"]))
            return wire.Error(400, "PARAM_ERROR", "缺少参数 contract_display_account 或 out_user_code");
        if (!Uri.TryCreate(notifyUrl, UriKind.Absolute, out var notify) || notify.Scheme is not ("http" or "https"))
            return wire.Error(400, "PARAM_ERROR", "contract_notify_url 不是合法的 URL");
        var missing = device is null ? "device_info" : DeviceFields.FirstOrDefault(f => device[f] is null) is { } field ? "device_info." + field : null;
        if (missing is not null) return wire.Error(400, "PARAM_ERROR", "缺少参数 " + missing);
        return await gate.PassAsync(code, wire.Unavailable, () =>
        {
            var contract = contracts.GetOrAdd(code, () => new WeChatContract(code, SandboxPlanId, "pew" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(14)),
                scene, (string)req["out_user_code"]!, (string)req["contract_display_account"]!, notifyUrl!, (string?)req["return_url"]));
            contracts.Alias(contract.PreEntrustId, contract);
            if (Locked(contract, c => c.State) != "UNSIGNED") return wire.Error(400, "CONTRACT_EXISTED", "该商户签约协议号已存在签约记录", sign: true);
            var answer = new JsonObject { ["pre_entrustweb_id"] = contract.PreEntrustId };
            if (contract.SignScene == "SIGN_SCENE_QRCODE")
                answer["redirect_url"] = $"{options.PublicBaseUrl()}/wechatpay/papay/sign/{contract.PreEntrustId}";
            return Signed(200, answer, code);
        });
    }

    async Task<IResult> QueryContractAsync(HttpContext http, string planId, string code)
    {
        var (_, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (planId != SandboxPlanId) return wire.Error(400, "PARAM_ERROR", "plan_id 对应的模板不存在");
        return await gate.PassAsync(code, wire.Unavailable, () => contracts.TryGet(code, out var c) && Locked(c, x => x.State) != "UNSIGNED"
            ? Signed(200, ContractView(c), code)
            : Signed(404, new JsonObject { ["code"] = "RESOURCE_NOT_EXISTS", ["message"] = "签约协议不存在" }, code));
    }

    async Task<IResult> TerminateContractAsync(HttpContext http, string planId, string code)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if (planId != SandboxPlanId) return wire.Error(400, "PARAM_ERROR", "plan_id 对应的模板不存在");
        if (string.IsNullOrEmpty((string?)req?["contract_termination_remark"])) return wire.Error(400, "PARAM_ERROR", "缺少参数 contract_termination_remark");
        return await gate.PassAsync(code, wire.Unavailable, () =>
        {
            if (!contracts.TryGet(code, out var c) || Locked(c, x => x.State) == "UNSIGNED")
                return Signed(404, new JsonObject { ["code"] = "RESOURCE_NOT_EXISTS", ["message"] = "签约协议不存在" }, code);
            EndContract(c, "MCH_API_TERMINATE", (string)req!["contract_termination_remark"]!);
            return Signed(204, null, code);
        });
    }

    /// <summary>POST /v3/papay/contracts/{contract_id}/notify: 06:00–22:00 Beijing time only (RULE_LIMIT otherwise); sets the estimate.</summary>
    async Task<IResult> PreDebitNoticeAsync(HttpContext http, string contractId)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if ((string?)req?["appid"] != options.WeChatAppId || (string?)req?["mchid"] != options.WeChatMchId)
            return wire.Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        var count = (int?)req!["deduct_duration"]?["count"];
        var amount = (long?)req["estimated_amount"]?["amount"];
        var currency = (string?)req["estimated_amount"]?["currency"] ?? "CNY";
        if (count is not (>= 1 and <= 3) || (string?)req["deduct_duration"]?["unit"] != "DAY")
            return wire.Error(400, "PARAM_ERROR", "deduct_duration.count 应为 1-3，unit 应为 DAY");
        if (amount is not > 0 || currency != "CNY") return wire.Error(400, "PARAM_ERROR", "estimated_amount.amount 应大于 0，currency 应为 CNY");
        if (!contracts.TryGetByAlias(contractId, out var c)) return wire.Error(400, "CONTRACT_NOT_EXIST", "委托代扣协议不存在");
        requests.Record($"wechatpay papay notify signature verified contract_id={contractId} estimated_amount={amount} {currency}");
        var hour = papayClock().ToOffset(WeChatPayWire.CstOffset).Hour;
        if (hour is < 6 or >= 22) return wire.Error(400, "RULE_LIMIT", "预扣费通知仅可在每日 6:00-22:00 发送", sign: true);
        return await gate.PassAsync(c.OutContractCode, wire.Unavailable, () =>
        {
            lock (c)
            {
                if (c.State != "SIGNED") return wire.Error(400, "CONTRACT_TERMINATED", "委托代扣协议已解约", sign: true);
                c.Notice = (amount.Value, currency);
            }
            return Signed(204, null, c.OutContractCode);
        });
    }

    /// <summary>
    /// POST /v3/papay/pay/transactions/apply: ACCEPT at once (the same out_trade_no with the same fields answers the same),
    /// then settles ~200 ms later: SUCCESS (the notice is used up) or PAY_FAIL when a decline was asked for, each notified.
    /// </summary>
    async Task<IResult> ApplyDeductionAsync(HttpContext http)
    {
        var (req, refusal) = await wire.VerifyAsync(http);
        if (refusal is not null) return refusal;
        if ((string?)req?["appid"] != options.WeChatAppId) return wire.Error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        var outTradeNo = (string?)req!["out_trade_no"];
        var contractId = (string?)req["contract_id"];
        var total = (long?)req["amount"]?["total"];
        var currency = (string?)req["amount"]?["currency"] ?? "CNY";
        var notifyUrl = (string?)req["notify_url"] ?? (string?)req["transaction_notify_url"];
        if (string.IsNullOrEmpty(outTradeNo) || outTradeNo.Length is < 6 or > 32 || total is not > 0 || string.IsNullOrEmpty(notifyUrl)
            || string.IsNullOrEmpty((string?)req["description"]) || string.IsNullOrEmpty(contractId))
            return wire.Error(400, "PARAM_ERROR", "out_trade_no (6-32), description, contract_id, notify_url and amount.total are required");
        if (!contracts.TryGetByAlias(contractId, out var c)) return wire.Error(400, "CONTRACT_NOT_EXIST", "委托代扣协议不存在");
        requests.Record($"wechatpay papay apply signature verified contract_id={contractId} out_trade_no={outTradeNo} total={total} {currency}");
        return await gate.PassAsync(outTradeNo, wire.Unavailable, () =>
        {
            if (trades.TryGet(outTradeNo, out var existing))
                return existing.TradeType != "PAP" || existing.Total != total || existing.Currency != currency
                    ? wire.Error(400, "INVALID_REQUEST", "商户订单号重复", sign: true)
                    : Signed(200, DeductionView(existing), outTradeNo);
            lock (c)
            {
                if (c.State != "SIGNED") return wire.Error(400, "CONTRACT_TERMINATED", "委托代扣协议已解约", sign: true);
                if (c.Notice is not { } notice) return wire.Error(400, "RULE_LIMIT", "扣款前须先发送预扣费通知", sign: true);
                if (total > notice.Amount || currency != notice.Currency)
                    return wire.Error(400, "RULE_LIMIT", "扣款金额不可超过预扣费通知的预估金额", sign: true);
            }
            var trade = trades.GetOrAdd(outTradeNo, () => new WeChatTrade(
                "42000" + DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(1000, 9999).ToString(CultureInfo.InvariantCulture),
                outTradeNo, "", total.Value, currency, (string)req["description"]!, notifyUrl)
            {
                TradeType = "PAP", OpenId = Locked(c, x => x.OpenId), State = "ACCEPT",
            });
            _ = Task.Delay(200).ContinueWith(_ => SettleDeduction(trade, c), TaskScheduler.Default);
            return Signed(200, DeductionView(trade), outTradeNo);
        });
    }

    void SettleDeduction(WeChatTrade trade, WeChatContract contract)
    {
        bool declined;
        lock (contract)
        {
            declined = contract.DeclinesLeft > 0;
            if (declined) contract.DeclinesLeft--;
            else contract.Notice = null;
        }
        lock (trade)
        {
            if (trade.State != "ACCEPT") return;
            trade.State = declined ? "PAY_FAIL" : "SUCCESS";
            if (!declined) trade.PaidAt = DateTimeOffset.UtcNow;
        }
        notifier.SendPayment(wire.Notification(trade, trade.NotifyUrl, declined ? "TRANSACTION.FAIL" : "TRANSACTION.SUCCESS", "transaction",
            wire.TransactionView(trade), declined ? "扣款失败" : "支付成功"));
    }

    static JsonObject DeductionView(WeChatTrade t) => new()
    {
        ["out_trade_no"] = t.OutTradeNo, ["trade_state"] = Locked(t, x => x.State),
        ["amount"] = new JsonObject { ["total"] = t.Total, ["currency"] = t.Currency },
    };

    /// <summary>The buyer signs: a contract_id and the learner's openid, then ENTRUST.SIGN. Signing twice is the same contract.</summary>
    string? Sign(WeChatContract c)
    {
        lock (c)
        {
            if (c.State != "UNSIGNED") return c.ContractId;
            c.State = "SIGNED";
            c.ContractId = "2" + DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(CultureInfo.InvariantCulture);
            c.OpenId = SandboxOpenId(options.WeChatAppId);
            c.SignedAt = DateTimeOffset.UtcNow;
        }
        contracts.Alias(c.ContractId, c);
        notifier.Send(wire.Notification(c.OutContractCode, c.NotifyUrl, "ENTRUST.SIGN", "entrust", ContractView(c), "签约成功"));
        return c.ContractId;
    }

    /// <summary>Ends a signed contract (once) and sends ENTRUST.TERMINATE; answers the state it is in.</summary>
    string EndContract(WeChatContract c, string mode, string remark)
    {
        lock (c)
        {
            if (c.State != "SIGNED") return c.State;
            c.State = "TERMINATED";
            c.TerminatedAt = DateTimeOffset.UtcNow;
            c.TerminationMode = mode;
            c.TerminationRemark = remark;
            c.Notice = null;
        }
        notifier.Send(wire.Notification(c.OutContractCode, c.NotifyUrl, "ENTRUST.TERMINATE", "entrust", ContractView(c), "解约成功"));
        return "TERMINATED";
    }

    JsonObject ContractView(WeChatContract c)
    {
        lock (c)
        {
            var o = new JsonObject
            {
                ["mchid"] = options.WeChatMchId, ["appid"] = options.WeChatAppId, ["contract_id"] = c.ContractId,
                ["out_contract_code"] = c.OutContractCode, ["plan_id"] = long.Parse(c.PlanId, CultureInfo.InvariantCulture), ["openid"] = c.OpenId,
                ["out_user_code"] = c.OutUserCode, ["contract_display_account"] = c.DisplayAccount, ["contract_state"] = c.State,
                ["contract_signed_time"] = c.SignedAt is { } s ? WeChatPayWire.Rfc3339(s) : null,
                ["contract_expired_time"] = c.SignedAt is { } e ? WeChatPayWire.Rfc3339(e.AddYears(10)) : null,
            };
            if (c.TerminatedAt is { } t)
                o["contract_terminate_info"] = new JsonObject
                {
                    ["contract_terminated_time"] = WeChatPayWire.Rfc3339(t), ["contract_termination_mode"] = c.TerminationMode,
                    ["contract_termination_remark"] = c.TerminationRemark,
                };
            return o;
        }
    }

    /// <summary>The phone-sized sign page: what the learner agrees to, 同意并开通 while unsigned, 解约 once signed.</summary>
    IResult SignPage(string preEntrustId)
    {
        if (!contracts.TryGetByAlias(preEntrustId, out var c)) return Results.NotFound();
        var (state, display) = Locked(c, x => (x.State, x.DisplayAccount));
        var action = $"{options.BasePath}/wechatpay/papay/sign/{Uri.EscapeDataString(preEntrustId)}";
        return new BuyerPage("微信支付 委托代扣 (sandbox)", "开通自动续费 · 微信支付 (sandbox)", $"{display} · 模板 {c.PlanId}", "按月自动扣费", state)
        {
            Phone = true,
            QrLabel = "签约二维码 (redirect_url)",
            Qr = c.SignScene == "SIGN_SCENE_QRCODE" ? $"{options.PublicBaseUrl()}/wechatpay/papay/sign/{preEntrustId}" : null,
            ReturnUrl = c.ReturnUrl,
            Form = state switch
            {
                "UNSIGNED" => new BuyerForm(action, "sign", "同意并开通 Sign") { Hidden = [new("action", "sign")], Note = "每次扣费前微信会通知你，可随时在微信中解约。" },
                "SIGNED" => new BuyerForm(action, "terminate", "解约 Cancel") { Hidden = [new("action", "terminate")] },
                _ => null,
            },
        }.Render();
    }

    static string? PlanOf(JsonNode? plan) => plan switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToJsonString(),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => null,
    };

    static T Locked<T>(WeChatContract contract, Func<WeChatContract, T> read)
    {
        lock (contract) return read(contract);
    }
}
