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
        var inFlight = new InFlightKey(merchant.Id, key, hash, http.Request.Path.ToString(), clock.GetUtcNow().UtcDateTime);
        var db = http.RequestServices.GetRequiredService<KnowPayDb>();
        // A handler marked ClaimedByHandler puts the arbiter insert into its own first round trip (ClaimSql); for any other
        // the insert runs here, on the request's own DbContext as one plain statement (autocommit, nothing tracked, so the
        // handler starts from a clean unit of work).
        if (http.GetEndpoint()?.Metadata.GetMetadata<ClaimedByHandler>() is null)
        {
            await db.Database.OpenConnectionAsync(http.RequestAborted);
            try
            {
                await using var command = db.Database.GetDbConnection().CreateCommand();
                command.CommandText = ClaimSql(inFlight, command, asynchronousCommit: false);
                inFlight.Claim = await command.ExecuteScalarAsync(http.RequestAborted) is not null ? KeyClaim.Claimed : KeyClaim.Taken;
            }
            finally
            {
                await db.Database.CloseConnectionAsync();
            }
            if (inFlight.Claim == KeyClaim.Taken)
            {
                await AnswerRepeatAsync(http, db, inFlight);
                return;
            }
        }

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
            // A handler that stored its answer in its own commit (StageAnswer) is done: that commit holds the order and the
            // answer together, so even a later failure must not release the key (a retry would do the work twice).
            if (!inFlight.StoredByHandler && inFlight.Claim != KeyClaim.Taken)
            {
                // Its own DbContext: the handler's context may be mid-transaction or broken afterwards.
                await using var scope = http.RequestServices.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
                var own = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
                var now = clock.GetUtcNow().UtcDateTime;
                if (inFlight.Claim == KeyClaim.NotYet)
                {
                    // Answered before the handler claimed the key (a validation problem): stored as answered. If the key is
                    // already held, this request is a retry (or reuse) of that one and is answered as such, like any other.
                    if (completed && 0 == await own.Database.ExecuteSqlAsync($"""
                            INSERT INTO idempotency_keys (merchant_id, key, request_hash, path, created_at, status_code, content_type, response_body, completed_at)
                            VALUES ({inFlight.MerchantId}, {inFlight.Key}, {inFlight.RequestHash}, {inFlight.Path}, {inFlight.CreatedAt},
                                    {http.Response.StatusCode}, {http.Response.ContentType}, {captured.ToArray()}, {now})
                            ON CONFLICT DO NOTHING
                            """, CancellationToken.None))
                        inFlight.Claim = KeyClaim.Taken;
                }
                else if (completed)
                    await own.IdempotencyRecords.Where(r => r.MerchantId == merchant.Id && r.Key == key).ExecuteUpdateAsync(s => s
                        .SetProperty(r => r.StatusCode, http.Response.StatusCode)
                        .SetProperty(r => r.ContentType, http.Response.ContentType)
                        .SetProperty(r => r.ResponseBody, captured.ToArray())
                        .SetProperty(r => r.CompletedAt, now), CancellationToken.None);
                else
                    await own.IdempotencyRecords.Where(r => r.MerchantId == merchant.Id && r.Key == key).ExecuteDeleteAsync(CancellationToken.None);
            }
        }
        if (inFlight.Claim == KeyClaim.Taken)
        {
            // The handler found the key claimed by an earlier request: answer as that request's replay (nothing was written).
            http.Response.Clear();
            await AnswerRepeatAsync(http, db, inFlight);
            return;
        }
        captured.Position = 0;
        await captured.CopyToAsync(realBody, http.RequestAborted);
    });

    /// <summary>Endpoint metadata: the handler claims the Idempotency-Key itself, in its first round trip (<see cref="ClaimSql(HttpContext, System.Data.Common.DbCommand, bool)"/>).</summary>
    public sealed class ClaimedByHandler
    {
        public static readonly ClaimedByHandler Instance = new();
        ClaimedByHandler() { }
    }

    /// <summary>Where the arbiter insert stands: not run yet (a handler that claims the key itself has not reached its first
    /// round trip), won (this request executes), or lost (an earlier request holds the key: answer as its replay).</summary>
    enum KeyClaim { NotYet, Claimed, Taken }

    /// <summary>The Idempotency-Key this request executes (absent when the request carries none).</summary>
    sealed class InFlightKey(string merchantId, string key, string requestHash, string path, DateTime createdAt)
    {
        public string MerchantId { get; } = merchantId;
        public string Key { get; } = key;
        public string RequestHash { get; } = requestHash;
        public string Path { get; } = path;
        public DateTime CreatedAt { get; } = createdAt;
        public KeyClaim Claim { get; set; }
        public bool StoredByHandler { get; set; }
    }

    /// <summary>
    /// For a handler marked <see cref="ClaimedByHandler"/>: the arbiter insert as a statement to put FIRST in the handler's
    /// first command (performance: one round trip for the claim and the handler's first read). It returns one row when this
    /// request claimed the key and none when an earlier request holds it; pass what the reader saw to <see cref="Claimed(HttpContext, bool)"/>.
    /// Null when the request carries no key. Plain SQL, the same on PostgreSQL and SQLite.
    /// <paramref name="asynchronousCommit"/>: the claim commits without waiting for its log to reach the disk — on
    /// PostgreSQL the returned value is <c>set_config('synchronous_commit', 'off', true)</c>, evaluated only when the claim
    /// row is written (no extra statement); on SQLite the insert runs between <c>PRAGMA synchronous = NORMAL</c> and
    /// <c>= FULL</c> (in WAL mode NORMAL does not sync the WAL at commit; each newly opened connection is set back to FULL,
    /// see <c>SqliteConnectionPragmas</c>). Either way the log is append-only, so the next durable commit makes the claim
    /// durable too. Only for a handler whose own write follows with a durable commit and whose provider call may safely
    /// run twice if a crash loses the claim (see CreateOrder).
    /// </summary>
    public static string? ClaimSql(HttpContext http, System.Data.Common.DbCommand command, bool asynchronousCommit) =>
        http.Items[typeof(InFlightKey)] is InFlightKey { Claim: KeyClaim.NotYet } inFlight ? ClaimSql(inFlight, command, asynchronousCommit) : null;

    static string ClaimSql(InFlightKey inFlight, System.Data.Common.DbCommand command, bool asynchronousCommit)
    {
        command.AddParameter("@ik_merchant", inFlight.MerchantId);
        command.AddParameter("@ik_key", inFlight.Key);
        command.AddParameter("@ik_hash", inFlight.RequestHash);
        command.AddParameter("@ik_path", inFlight.Path);
        command.AddParameter("@ik_created", inFlight.CreatedAt);
        if (!asynchronousCommit) return ClaimInsert + " 1;\n";
        return command is Npgsql.NpgsqlCommand
            ? ClaimInsert + " set_config('synchronous_commit', 'off', true);\n"
            : "PRAGMA synchronous = NORMAL;\n" + ClaimInsert + " 1;\nPRAGMA synchronous = FULL;\n";
    }

    const string ClaimInsert = """
        INSERT INTO idempotency_keys (merchant_id, key, request_hash, path, created_at)
        VALUES (@ik_merchant, @ik_key, @ik_hash, @ik_path, @ik_created) ON CONFLICT DO NOTHING RETURNING
        """;

    /// <summary>What the claim statement returned: true = this request executes; false = the handler must write nothing and
    /// return <see cref="AnsweredByFirstRequest"/> (the middleware answers as the earlier request's replay).</summary>
    public static void Claimed(HttpContext http, bool claimed)
    {
        if (http.Items[typeof(InFlightKey)] is not InFlightKey inFlight) return;
        inFlight.Claim = claimed ? KeyClaim.Claimed : KeyClaim.Taken;
    }

    /// <summary>The handler's result when the key was taken: the middleware replaces it with the earlier request's answer.</summary>
    public static Microsoft.AspNetCore.Http.HttpResults.EmptyHttpResult AnsweredByFirstRequest => TypedResults.Empty;

    /// <summary>
    /// For a handler that commits its work in one statement or SaveChanges: stages the stored answer of the request's
    /// Idempotency-Key (if it has one) with that work's rows, so the work and the answer a retry replays commit together — one
    /// round trip and one commit fewer than the middleware's own completing UPDATE, and no window in which the work is
    /// committed but the key still says "in progress". The handler must then answer exactly <paramref name="body"/>.
    /// Call <see cref="MarkStored"/> once that commit has succeeded.
    /// </summary>
    public static void StageAnswer(HttpContext http, StagedRows rows, int statusCode, string contentType, byte[] body, DateTime now)
    {
        if (http.Items[typeof(InFlightKey)] is not InFlightKey { Claim: KeyClaim.Claimed } inFlight) return;
        rows.Update(new IdempotencyRecord
        {
            MerchantId = inFlight.MerchantId, Key = inFlight.Key, RequestHash = "", Path = "",
            StatusCode = statusCode, ContentType = contentType, ResponseBody = body, CompletedAt = now,
        }, nameof(IdempotencyRecord.StatusCode), nameof(IdempotencyRecord.ContentType), nameof(IdempotencyRecord.ResponseBody), nameof(IdempotencyRecord.CompletedAt));
    }

    /// <summary>The commit that carried <see cref="StageAnswer"/> succeeded: the middleware leaves the key as stored.</summary>
    public static void MarkStored(HttpContext http)
    {
        if (http.Items[typeof(InFlightKey)] is InFlightKey inFlight) inFlight.StoredByHandler = true;
    }

    static async Task AnswerRepeatAsync(HttpContext http, KnowPayDb db, InFlightKey inFlight)
    {
        var first = await db.IdempotencyRecords.AsNoTracking()
            .SingleAsync(r => r.MerchantId == inFlight.MerchantId && r.Key == inFlight.Key, http.RequestAborted);
        await AnswerRepeatAsync(http, first, inFlight.RequestHash);
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
