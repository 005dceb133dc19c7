using System.Data.Common;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// One request's Idempotency-Key and its protocol: claim (the insert of (merchant, key) is the arbiter: it wins or finds
/// the key taken) → complete (the answer a retry replays is stored) or release (the key is deleted, so that a retry
/// executes). <see cref="Idempotency.UseIdempotencyKeys"/> creates it and completes or releases it after the handler;
/// a handler marked <see cref="Idempotency.ClaimedByHandler"/> takes it as a parameter, claims it in its own first round
/// trip and may complete it in its business commit, so that the work and its stored answer commit together.
/// A claim is a lease: a key still in progress <c>Idempotency:LeaseSeconds</c> after its attempt claimed it belonged to
/// an attempt that died (a crash), and a retry with the same request takes it over — the same conditional upsert, so
/// of two racing retries one wins. The handler's re-run is safe: an order's answer commits with the order (a key still
/// in progress has no order), a refund is linked to its key and resumed (<see cref="Refund.IdempotencyKey"/>).
/// </summary>
public sealed class IdempotencyClaim(string merchantId, string key, string requestHash, string path, DateTime createdAt, int leaseSeconds = 60)
{
    enum State { Unclaimed, Claimed, Taken, Completed }

    State state;

    public string MerchantId { get; } = merchantId;
    public string Key { get; } = key;
    public string RequestHash { get; } = requestHash;
    /// <summary>The request's path as stored: at most <see cref="MaxPathLength"/> characters (a longer one is cut and
    /// suffixed with its SHA-256, so that any path can be stored; the request hash covers the full path anyway).</summary>
    public string Path { get; } = Stored(path);
    /// <summary>When this attempt claimed the key, in whole microseconds (PostgreSQL's precision: the release matches on it).</summary>
    public DateTime CreatedAt { get; } = createdAt.AddTicks(-(createdAt.Ticks % 10));
    public TimeSpan Lease { get; } = TimeSpan.FromSeconds(leaseSeconds);

    /// <summary>The path column's length.</summary>
    public const int MaxPathLength = 200;

    static string Stored(string path) => path.Length <= MaxPathLength ? path
        : path[..(MaxPathLength - 65)] + "~" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(path)));

    /// <summary>An earlier request holds the key: this one writes nothing and is answered as that request's replay.</summary>
    public bool IsTaken => state == State.Taken;

    /// <summary>Still to be completed or released by the middleware (claimed, or answered before any claim).</summary>
    internal bool IsOpen => state is State.Unclaimed or State.Claimed;

    /// <summary>Parameter binding: the request's claim; null when the request carries no Idempotency-Key.</summary>
    public static ValueTask<IdempotencyClaim?> BindAsync(HttpContext http) =>
        ValueTask.FromResult(http.Items[typeof(IdempotencyClaim)] as IdempotencyClaim);

    /// <summary>The claim as one plain statement on <paramref name="db"/> (autocommit, nothing tracked, so the handler
    /// starts from a clean unit of work). False: the key is taken.</summary>
    internal async Task<bool> ClaimAsync(KnowPayDb db, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = Statement(command.AddParameter, command is Npgsql.NpgsqlCommand, asynchronousCommit: false);
            Claimed(await command.ExecuteScalarAsync(ct) is not null);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
        return state == State.Claimed;
    }

    /// <summary>
    /// For a handler marked <see cref="Idempotency.ClaimedByHandler"/>: the claim as a statement to put FIRST in the handler's
    /// first command (performance: one round trip for the claim and the handler's first read). It returns one row when this
    /// request claimed the key and none when an earlier request holds it; pass what the reader saw to <see cref="Claimed"/>.
    /// Null when already claimed. Plain SQL, the same on PostgreSQL and SQLite.
    /// <paramref name="asynchronousCommit"/>: the claim commits without waiting for its log to reach the disk — on
    /// PostgreSQL the returned value is <c>set_config('synchronous_commit', 'off', true)</c>, evaluated only when the claim
    /// row is written (no extra statement); on SQLite the insert runs between <c>PRAGMA synchronous = NORMAL</c> and
    /// <c>= FULL</c> (in WAL mode NORMAL does not sync the WAL at commit; each newly opened connection is set back to FULL,
    /// see <c>SqliteConnectionPragmas</c>). Either way the log is append-only, so the next durable commit makes the claim
    /// durable too. Only for a handler whose own write follows with a durable commit and whose provider call may safely
    /// run twice if a crash loses the claim (see CreateOrder).
    /// </summary>
    public string? ClaimStatement(DbCommand command, bool asynchronousCommit) =>
        state == State.Unclaimed ? Statement(command.AddParameter, command is Npgsql.NpgsqlCommand, asynchronousCommit) : null;

    /// <summary><see cref="ClaimStatement"/> as a batch command, for a handler whose first round trip on PostgreSQL is an
    /// <see cref="Npgsql.NpgsqlBatch"/>. Null when already claimed.</summary>
    public Npgsql.NpgsqlBatchCommand? ClaimCommand(bool asynchronousCommit)
    {
        if (state != State.Unclaimed) return null;
        var command = new Npgsql.NpgsqlBatchCommand();
        command.CommandText = Statement((name, value) => command.Parameters.AddWithValue(name, value), postgres: true, asynchronousCommit);
        return command;
    }

    string Statement(Action<string, object> addParameter, bool postgres, bool asynchronousCommit)
    {
        addParameter("@ik_merchant", MerchantId);
        addParameter("@ik_key", Key);
        addParameter("@ik_hash", RequestHash);
        addParameter("@ik_path", Path);
        addParameter("@ik_created", CreatedAt);
        addParameter("@ik_lease_expired", CreatedAt - Lease);
        if (!asynchronousCommit) return ClaimInsert + " 1;\n";
        return postgres
            ? ClaimInsert + " set_config('synchronous_commit', 'off', true);\n"
            : "PRAGMA synchronous = NORMAL;\n" + ClaimInsert + " 1;\nPRAGMA synchronous = FULL;\n";
    }

    // Inserts the key, or takes over one whose attempt's lease expired (same request, not completed); returns a row
    // only then. On PostgreSQL a racing retry blocks on the row and re-checks the WHERE against the winner's claimed_at.
    const string ClaimInsert = """
        INSERT INTO idempotency_keys (merchant_id, key, request_hash, path, created_at, claimed_at)
        VALUES (@ik_merchant, @ik_key, @ik_hash, @ik_path, @ik_created, @ik_created)
        ON CONFLICT (merchant_id, key) DO UPDATE SET claimed_at = excluded.claimed_at
        WHERE idempotency_keys.completed_at IS NULL AND idempotency_keys.request_hash = excluded.request_hash
          AND (idempotency_keys.claimed_at IS NULL OR idempotency_keys.claimed_at < @ik_lease_expired)
        RETURNING
        """;

    /// <summary>What the claim statement returned: true = this request executes; false = the handler must write nothing and
    /// return <see cref="Idempotency.AnsweredByFirstRequest"/>.</summary>
    public void Claimed(bool won) => state = won ? State.Claimed : State.Taken;

    /// <summary>
    /// For a handler that commits its work in one statement or SaveChanges: stages the key's stored answer with that work's
    /// rows, so the work and the answer a retry replays commit together (no window in which the work is committed but the
    /// key still says "in progress"). The handler must then answer exactly <paramref name="body"/>, and call
    /// <see cref="Completed"/> once that commit has succeeded. Nothing is staged unless this request holds the key.
    /// </summary>
    public void StageCompletion(StagedRows rows, int statusCode, string contentType, byte[] body, DateTime now)
    {
        if (state != State.Claimed) return;
        rows.Update(new IdempotencyRecord
        {
            MerchantId = MerchantId, Key = Key, RequestHash = "", Path = "",
            StatusCode = statusCode, ContentType = contentType, ResponseBody = body, CompletedAt = now,
        }, nameof(IdempotencyRecord.StatusCode), nameof(IdempotencyRecord.ContentType), nameof(IdempotencyRecord.ResponseBody), nameof(IdempotencyRecord.CompletedAt));
    }

    /// <summary>The commit that carried <see cref="StageCompletion"/> succeeded: the key stays stored, even if the request
    /// fails afterwards (a retry would do the work twice).</summary>
    public void Completed()
    {
        if (state == State.Claimed) state = State.Completed;
    }

    /// <summary>
    /// Stores the answer a retry replays. Claimed: the key's row gets it. Unclaimed (answered before the handler claimed the
    /// key, e.g. a validation problem): the key is inserted as answered — unless it is held already, and then this request
    /// is a retry (or reuse) of that one and is answered as such (<see cref="IsTaken"/>).
    /// </summary>
    internal async Task CompleteAsync(KnowPayDb own, int statusCode, string? contentType, byte[] body, DateTime now)
    {
        if (state == State.Unclaimed)
        {
            if (0 == await own.Database.ExecuteSqlAsync($"""
                    INSERT INTO idempotency_keys (merchant_id, key, request_hash, path, created_at, claimed_at, status_code, content_type, response_body, completed_at)
                    VALUES ({MerchantId}, {Key}, {RequestHash}, {Path}, {CreatedAt}, {CreatedAt}, {statusCode}, {contentType}, {body}, {now})
                    ON CONFLICT DO NOTHING
                    """, CancellationToken.None))
                state = State.Taken;
            return;
        }
        if (state != State.Claimed) return;
        await own.IdempotencyRecords.Where(r => r.MerchantId == MerchantId && r.Key == Key).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.StatusCode, statusCode)
            .SetProperty(r => r.ContentType, contentType)
            .SetProperty(r => r.ResponseBody, body)
            .SetProperty(r => r.CompletedAt, now), CancellationToken.None);
        state = State.Completed;
    }

    /// <summary>The request failed (5xx) before completing: the key is deleted, so that the client's retry executes.</summary>
    internal async Task ReleaseAsync(KnowPayDb own)
    {
        if (state != State.Claimed) return;
        // Not once a retry took the key over (this attempt outlived its lease): that retry holds it now.
        await own.IdempotencyRecords.Where(r => r.MerchantId == MerchantId && r.Key == Key && r.CompletedAt == null && r.ClaimedAt == CreatedAt)
            .ExecuteDeleteAsync(CancellationToken.None);
        state = State.Unclaimed;
    }
}
