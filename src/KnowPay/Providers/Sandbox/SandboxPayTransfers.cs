using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Features.Payouts;
using KnowPay.Infrastructure;

namespace KnowPay.Providers.Sandbox;

/// <summary>
/// SandboxPay transfers, KnowPay's side: payouts are sent as signed <c>POST /v1/transfers</c> (out_transfer_no = payout id,
/// so a repeat is idempotent and doubles as a query), the response signature is verified before it is read.
/// </summary>
public sealed class SandboxPayTransferClient(HttpClient http, SandboxPaySettings settings, PublicUrl publicUrl, TimeProvider clock) : IPayoutRail
{
    public const string HttpClientName = "provider-sandbox-transfers";
    public const string NotifyPath = "/v1/notify/sandbox-transfers";
    public string Name => "sandbox";

    public async Task<TransferResult> SendAsync(TransferRequest request, CancellationToken ct)
    {
        var json = new JsonObject
        {
            ["out_transfer_no"] = request.PayoutId, ["amount"] = request.Amount, ["currency"] = request.Currency, ["payee"] = request.Payee,
            ["notify_url"] = publicUrl.Combine(NotifyPath),
        }.ToJsonString();
        var uri = new Uri(settings.ApiBaseUrl.TrimEnd('/') + "/v1/transfers");
        using var message = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        message.Headers.TryAddWithoutValidation("SandboxPay-Signature", HmacSignature.Sign(settings.Secret, $"POST {uri.AbsolutePath}{uri.Query}.{json}", clock.GetUtcNow()));
        var response = await ProviderHttp.SendAsync(http, message, Name, maybeApplied: true, ct);
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                // 401 (our signature refused) and 4xx refusals did not create a transfer; 5xx may have.
                throw ProviderHttp.Refused(Name, response, TryCode(text));
            }
            var signature = response.Headers.TryGetValues("SandboxPay-Signature", out var values) ? values.FirstOrDefault() : null;
            if (!HmacSignature.Verify(settings.Secret, signature, text, clock.GetUtcNow(), ProviderProtocol.SignatureTolerance))
                throw new ProviderException(Name, "response_signature_invalid", "the response signature did not verify; the answer is ignored", maybeApplied: true);
            return Result(JsonNode.Parse(text)?.AsObject());
        }
    }

    /// <summary>Maps a SandboxPay transfer object (the answer, or a notification's data) to a transfer result.</summary>
    public static TransferResult Result(JsonObject? transfer) => (string?)transfer?["status"] switch
    {
        "SUCCESS" => new TransferResult(TransferStatus.Succeeded, (string?)transfer!["transfer_no"]),
        "FAILED" => new TransferResult(TransferStatus.Failed, (string?)transfer!["transfer_no"], (string?)transfer["failure_code"] ?? "transfer_failed"),
        _ => new TransferResult(TransferStatus.Processing, (string?)transfer?["transfer_no"]),
    };

    static string? TryCode(string text)
    {
        try { return (string?)JsonNode.Parse(text)?["error"]; }
        catch (JsonException) { return null; }
    }
}

/// <summary>
/// POST /v1/notify/sandbox-transfers: SandboxPay's transfer notifications (payouts have their own endpoint; trades stay
/// on /v1/notify/sandbox). Verify the signature on the raw body, then the amount and currency against our payout, then
/// settle or reverse it exactly once. 2xx acknowledges (also a replay, which posts nothing); 4xx refuses a forgery.
/// </summary>
public static class SandboxPayTransferNotify
{
    public static void Map(IEndpointRouteBuilder notify) => notify.MapPost("/sandbox-transfers", Handle).ExcludeFromDescription();

    static async Task<IResult> Handle(HttpContext http, KnowPayDb db, SandboxPaySettings settings, TimeProvider clock, ILoggerFactory logs, CancellationToken ct)
    {
        var log = logs.CreateLogger(nameof(SandboxPayTransferNotify));
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync(ct);
        if (!HmacSignature.Verify(settings.Secret, http.Request.Headers["SandboxPay-Signature"], body, clock.GetUtcNow(), ProviderProtocol.SignatureTolerance))
        {
            log.LogWarning("Security: sandbox transfer notification with a bad signature refused");
            return Results.Json(new { error = "invalid_signature" }, statusCode: 401);
        }
        JsonObject note;
        try { note = JsonNode.Parse(body)!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException) { return Results.Json(new { error = "invalid_body" }, statusCode: 400); }
        var type = (string?)note["type"];
        if (type is not ("transfer.succeeded" or "transfer.failed") || note["data"] is not JsonObject data)
            return Results.Ok(new { received = true, ignored = type });

        var result = SandboxPayTransferClient.Result(data);
        if (result.Status == TransferStatus.Processing) return Results.Ok(new { received = true });
        var outcome = await PayoutSettlement.ApplyAsync(db, (string?)data["out_transfer_no"] ?? "", result, clock.GetUtcNow().UtcDateTime, log, ct,
            (long?)data["amount"] ?? -1, (string?)data["currency"] ?? "");
        return outcome switch
        {
            PayoutOutcome.Applied or PayoutOutcome.NoChange => Results.Ok(new { received = true }),
            PayoutOutcome.UnknownPayout => Results.Json(new { error = "unknown_transfer" }, statusCode: 404),
            PayoutOutcome.Mismatch => Results.Json(new { error = "amount_mismatch" }, statusCode: 400),
            _ => throw new InvalidOperationException(),
        };
    }
}
