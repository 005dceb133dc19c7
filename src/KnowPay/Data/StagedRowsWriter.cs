using System.Collections.Concurrent;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Npgsql;

namespace KnowPay.Data;

/// <summary>
/// The rows one use case writes in one commit — new rows, and existing rows updated by key (only the named properties) —
/// staged without EF's change tracker, for <see cref="StagedRowsWriter"/> (PostgreSQL) or, through
/// <see cref="AddTo"/>, for SaveChanges (elsewhere). Not tracked: each row is written once, and tracking is costly on the hot path.
/// </summary>
public sealed class StagedRows
{
    readonly List<(object Entity, string[]? Updated)> rows = [];

    internal IReadOnlyList<(object Entity, string[]? Updated)> All => rows;

    public T Insert<T>(T entity) where T : class
    {
        rows.Add((entity, null));
        return entity;
    }

    /// <summary>A row known to exist: its named properties are written, found by its key.</summary>
    public void Update(object entity, params string[] properties) => rows.Add((entity, properties));

    /// <summary>Hands the rows to the change tracker for SaveChanges: new rows added, updated ones attached (unless tracked)
    /// with the named properties modified. Each row by itself (no walk of its navigations: every row to write is staged,
    /// a journal's entries too).</summary>
    public void AddTo(DbContext db)
    {
        foreach (var (entity, updated) in rows)
        {
            var entry = db.Entry(entity);
            if (updated is null)
            {
                entry.State = EntityState.Added;
                continue;
            }
            if (entry.State == EntityState.Detached) entry.State = EntityState.Unchanged;
            foreach (var property in updated) entry.Property(property).IsModified = true;
        }
    }
}

/// <summary>
/// Writes <see cref="StagedRows"/> in one commit. On PostgreSQL: data-modifying CTEs of ONE statement, each guarded by
/// <c>EXISTS (SELECT 1 FROM {guard})</c>, so that a caller's conditional write (the guard CTE) and everything that
/// depends on it commit in one round trip and one WAL flush, instead of BEGIN / UPDATE / SELECT / batched INSERTs /
/// COMMIT. The rows are built by the same code as the EF path (Journals.Build, Access.Grant, Outbox.Add); only the
/// shipping differs. Columns, casts and value conversions come from the EF model, so new columns are picked up; a row
/// whose type has no table makes TryBuild return false, and the rows then go through SaveChanges (SaveAsync does so itself).
/// <para>
/// The statement's text depends only on the <em>shape</em> of what is staged (which tables, in which order, which columns),
/// so it is built once per shape and kept; each call only adds the parameter values. Each table's columns, getters, casts
/// and converters are read from the model once.
/// </para>
/// <para>
/// The guard is the caller's: the confirmation's is <c>ConfirmPayment.ConfirmationGuard</c>, the one definition that the
/// SaveChanges path runs as well (<c>WritePathParityTests</c> checks that both paths write the same rows).
/// </para>
/// </summary>
public static class StagedRowsWriter
{
    sealed record Column(string Property, IClrPropertyGetter Getter, string Name, string Cast, ValueConverter? Converter, bool StoreGeneratedKey, Type ProviderType);
    sealed record Table(int Number, string Qualified, Column[] Columns, Column[] Key);

    static readonly ConcurrentDictionary<(IModel Model, Type Type), Table?> Tables = new(); // per model: one process may host both databases (the tests do)
    static readonly ConcurrentDictionary<(string Head, string Guard, string Tail, string Shape), string> Statements = new();
    const int MaxStatements = 1000; // shapes are few (one or two per use case); beyond this, build without keeping
    static int tableNumbers;

    /// <summary>
    /// Sets <paramref name="command"/>'s text to <paramref name="head"/> (which must end inside a WITH list), the staged
    /// rows — one CTE per updated row, one multi-row INSERT per table for the new rows (each data-modifying CTE opens
    /// its table and indexes, so the journal's entries and the events go in as one INSERT each) — and
    /// <paramref name="tail"/>, and appends the rows' values as parameters after those the caller already added.
    /// False (nothing added) when the staged rows cannot be expressed this way.
    /// <para>
    /// With <paramref name="asArrays"/>, each table's new rows (and each table's updated rows with the same columns) go as one
    /// array parameter per column through <c>unnest</c>: the text then does not grow with the number of rows, so a batch of any
    /// size is one prepared statement planned once, where a hundred rows of VALUES would be a new text, planned anew, per batch.
    /// Updated rows of one group must have distinct keys (else false).
    /// </para>
    /// </summary>
    public static bool TryBuild(KnowPayDb db, StagedRows rows, NpgsqlCommand command, string head, string guard, string tail, bool asArrays = false)
    {
        var staged = new List<(object Entity, bool Added, Table Table, ulong Columns)>(rows.All.Count);
        foreach (var (entity, updated) in rows.All)
        {
            if (TableOf(db, entity.GetType()) is not { } table) return false;
            // Which columns this row ships: for a new row every column but a database-assigned key, for an updated row the
            // named ones. One bit per column (the tables have fewer than 64).
            ulong columns = 0;
            for (var c = 0; c < table.Columns.Length; c++)
            {
                var column = table.Columns[c];
                var ships = updated is null
                    ? !column.StoreGeneratedKey || !column.Getter.HasSentinelValue(entity)
                    : Array.IndexOf(updated, column.Property) >= 0;
                if (ships) columns |= 1UL << c;
            }
            if (updated is not null && System.Numerics.BitOperations.PopCount(columns) != updated.Length)
                throw new InvalidOperationException($"{entity.GetType().Name}: not every one of {string.Join(", ", updated)} is a mapped column");
            staged.Add((entity, updated is null, table, columns));
        }
        if (asArrays) return TryBuildArrays(staged, command, head, guard, tail);

        // The shape: per staged row new or updated, its table and shipped columns; the rows' parameters are numbered after
        // the caller's own, so where those end is part of it too.
        var first = command.Parameters.Count;
        var shape = new System.Runtime.CompilerServices.DefaultInterpolatedStringHandler(0, 0, null, stackalloc char[256]);
        shape.AppendFormatted(first);
        foreach (var (_, added, table, columns) in staged)
        {
            shape.AppendLiteral(added ? ",A" : ",M");
            shape.AppendFormatted(table.Number);
            shape.AppendLiteral(":");
            shape.AppendFormatted(columns, "x");
        }
        var key = (head, guard, tail, shape.ToStringAndClear());
        // Values: in exactly the order in which Build numbers them (an updated row with nothing named is "SELECT 1").
        foreach (var (entity, added, table, columns) in staged)
        {
            if (!added && columns == 0) continue;
            for (var c = 0; c < table.Columns.Length; c++)
                if ((columns & (1UL << c)) != 0) Add(command, table.Columns[c], entity);
            if (!added)
                foreach (var column in table.Key) Add(command, column, entity);
        }
        command.CommandText = Statements.TryGetValue(key, out var text) ? text : Keep(key, Build(staged, first, head, guard, tail));
        return true;
    }

    /// <summary>A shape's statement text, kept for the next call of that shape while there is room.</summary>
    static string Keep((string Head, string Guard, string Tail, string Shape) key, string text)
    {
        if (Statements.Count < MaxStatements) Statements.TryAdd(key, text);
        return text;
    }

    /// <summary>The <c>unnest</c> form of <see cref="TryBuild"/>: one CTE per table and column set, one array per column.</summary>
    static bool TryBuildArrays(List<(object Entity, bool Added, Table Table, ulong Columns)> staged, NpgsqlCommand command, string head, string guard,
        string tail)
    {
        var groups = new List<(bool Added, Table Table, ulong Columns, List<object> Rows)>();
        foreach (var (entity, added, table, columns) in staged)
        {
            if (!added && columns == 0) continue;
            var index = groups.FindIndex(g => g.Added == added && g.Table == table && g.Columns == columns);
            if (index < 0) groups.Add((added, table, columns, [entity]));
            else groups[index].Rows.Add(entity);
        }
        foreach (var (added, table, _, group) in groups)
        {
            // UPDATE … FROM unnest(…) changes a row once however often it is named: one update per key, or not this way.
            if (added) continue;
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entity in group)
                if (!keys.Add(string.Join('\u0001', table.Key.Select(k => Convert.ToString(k.Getter.GetClrValue(entity), System.Globalization.CultureInfo.InvariantCulture)))))
                    return false;
        }
        var first = command.Parameters.Count;
        var shape = new StringBuilder("arrays:").Append(first);
        foreach (var (added, table, columns, _) in groups) shape.Append(added ? ",A" : ",M").Append(table.Number).Append(':').Append(columns.ToString("x"));
        var key = (head, guard, tail, shape.ToString());
        foreach (var (added, table, columns, group) in groups)
        {
            for (var c = 0; c < table.Columns.Length; c++)
                if ((columns & (1UL << c)) != 0) AddArray(command, table.Columns[c], group);
            if (!added)
                foreach (var column in table.Key) AddArray(command, column, group);
        }
        command.CommandText = Statements.TryGetValue(key, out var text) ? text
            : Keep(key, BuildArrays(groups.Select(g => (g.Added, g.Table, g.Columns)).ToList(), first, head, guard, tail));
        return true;
    }

    static string BuildArrays(List<(bool Added, Table Table, ulong Columns)> groups, int first, string head, string guard, string tail)
    {
        var sql = new StringBuilder(head);
        var number = first;
        var i = 0;
        foreach (var (added, table, columns) in groups)
        {
            var shipped = table.Columns.Where((_, c) => (columns & (1UL << c)) != 0).ToList();
            sql.Append(",\n  a").Append(i++).Append(" AS (");
            if (added)
            {
                sql.Append("INSERT INTO ").Append(table.Qualified).Append(" (").AppendJoin(", ", shipped.Select(c => c.Name))
                    .Append(") SELECT * FROM unnest(").AppendJoin(", ", shipped.Select(c => $"${++number}::{c.Cast}[]"))
                    .Append(") WHERE EXISTS (SELECT 1 FROM ").Append(guard).Append("))");
                continue;
            }
            var arrays = shipped.Concat(table.Key).Select(c => $"${++number}::{c.Cast}[]");
            var names = shipped.Select((_, c) => $"c{c}").Concat(table.Key.Select((_, k) => $"k{k}"));
            sql.Append("UPDATE ").Append(table.Qualified).Append(" AS t SET ").AppendJoin(", ", shipped.Select((c, n) => $"{c.Name} = v.c{n}"))
                .Append(" FROM unnest(").AppendJoin(", ", arrays).Append(") AS v(").AppendJoin(", ", names).Append(") WHERE ")
                .AppendJoin(" AND ", table.Key.Select((c, k) => $"t.{c.Name} = v.k{k}"))
                .Append(" AND EXISTS (SELECT 1 FROM ").Append(guard).Append("))");
        }
        return sql.Append(tail).ToString();
    }

    /// <summary>One column of <paramref name="rows"/> as a typed array (what <c>unnest</c> takes), nulls kept.</summary>
    static void AddArray(NpgsqlCommand command, Column column, List<object> rows)
    {
        var values = Array.CreateInstance(column.ProviderType, rows.Count);
        for (var r = 0; r < rows.Count; r++)
        {
            var raw = column.Getter.GetClrValue(rows[r]);
            values.SetValue(raw is null ? null : column.Converter is null ? raw : column.Converter.ConvertToProvider(raw), r);
        }
        var parameter = new NpgsqlParameter { Value = values };
        // A DateTime's type is read from its Kind, which an array of nulls does not have: named from the column instead.
        if ((Nullable.GetUnderlyingType(column.ProviderType) ?? column.ProviderType) == typeof(DateTime))
            parameter.NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | (column.Cast.StartsWith("timestamp with time zone", StringComparison.Ordinal)
                ? NpgsqlTypes.NpgsqlDbType.TimestampTz : NpgsqlTypes.NpgsqlDbType.Timestamp);
        command.Parameters.Add(parameter);
    }

    static string Build(List<(object Entity, bool Added, Table Table, ulong Columns)> staged, int first, string head, string guard, string tail)
    {
        var sql = new StringBuilder(head);
        var i = 0;
        var number = first;
        var inserts = new List<(string Table, string Columns, List<string> Rows)>();
        foreach (var (_, added, table, columns) in staged)
        {
            var shipped = table.Columns.Where((_, c) => (columns & (1UL << c)) != 0).ToList();
            if (added)
            {
                var columnList = string.Join(", ", shipped.Select(c => c.Name));
                var row = "(" + string.Join(", ", shipped.Select(c => $"${++number}::{c.Cast}")) + ")";
                var index = inserts.FindIndex(x => x.Table == table.Qualified && x.Columns == columnList);
                if (index < 0) inserts.Add((table.Qualified, columnList, [row]));
                else inserts[index].Rows.Add(row);
                continue;
            }
            sql.Append(",\n  w").Append(i++).Append(" AS (");
            if (shipped.Count == 0) { sql.Append("SELECT 1)"); continue; }
            var sets = shipped.Select(c => $"{c.Name} = ${++number}::{c.Cast}").ToList();
            var key = table.Key.Select(c => $"{c.Name} = ${++number}::{c.Cast}").ToList();
            sql.Append("UPDATE ").Append(table.Qualified).Append(" SET ").AppendJoin(", ", sets).Append(" WHERE ").AppendJoin(" AND ", key)
                .Append(" AND EXISTS (SELECT 1 FROM ").Append(guard).Append("))");
        }
        foreach (var (table, columns, rows) in inserts)
        {
            sql.Append(",\n  w").Append(i++).Append(" AS (INSERT INTO ").Append(table).Append(" (").Append(columns).Append(") SELECT * FROM (VALUES ")
                .AppendJoin(", ", rows).Append(") AS v WHERE EXISTS (SELECT 1 FROM ").Append(guard).Append("))");
        }
        return sql.Append(tail).ToString();
    }

    /// <summary>
    /// Commits the staged rows: on PostgreSQL as ONE statement instead of SaveChanges' one statement per row (its own
    /// implicit transaction, or a part of the caller's open one; all or nothing either way), else — another database, or
    /// rows the statement cannot express — through SaveChanges (<see cref="StagedRows.AddTo"/>). For rows all new, or
    /// updated by key, with nothing to decide in between: order creation's order, payment and Idempotency-Key answer; a
    /// confirmation's rows once its guard has won. Unlike SaveChanges the statement's UPDATE of a row that does not exist is
    /// no error, so only stage updates of rows known to exist (the request's own claimed key, rows read under lock), and a
    /// unique violation surfaces as the <see cref="PostgresException"/> itself (<c>DbErrors.IsUniqueViolation</c> reads both).
    /// </summary>
    public static async Task SaveAsync(KnowPayDb db, StagedRows rows, CancellationToken ct, bool asArrays = false)
    {
        if (db.IsPostgres)
        {
            await using var command = ((NpgsqlConnection)db.Database.GetDbConnection()).CreateCommand();
            if (TryBuild(db, rows, command, "WITH go AS (SELECT 1)", "go", "\nSELECT 1", asArrays))
            {
                // EF counts opens and closes: inside the caller's transaction the connection stays open for it.
                await db.Database.OpenConnectionAsync(ct);
                try
                {
                    await command.ExecuteNonQueryAsync(ct);
                }
                finally
                {
                    await db.Database.CloseConnectionAsync();
                }
                return;
            }
        }
        await SaveThroughChangeTrackerAsync(db, rows, ct);
    }

    /// <summary>The general path of <see cref="SaveAsync"/>: the staged rows through SaveChanges, in its transaction.</summary>
    internal static async Task SaveThroughChangeTrackerAsync(KnowPayDb db, StagedRows rows, CancellationToken ct)
    {
        rows.AddTo(db);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>The table of a CLR type as the model maps it, read once; null when the type has no table.</summary>
    static Table? TableOf(KnowPayDb db, Type clrType) => Tables.GetOrAdd((db.Model, clrType), static key =>
    {
        if (key.Model.FindEntityType(key.Type) is not { } type || type.GetTableName() is not { } name) return null;
        var store = StoreObjectIdentifier.Table(name, type.GetSchema());
        Column ColumnOf(IProperty p)
        {
            var converter = p.GetTypeMapping().Converter;
            // The array element type: the value as the database gets it, nullable when the column is.
            var provider = converter?.ProviderClrType ?? p.ClrType;
            if (p.IsNullable && provider.IsValueType && Nullable.GetUnderlyingType(provider) is null) provider = typeof(Nullable<>).MakeGenericType(provider);
            return new(p.Name, p.GetGetter(), Quote(p.GetColumnName(store)!), p.GetColumnType(), converter, p.IsKey() && p.ValueGenerated != ValueGenerated.Never,
                provider);
        }
        var columns = type.GetProperties().Select(ColumnOf).ToArray();
        if (columns.Length > 64) return null;
        return new Table(Interlocked.Increment(ref tableNumbers),
            type.GetSchema() is { } schema ? $"{Quote(schema)}.{Quote(name)}" : Quote(name),
            columns, type.FindPrimaryKey()!.Properties.Select(ColumnOf).ToArray());
    });

    static void Add(NpgsqlCommand command, Column column, object entity)
    {
        var raw = column.Getter.GetClrValue(entity);
        var value = raw is null ? null : column.Converter is null ? raw : column.Converter.ConvertToProvider(raw);
        // The text casts each parameter to its column's type: a parameter in INSERT … SELECT has no target type to infer from.
        command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
    }

    static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
