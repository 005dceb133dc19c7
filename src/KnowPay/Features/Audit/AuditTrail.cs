using System.Threading.Channels;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NpgsqlTypes;

namespace KnowPay.Features.Audit;

/// <summary>
/// Appends audit events off the request path: a request enqueues its event into a bounded queue and one background
/// writer inserts whatever has queued up as one batch (one round trip, one commit), so an audited call costs an enqueue,
/// not an INSERT. Nothing is dropped: a full queue makes the caller wait, and a graceful stop writes what is queued
/// before the host ends. A crash (SIGKILL, power loss) loses the events of the last few milliseconds not yet written.
/// </summary>
public sealed class AuditTrail(IServiceProvider services, ILogger<AuditTrail> log) : IHostedService
{
    const int Capacity = 10_000;
    const int MaxBatch = 500;

    readonly Channel<AuditEvent> queue = Channel.CreateBounded<AuditEvent>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    long enqueued, handled;
    TaskCompletionSource batchDone = NewSignal();
    Task writer = Task.CompletedTask;

    /// <summary>Queues the event; waits only while the queue is full. After the stop began it is written at once.</summary>
    public ValueTask RecordAsync(AuditEvent audit)
    {
        Interlocked.Increment(ref enqueued);
        if (queue.Writer.TryWrite(audit)) return ValueTask.CompletedTask;
        return SlowAsync(audit);
    }

    async ValueTask SlowAsync(AuditEvent audit)
    {
        try
        {
            await queue.Writer.WriteAsync(audit);
        }
        catch (ChannelClosedException)
        {
            await InsertAsync([audit]);
            Done(1);
        }
    }

    /// <summary>Waits (at most <paramref name="timeout"/>) until every event queued before the call has been written,
    /// so that a reader sees the calls it made before.</summary>
    public async Task FlushedAsync(TimeSpan timeout, CancellationToken ct)
    {
        var target = Volatile.Read(ref enqueued);
        var until = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Volatile.Read(ref handled) < target)
        {
            var signal = Volatile.Read(ref batchDone);
            if (Volatile.Read(ref handled) >= target) return;
            var left = until - Environment.TickCount64;
            if (left <= 0) return;
            try { await signal.Task.WaitAsync(TimeSpan.FromMilliseconds(left), ct); }
            catch (TimeoutException) { return; }
        }
    }

    public Task StartAsync(CancellationToken ct)
    {
        writer = Task.Run(WriteAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Runs after the web server has stopped taking requests (hosted services stop in reverse order, the server first).</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        queue.Writer.TryComplete();
        try { await writer.WaitAsync(ct); }
        catch (OperationCanceledException)
        {
            log.LogError("Stopped before {Count} audit events were written", Volatile.Read(ref enqueued) - Volatile.Read(ref handled));
        }
    }

    async Task WriteAsync()
    {
        var batch = new List<AuditEvent>(MaxBatch);
        while (await queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var audit)) batch.Add(audit);
            await InsertAsync(batch);
            Done(batch.Count);
        }
    }

    void Done(int count)
    {
        Interlocked.Add(ref handled, count);
        Interlocked.Exchange(ref batchDone, NewSignal()).TrySetResult();
    }

    /// <summary>One INSERT batch; on failure retried, then row by row so that one bad row cannot take its batch with it.</summary>
    async Task InsertAsync(IReadOnlyList<AuditEvent> batch)
    {
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            if (await TryInsertAsync(batch, attempt == 3 && batch.Count == 1)) return;
            await Task.Delay(200 * attempt);
        }
        if (batch.Count > 1)
            foreach (var audit in batch)
                await TryInsertAsync([audit], logFailure: true);
    }

    async Task<bool> TryInsertAsync(IReadOnlyList<AuditEvent> rows, bool logFailure)
    {
        try
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
            if (db.Database.GetDbConnection() is NpgsqlConnection connection) await CopyAsync(connection, rows);
            else
            {
                db.AuditEvents.AddRange(rows);
                await db.SaveChangesAsync(CancellationToken.None);
            }
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (logFailure)
                foreach (var audit in rows)
                    log.LogError(e, "Audit event {Id} ({Operation} by {ActorType} {ActorId} for {MerchantId}) could not be written",
                        audit.Id, audit.Operation, audit.ActorType, audit.ActorId, audit.MerchantId);
            return false;
        }
    }

    /// <summary>
    /// PostgreSQL: the batch as one binary COPY, all rows or none like the INSERT batch it replaces. Values are written
    /// straight to the wire, not as a parameter object per column and a tracked entity per row: an audited call is on the
    /// hot path (POST /v1/orders), so its event must cost little more than the strings it holds.
    /// </summary>
    static async Task CopyAsync(NpgsqlConnection connection, IReadOnlyList<AuditEvent> rows)
    {
        await connection.OpenAsync();
        try
        {
            await using var copy = await connection.BeginBinaryImportAsync(CopyStatement);
            foreach (var a in rows)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(a.Id, NpgsqlDbType.Varchar);
                await WriteTextAsync(copy, a.MerchantId);
                await copy.WriteAsync(a.ActorType, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.ActorId, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.Operation, NpgsqlDbType.Varchar);
                await WriteTextAsync(copy, a.ObjectType);
                await WriteTextAsync(copy, a.ObjectId);
                await copy.WriteAsync(a.OccurredAt, NpgsqlDbType.TimestampTz);
                await WriteTextAsync(copy, a.Ip);
                await WriteTextAsync(copy, a.UserAgent);
                if (a.Status is { } status) await copy.WriteAsync(status, NpgsqlDbType.Integer);
                else await copy.WriteNullAsync();
                await copy.WriteAsync(a.Outcome, NpgsqlDbType.Varchar);
                await WriteTextAsync(copy, a.RequestId);
            }
            await copy.CompleteAsync();
        }
        finally
        {
            await connection.CloseAsync();
        }
    }

    static Task WriteTextAsync(NpgsqlBinaryImporter copy, string? text) =>
        text is null ? copy.WriteNullAsync() : copy.WriteAsync(text, NpgsqlDbType.Varchar);

    /// <summary>The columns of <see cref="AuditEvent"/> (table audit_events), in the order <see cref="CopyAsync"/> writes them.</summary>
    const string CopyStatement = "COPY audit_events (id, merchant_id, actor_type, actor_id, operation, object_type, object_id, occurred_at, " +
                                 "ip, user_agent, status, outcome, request_id) FROM STDIN (FORMAT BINARY)";

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
