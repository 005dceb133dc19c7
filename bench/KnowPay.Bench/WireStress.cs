using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;

namespace KnowPay.Bench;

/// <summary>
/// <c>--scenario wire-stress</c>: hammers PostgreSQL through Npgsql with KnowPay's connection settings (Multiplexing, Max
/// Auto Prepare 50, No Reset On Close, pool 16) and a mix like the fuzzing's — checked reads, values the server refuses,
/// short transactions, cancelled commands — and counts protocol desyncs ("unexpected backend message") and reads that
/// returned another command's rows. Each run is done with multiplexing on, then off.
/// </summary>
static class WireStress
{
    public static async Task<bool> RunAsync(Postgres pg, int seconds, int workers)
    {
        await pg.CreateDatabaseAsync("wire_stress");
        var connection = pg.Database("wire_stress");
        await using (var setup = new NpgsqlConnection(connection))
        {
            await setup.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                """
                CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL CHECK (balance >= 0), note varchar(200));
                INSERT INTO accounts SELECT g, 'owner-' || g, 1000, NULL FROM generate_series(1, 10000) g;
                """, setup);
            await cmd.ExecuteNonQueryAsync();
        }
        var ok = true;
        foreach (var multiplexing in new[] { true, false })
        {
            var b = new NpgsqlConnectionStringBuilder(connection)
                { Multiplexing = multiplexing, MaxAutoPrepare = 50, NoResetOnClose = true, MaxPoolSize = 16, Pooling = true };
            await using var source = NpgsqlDataSource.Create(b.ConnectionString);
            var stats = await RunOnceAsync(source, TimeSpan.FromSeconds(seconds), workers);
            Console.WriteLine($"wire-stress multiplexing={multiplexing,-5}: {stats}");
            ok &= stats.Desyncs == 0 && stats.WrongRows == 0;
        }
        return ok;
    }

    sealed class Stats
    {
        public long Ops, CheckedReads, Refused, Transactions, Cancelled, Desyncs, WrongRows, OtherErrors;
        public readonly ConcurrentDictionary<string, long> ErrorKinds = new();
        public string? FirstDesync;
        public override string ToString() =>
            $"{Ops:N0} commands ({CheckedReads:N0} checked reads, {Refused:N0} refused by the server, {Transactions:N0} transactions, {Cancelled:N0} cancelled); " +
            $"desyncs {Desyncs}, wrong rows {WrongRows}, other errors {OtherErrors}" +
            (ErrorKinds.IsEmpty ? "" : " [" + string.Join(", ", ErrorKinds.OrderByDescending(k => k.Value).Take(8).Select(k => $"{k.Key}: {k.Value}")) + "]") +
            (FirstDesync is null ? "" : $"\n  first desync: {FirstDesync}");
    }

    static async Task<Stats> RunOnceAsync(NpgsqlDataSource source, TimeSpan duration, int workers)
    {
        var stats = new Stats();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w * 7919 + 1);
            while (clock.Elapsed < duration)
            {
                Interlocked.Increment(ref stats.Ops);
                var op = random.Next(100);
                try
                {
                    if (op < 45) await CheckedReadAsync(source, random, stats);
                    else if (op < 70) await RefusedAsync(source, random, stats);
                    else if (op < 85) await TransactionAsync(source, random, stats);
                    else await CancelledAsync(source, random, stats);
                }
                catch (Exception e) when (IsDesync(e))
                {
                    Interlocked.Increment(ref stats.Desyncs);
                    stats.FirstDesync ??= e.ToString();
                }
                catch (PostgresException e)
                {
                    stats.ErrorKinds.AddOrUpdate(e.SqlState, 1, (_, n) => n + 1);
                }
                catch (OperationCanceledException) { Interlocked.Increment(ref stats.Cancelled); }
                catch (NpgsqlException e) when (e.InnerException is TimeoutException or OperationCanceledException)
                {
                    Interlocked.Increment(ref stats.Cancelled);
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref stats.OtherErrors);
                    stats.ErrorKinds.AddOrUpdate(e.GetType().Name + ": " + e.Message[..Math.Min(60, e.Message.Length)], 1, (_, n) => n + 1);
                }
            }
        }))).ConfigureAwait(false);
        return stats;
    }

    static bool IsDesync(Exception e) =>
        e.Message.Contains("unexpected backend message", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("while expecting", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("Unknown message code", StringComparison.OrdinalIgnoreCase) ||
        (e.InnerException is { } inner && IsDesync(inner));

    /// <summary>One row by id, or a set by ids; every returned row must be one that was asked for, with its own owner.</summary>
    static async Task CheckedReadAsync(NpgsqlDataSource source, Random random, Stats stats)
    {
        Interlocked.Increment(ref stats.CheckedReads);
        if (random.Next(2) == 0)
        {
            var id = random.NextInt64(1, 10_001);
            await using var cmd = source.CreateCommand("SELECT id, owner FROM accounts WHERE id = $1");
            cmd.Parameters.AddWithValue(id);
            await using var reader = await cmd.ExecuteReaderAsync();
            if (!await reader.ReadAsync() || reader.GetInt64(0) != id || reader.GetString(1) != $"owner-{id}" || await reader.ReadAsync())
                Interlocked.Increment(ref stats.WrongRows);
        }
        else
        {
            var ids = Enumerable.Range(0, random.Next(1, 20)).Select(_ => random.NextInt64(1, 10_001)).Distinct().Order().ToArray();
            await using var cmd = source.CreateCommand("SELECT id, owner FROM accounts WHERE id = ANY($1) ORDER BY id");
            cmd.Parameters.AddWithValue(ids);
            await using var reader = await cmd.ExecuteReaderAsync();
            var i = 0;
            while (await reader.ReadAsync())
            {
                if (i >= ids.Length || reader.GetInt64(0) != ids[i] || reader.GetString(1) != $"owner-{ids[i]}") Interlocked.Increment(ref stats.WrongRows);
                i++;
            }
            if (i != ids.Length) Interlocked.Increment(ref stats.WrongRows);
        }
    }

    /// <summary>Values the server refuses, as the fuzzing sent them: NUL in text, overflow, check and key violations, too long.</summary>
    static async Task RefusedAsync(NpgsqlDataSource source, Random random, Stats stats)
    {
        Interlocked.Increment(ref stats.Refused);
        var id = random.NextInt64(1, 10_001);
        var (sql, value) = random.Next(6) switch
        {
            0 => ("UPDATE accounts SET note = $2 WHERE id = $1", (object)"bad\0value"),
            1 => ("SELECT $2::bigint * 9223372036854775807 FROM accounts WHERE id = $1", 1_000_000_000_000L),
            2 => ("UPDATE accounts SET balance = balance - $2 WHERE id = $1", 1_000_000_000_000L),
            3 => ("INSERT INTO accounts (id, owner, balance) VALUES ($1, 'dup', $2)", 1L),
            4 => ("UPDATE accounts SET note = repeat('x', $2) WHERE id = $1", 300),
            _ => ("SELECT id, (SELECT sum(balance * $2) FROM accounts) FROM accounts WHERE id = $1", 9_000_000_000_000_000L),
        };
        await using var cmd = source.CreateCommand(sql);
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(value);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>A transfer in a transaction (multiplexing gives it a connection of its own), sometimes failing inside it.</summary>
    static async Task TransactionAsync(NpgsqlDataSource source, Random random, Stats stats)
    {
        Interlocked.Increment(ref stats.Transactions);
        var (from, to) = (random.NextInt64(1, 10_001), random.NextInt64(1, 10_001));
        await using var conn = await source.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var read = new NpgsqlCommand("SELECT id, owner FROM accounts WHERE id = $1 FOR UPDATE", conn, tx))
        {
            read.Parameters.AddWithValue(Math.Min(from, to));
            await using var reader = await read.ExecuteReaderAsync();
            if (!await reader.ReadAsync() || reader.GetInt64(0) != Math.Min(from, to)) Interlocked.Increment(ref stats.WrongRows);
        }
        var amount = random.Next(10) == 0 ? 1_000_000L : 1L; // one in ten overdraws: the CHECK refuses it inside the transaction
        await using (var move = new NpgsqlBatch(conn, tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("UPDATE accounts SET balance = balance - $2 WHERE id = $1") { Parameters = { new() { Value = from }, new() { Value = amount } } },
                new NpgsqlBatchCommand("UPDATE accounts SET balance = balance + $2 WHERE id = $1") { Parameters = { new() { Value = to }, new() { Value = amount } } },
            },
        })
            await move.ExecuteNonQueryAsync();
        await tx.CommitAsync();
    }

    /// <summary>A command cancelled while it runs, then a checked read on whatever connection comes next.</summary>
    static async Task CancelledAsync(NpgsqlDataSource source, Random random, Stats stats)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(0, 8)));
        var id = random.NextInt64(1, 10_001);
        try
        {
            await using var cmd = source.CreateCommand("SELECT id, owner, pg_sleep($2) FROM accounts WHERE id = $1");
            cmd.Parameters.AddWithValue(id);
            cmd.Parameters.AddWithValue(random.Next(0, 10) / 1000.0);
            await using var reader = await cmd.ExecuteReaderAsync(cts.Token);
            while (await reader.ReadAsync(cts.Token))
                if (reader.GetInt64(0) != id) Interlocked.Increment(ref stats.WrongRows);
        }
        catch (Exception e) when (e is OperationCanceledException || (e is PostgresException p && p.SqlState == "57014") || e.InnerException is OperationCanceledException)
        {
            Interlocked.Increment(ref stats.Cancelled);
        }
        await CheckedReadAsync(source, random, stats);
    }
}
