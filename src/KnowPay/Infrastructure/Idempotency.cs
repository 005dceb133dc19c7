using System.Security.Cryptography;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// Idempotency-Key on mutating POSTs. The insert of (merchant, key) is the arbiter: the request whose insert
/// wins executes; a later one with the same body replays the stored response, with another body gets 409
/// idempotency_key_reused, and while the first is still running gets 409 idempotency_request_in_progress.
/// A first attempt that ends in a 5xx releases the key so that the client may retry.
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
        var path = http.Request.Path.ToString();
        // The arbiter insert runs on the request's own DbContext as one plain statement (autocommit, nothing tracked), so
        // the handler starts from a clean unit of work. Performance: it replaced a second DbContext scope and an EF
        // SaveChanges per keyed POST.
        var db = http.RequestServices.GetRequiredService<KnowPayDb>();
        try
        {
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO idempotency_keys (merchant_id, key, request_hash, path, created_at)
                VALUES ({merchant.Id}, {key}, {hash}, {path}, {clock.GetUtcNow().UtcDateTime})
                """, http.RequestAborted);
        }
        catch (Exception e) when (DbErrors.IsUniqueViolation(e))
        {
            var first = await db.IdempotencyRecords.AsNoTracking()
                .SingleAsync(r => r.MerchantId == merchant.Id && r.Key == key, http.RequestAborted);
            await AnswerRepeatAsync(http, first, hash);
            return;
        }

        var inFlight = new InFlightKey(merchant.Id, key);
        http.Items[typeof(InFlightKey)] = inFlight;
        var realBody = http.Response.Body;
        using var captured = new MemoryStream();
        http.Response.Body = captured;
        var completed = false;
        try
        {
            await next();
            completed = http.Response.StatusCode < 500;
        }
        finally
        {
            http.Response.Body = realBody;
            // A handler that stored its answer in its own commit (StoreAnswer) is done: that commit holds the order and the
            // answer together, so even a later failure must not release the key (a retry would do the work twice).
            if (!inFlight.StoredByHandler)
            {
                // Its own DbContext: the handler's context may be mid-transaction or broken afterwards.
                await using var scope = http.RequestServices.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
                var own = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
                if (completed)
                    await own.IdempotencyRecords.Where(r => r.MerchantId == merchant.Id && r.Key == key).ExecuteUpdateAsync(s => s
                        .SetProperty(r => r.StatusCode, http.Response.StatusCode)
                        .SetProperty(r => r.ContentType, http.Response.ContentType)
                        .SetProperty(r => r.ResponseBody, captured.ToArray())
                        .SetProperty(r => r.CompletedAt, clock.GetUtcNow().UtcDateTime), CancellationToken.None);
                else
                    await own.IdempotencyRecords.Where(r => r.MerchantId == merchant.Id && r.Key == key).ExecuteDeleteAsync(CancellationToken.None);
            }
        }
        captured.Position = 0;
        await captured.CopyToAsync(realBody, http.RequestAborted);
    });

    /// <summary>The Idempotency-Key this request executes (absent when the request carries none).</summary>
    sealed class InFlightKey(string merchantId, string key)
    {
        public string MerchantId { get; } = merchantId;
        public string Key { get; } = key;
        public bool StoredByHandler { get; set; }
    }

    /// <summary>
    /// For a handler that commits its work in one SaveChanges: stages the stored answer of the request's Idempotency-Key
    /// (if it has one) into that same SaveChanges, so the work and the answer a retry replays commit together — one
    /// round trip and one commit fewer than the middleware's own completing UPDATE, and no window in which the work is
    /// committed but the key still says "in progress". The handler must then answer exactly <paramref name="body"/>.
    /// Call <see cref="MarkStored"/> once that SaveChanges has succeeded.
    /// </summary>
    public static void StageAnswer(HttpContext http, KnowPayDb db, int statusCode, string contentType, byte[] body, DateTime now)
    {
        if (http.Items[typeof(InFlightKey)] is not InFlightKey inFlight) return;
        var record = new IdempotencyRecord { MerchantId = inFlight.MerchantId, Key = inFlight.Key, RequestHash = "", Path = "" };
        db.IdempotencyRecords.Attach(record);
        record.StatusCode = statusCode;
        record.ContentType = contentType;
        record.ResponseBody = body;
        record.CompletedAt = now;
    }

    /// <summary>The SaveChanges that carried <see cref="StageAnswer"/> succeeded: the middleware leaves the key as stored.</summary>
    public static void MarkStored(HttpContext http)
    {
        if (http.Items[typeof(InFlightKey)] is InFlightKey inFlight) inFlight.StoredByHandler = true;
    }

    static async Task AnswerRepeatAsync(HttpContext http, IdempotencyRecord first, string hash)
    {
        if (first.RequestHash != hash)
        {
            await Problems.WriteAsync(http, Problems.Conflict("idempotency_key_reused",
                "This Idempotency-Key was used with a different request; use a new key for a new request."));
            return;
        }
        if (first.CompletedAt is null)
        {
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
        var buffer = new byte[8192];
        int read;
        while ((read = await http.Request.Body.ReadAsync(buffer, http.RequestAborted)) > 0) sha.AppendData(buffer, 0, read);
        http.Request.Body.Position = 0;
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
