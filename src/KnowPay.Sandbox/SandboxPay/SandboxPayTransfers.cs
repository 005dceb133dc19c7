
namespace KnowPay.Sandbox.SandboxPay;

/// <summary>
/// SandboxPay transfers (payouts to a payee), signed exactly like the rest of SandboxPay.
/// <c>POST /sandboxpay/v1/transfers</c> {out_transfer_no, amount, currency, payee, notify_url} answers PROCESSING at once
/// (a repeat with the same out_transfer_no returns the same transfer, in its current state); a moment later
/// (<see cref="SettleDelay"/>) the transfer is SUCCESS or FAILED and a signed notification
/// {id, type: "transfer.succeeded" | "transfer.failed", data: transfer} goes to notify_url, retried until a 2xx.
/// <c>GET /sandboxpay/v1/transfers/{out_transfer_no}</c> queries. Faults: <see cref="SandboxFaults"/> keyed by
/// out_transfer_no (5xx, stall, dropped / duplicated / delayed notifications), and failing payees
/// (<see cref="FailPayee"/> or <c>POST /sandboxpay/v1/transfers/faults</c> {payee, failure_code}).
/// </summary>
public sealed class SandboxPayTransfers(SandboxOptions options, SandboxNotifier notifier, FaultGate gate, SandboxPayWire wire)
{
    static readonly TimeSpan[] RetrySchedule = SandboxPayWire.RetrySchedule;

    readonly TradeStore<Transfer> transfers = new(options, t => t.Status == "PROCESSING");
    readonly ConcurrentDictionary<string, string> failingPayees = new();

    /// <summary>How long a transfer stays PROCESSING before it settles or fails.</summary>
    public TimeSpan SettleDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>A payout by the merchant's out_transfer_no; lock it to read or change its state.</summary>
    sealed record Transfer(string TransferNo, string OutTransferNo, long Amount, string Currency, string Payee, string NotifyUrl, DateTimeOffset CreatedAt)
    {
        public string Status { get; set; } = "PROCESSING";
        public string? FailureCode { get; set; }
        public DateTimeOffset? FinishedAt { get; set; }
    }

    /// <summary>Every transfer to this payee from now on fails with the code.</summary>
    public void FailPayee(string payee, string failureCode = "payee_account_invalid") => failingPayees[payee] = failureCode;

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/sandboxpay/v1/transfers");
        g.MapPost("", (Delegate)Create);
        g.MapGet("/{outTransferNo}", Query);
        g.MapPost("/faults", (FailPayeeRequest body) =>
        {
            if (string.IsNullOrEmpty(body.Payee)) return Error(400, "invalid_request", "payee is required");
            if (body.FailureCode is null) failingPayees.TryRemove(body.Payee, out _);
            else FailPayee(body.Payee, body.FailureCode);
            return Results.NoContent();
        });
    }

    public sealed record FailPayeeRequest(string? Payee, string? FailureCode);

    async Task<IResult> Create(HttpContext http)
    {
        var (ok, body, refusal) = await VerifyRequestAsync(http);
        if (!ok) return refusal!;
        JsonObject req;
        try { req = JsonNode.Parse(body)!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException) { return Error(400, "invalid_request", "body is not a JSON object"); }
        var outTransferNo = (string?)req["out_transfer_no"];
        var amount = (long?)req["amount"];
        var currency = ((string?)req["currency"])?.ToUpperInvariant();
        var payee = (string?)req["payee"];
        var notifyUrl = (string?)req["notify_url"];
        if (string.IsNullOrEmpty(outTransferNo) || amount is not > 0 || string.IsNullOrEmpty(currency) || string.IsNullOrEmpty(payee) || string.IsNullOrEmpty(notifyUrl))
            return Error(400, "invalid_request", "out_transfer_no, amount (>0), currency, payee and notify_url are required");
        return await gate.PassAsync(outTransferNo, SandboxPayWire.Unavailable, () =>
        {
            Transfer? fresh = null;
            var transfer = transfers.GetOrAdd(outTransferNo, () => fresh = new Transfer(
                "sbt_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)), outTransferNo, amount.Value, currency, payee, notifyUrl,
                DateTimeOffset.UtcNow));
            if (transfer.Amount != amount || transfer.Currency != currency || transfer.Payee != payee)
                return Error(409, "out_transfer_no_reused", "out_transfer_no exists with another amount, currency or payee");
            if (ReferenceEquals(transfer, fresh)) _ = Task.Run(() => SettleLaterAsync(transfer));
            return Signed(View(transfer));
        });
    }

    async Task<IResult> Query(HttpContext http, string outTransferNo)
    {
        var (ok, _, refusal) = await VerifyRequestAsync(http);
        if (!ok) return refusal!;
        return await gate.PassAsync(outTransferNo, SandboxPayWire.Unavailable, () =>
            transfers.TryGet(outTransferNo, out var t) ? Signed(View(t)) : Error(404, "transfer_not_found", "no such transfer"));
    }

    async Task SettleLaterAsync(Transfer transfer)
    {
        await Task.Delay(SettleDelay);
        lock (transfer)
        {
            if (transfer.Status != "PROCESSING") return;
            if (failingPayees.TryGetValue(transfer.Payee, out var code))
            {
                transfer.Status = "FAILED";
                transfer.FailureCode = code;
            }
            else transfer.Status = "SUCCESS";
            transfer.FinishedAt = DateTimeOffset.UtcNow;
        }
        var body = JsonSerializer.Serialize(new
        {
            id = "ntf_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            type = transfer.Status == "SUCCESS" ? "transfer.succeeded" : "transfer.failed",
            data = View(transfer),
        });
        notifier.Send(new OutgoingNotification("sandboxpay", transfer.OutTransferNo, transfer.NotifyUrl,
            () => SandboxNotifier.Post(transfer.NotifyUrl, body, "application/json", [new(SandboxPaySimulator.SignatureHeader, Sign(body))]),
            (response, _) => response.IsSuccessStatusCode, RetrySchedule));
    }

    static object View(Transfer t) => new
    {
        transfer_no = t.TransferNo, out_transfer_no = t.OutTransferNo, status = t.Status, amount = t.Amount, currency = t.Currency,
        payee = t.Payee, failure_code = t.FailureCode, created_at = t.CreatedAt.ToUnixTimeSeconds(), finished_at = t.FinishedAt?.ToUnixTimeSeconds(),
    };

    Task<(bool Ok, string Body, IResult? Refusal)> VerifyRequestAsync(HttpContext http) => wire.VerifyRequestAsync(http);
    IResult Signed(object value) => wire.Signed(value);
    string Sign(string payload) => wire.Sign(payload);
    static IResult Error(int status, string code, string message) => SandboxPayWire.Error(status, code, message);
}
