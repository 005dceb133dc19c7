using System.Security.Cryptography;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// Idempotency-Key on mutating POSTs. The insert of (merchant, key) is the arbiter: the request whose insert
/// wins executes; a later one with the same body replays the stored response, with another body gets 409
/// idempotency_key_reused, and while the first is still running gets 409 idempotency_request_in_progress.
/// A first attempt that ends in a 5xx releases the key so that the client may retry; one that died (a crash) holds it
/// for <c>Idempotency:LeaseSeconds</c>, then a retry takes it over (see <see cref="IdempotencyClaim"/>).
/// </summary>
public static class Idempotency
{
    public const string Header = "Idempotency-Key";

    public static void UseIdempotencyKeys(this WebApplication app) => app.Use(async (http, next) =>
    {
        var key = http.Request.Headers[Header].ToString();
        if (!HttpMethods.IsPost(http.Request.Method) || string.IsNullOrEmpty(key) ||
            http.Items[typeof(AuthenticatedMerchant)] is not AuthenticatedMerchant merchant)
        {
            await next();
            return;
        }
        if (key.Length > 200)
        {
            await Problems.WriteAsync(http, Problems.BadRequest("idempotency_key_invalid", "Idempotency-Key must be at most 200 characters."));
            return;
        }

        http.Request.EnableBuffering();
        var hash = await HashRequestAsync(http);
        var clock = http.RequestServices.GetRequiredService<TimeProvider>();
        var lease = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<IdempotencyOptions>>().Value.LeaseSeconds;
        var claim = new IdempotencyClaim(merchant.Id, key, hash, http.Request.Path.ToString(), clock.GetUtcNow().UtcDateTime, lease);
        var db = http.RequestServices.GetRequiredService<KnowPayDb>();
        // A handler marked ClaimedByHandler claims the key in its own first round trip; for any other the claim runs here.
        if (http.GetEndpoint()?.Metadata.GetMetadata<ClaimedByHandler>() is null && !await claim.ClaimAsync(db, http.RequestAborted))
        {
            await AnswerRepeatAsync(http, db, claim);
            return;
        }

        http.Items[typeof(IdempotencyClaim)] = claim;
        var realBody = http.Response.Body;
        using var captured = new MemoryStream();
        http.Response.Body = captured;
        var succeeded = false;
        try
        {
            await next();
            succeeded = http.Response.StatusCode < 500;
        }
        finally
        {
            http.Response.Body = realBody;
            if (claim.IsOpen)
            {
                // Its own DbContext: the handler's context may be mid-transaction or broken afterwards.
                await using var scope = http.RequestServices.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
                var own = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
                if (succeeded)
                    await claim.CompleteAsync(own, http.Response.StatusCode, http.Response.ContentType,
                        http.Items[ReplayBody] as byte[] ?? captured.ToArray(), clock.GetUtcNow().UtcDateTime);
                else
                    await claim.ReleaseAsync(own);
            }
        }
        if (claim.IsTaken)
        {
            // The key is held by an earlier request: answer as that request's replay (this one wrote nothing).
            http.Response.Clear();
            await AnswerRepeatAsync(http, db, claim);
            return;
        }
        captured.Position = 0;
        await captured.CopyToAsync(realBody, http.RequestAborted);
    });

    static readonly object ReplayBody = new();

    /// <summary>Stores <paramref name="answer"/> for replays instead of the answer sent: an answer revealing a secret (a new
    /// API key) is sent once, and its secret never rests in the idempotency table.</summary>
    public static void ReplayWith(HttpContext http, object answer) =>
        http.Items[ReplayBody] = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(answer, KnowPayJson.Options);

    /// <summary>Endpoint metadata: the handler claims the Idempotency-Key itself, in its first round trip (<see cref="IdempotencyClaim.ClaimStatement"/>).</summary>
    public sealed class ClaimedByHandler
    {
        public static readonly ClaimedByHandler Instance = new();
        ClaimedByHandler() { }
    }

    /// <summary>The handler's result when the key was taken: the middleware replaces it with the earlier request's answer.</summary>
    public static Microsoft.AspNetCore.Http.HttpResults.EmptyHttpResult AnsweredByFirstRequest => TypedResults.Empty;

    static async Task AnswerRepeatAsync(HttpContext http, KnowPayDb db, IdempotencyClaim claim)
    {
        var first = await db.IdempotencyRecords.AsNoTracking()
            .SingleOrDefaultAsync(r => r.MerchantId == claim.MerchantId && r.Key == claim.Key, http.RequestAborted);
        if (first is null)
        {
            // The attempt that held the key failed and released it after this one found it held: nothing was done here, so
            // the client's retry claims the key and executes.
            http.Response.Headers.RetryAfter = "1";
            await Problems.WriteAsync(http, Problems.Conflict("idempotency_request_in_progress",
                "A request with this Idempotency-Key was still being processed; retry later."));
            return;
        }
        await AnswerRepeatAsync(http, first, claim);
    }

    static async Task AnswerRepeatAsync(HttpContext http, IdempotencyRecord first, IdempotencyClaim claim)
    {
        var hash = claim.RequestHash;
        if (first.RequestHash != hash)
        {
            await Problems.WriteAsync(http, Problems.Conflict("idempotency_key_reused",
                "This Idempotency-Key was used with a different request; use a new key for a new request."));
            return;
        }
        if (first.CompletedAt is null)
        {
            var leaseLeft = (first.ClaimedAt ?? first.CreatedAt) + claim.Lease - claim.CreatedAt;
            http.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(leaseLeft.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await Problems.WriteAsync(http, Problems.Conflict("idempotency_request_in_progress",
                "A request with this Idempotency-Key is still being processed; retry later."));
            return;
        }
        http.Response.StatusCode = first.StatusCode ?? 200;
        if (first.ContentType is not null) http.Response.ContentType = first.ContentType;
        http.Response.Headers["Idempotent-Replayed"] = "true";
        if (first.ResponseBody is { Length: > 0 } body) await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }

    static async Task<string> HashRequestAsync(HttpContext http)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(http.Request.Method + " " + http.Request.Path + "\n"));
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(8192); // not a new 8 KB per request
        try
        {
            int read;
            while ((read = await http.Request.Body.ReadAsync(buffer, http.RequestAborted)) > 0) sha.AppendData(buffer, 0, read);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        http.Request.Body.Position = 0;
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
