using System.Collections.Concurrent;
using System.Text;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Npgsql;

namespace KnowPay.Infrastructure;

/// <summary>
/// PostgreSQL hot-path helper: turns the rows a use case staged in the change tracker (Added entities and Modified
/// ones) into data-modifying CTEs of ONE statement, each guarded by <c>EXISTS (SELECT 1 FROM {guard})</c>, so that a
/// caller's conditional write (the guard CTE) and everything that depends on it commit in one round trip and one
/// WAL flush, instead of BEGIN / UPDATE / SELECT / batched INSERTs / COMMIT. The rows are still built by the same
/// code as the EF path (Journals.Build, Access.Grant, Outbox.Add); only the shipping differs. Columns, casts and
/// value conversions come from the EF model, so new columns are picked up; anything the helper cannot express
/// (a Deleted entity, an Added entity with a store-generated key other than identity) makes it return false and
/// the caller falls back to SaveChanges.
/// <para>
/// Performance: the statement's text depends only on the <em>shape</em> of what is staged (which tables, in which
/// order, which columns modified), so it is built once per shape and kept; each call only adds the parameter values.
/// Each table's columns, casts and converters are read from the model once. (Building the text from the model on every
/// call was ≈ 38 % of everything KnowPay allocated per paid order.)
/// </para>
/// </summary>
public static class OneStatementWrites
{
    sealed record Column(IProperty Property, string Name, string Cast, ValueConverter? Converter, bool MayBeTemporary);
    sealed record Table(int Number, string Qualified, Column[] Columns, Column[] Key);

    static readonly ConcurrentDictionary<IEntityType, Table?> Tables = new();
    static readonly ConcurrentDictionary<(string Head, string Guard, string Tail, string Shape), string> Statements = new();
    const int MaxStatements = 1000; // shapes are few (one or two per use case); beyond this, build without keeping
    static int tableNumbers;

    /// <summary>
    /// Sets <paramref name="command"/>'s text to <paramref name="head"/> (which must end inside a WITH list), the staged
    /// rows — one CTE per modified row, one multi-row INSERT per table for the added rows (each data-modifying CTE opens
    /// its table and indexes, so the journal's entries and the events go in as one INSERT each) — and
    /// <paramref name="tail"/>, and appends the rows' values as parameters after those the caller already added.
    /// False (nothing added) when the staged rows cannot be expressed this way.
    /// </summary>
    public static bool TryBuild(KnowPayDb db, NpgsqlCommand command, string head, string guard, string tail)
    {
        var entries = new List<(EntityEntry Entry, Table Table, ulong Columns)>();
        foreach (var entry in db.ChangeTracker.Entries())
        {
            if (entry.State is EntityState.Unchanged or EntityState.Detached) continue;
            if (entry.State is not (EntityState.Added or EntityState.Modified)) return false;
            if (TableOf(entry.Metadata) is not { } table) return false;
            // Which columns this row ships: for an added row every column but a database-assigned key, for a modified
            // row the modified ones. One bit per column (the tables have fewer than 64).
            ulong columns = 0;
            for (var c = 0; c < table.Columns.Length; c++)
            {
                var column = table.Columns[c];
                var ships = entry.State == EntityState.Added
                    ? !column.MayBeTemporary || !entry.Property(column.Property).IsTemporary
                    : entry.Property(column.Property).IsModified;
                if (ships) columns |= 1UL << c;
            }
            entries.Add((entry, table, columns));
        }

        // The shape: per staged row its state, table and shipped columns; the rows' parameters are numbered after the
        // caller's own, so where those end is part of it too.
        var first = command.Parameters.Count;
        var shape = new System.Runtime.CompilerServices.DefaultInterpolatedStringHandler(0, 0, null, stackalloc char[256]);
        shape.AppendFormatted(first);
        foreach (var (entry, table, columns) in entries)
        {
            shape.AppendLiteral(entry.State == EntityState.Added ? ",A" : ",M");
            shape.AppendFormatted(table.Number);
            shape.AppendLiteral(":");
            shape.AppendFormatted(columns, "x");
        }
        var key = (head, guard, tail, shape.ToStringAndClear());
        var text = Statements.TryGetValue(key, out var known) ? known : null;
        // Values: in exactly the order in which Build numbers them (a modified row with nothing modified is "SELECT 1").
        foreach (var (entry, table, columns) in entries)
        {
            var modified = entry.State == EntityState.Modified;
            if (modified && columns == 0) continue;
            var values = entry.CurrentValues;
            for (var c = 0; c < table.Columns.Length; c++)
                if ((columns & (1UL << c)) != 0) Add(command, table.Columns[c], values[table.Columns[c].Property]);
            if (modified)
                foreach (var column in table.Key) Add(command, column, values[column.Property]);
        }
        if (text is null)
        {
            text = Build(entries, first, head, guard, tail);
            if (Statements.Count < MaxStatements) Statements.TryAdd(key, text);
        }
        command.CommandText = text;
        return true;
    }

    static string Build(List<(EntityEntry Entry, Table Table, ulong Columns)> entries, int first, string head, string guard, string tail)
    {
        var sql = new StringBuilder(head);
        var i = 0;
        var number = first;
        var inserts = new List<(string Table, string Columns, List<string> Rows)>();
        foreach (var (entry, table, columns) in entries)
        {
            var shipped = table.Columns.Where((_, c) => (columns & (1UL << c)) != 0).ToList();
            if (entry.State == EntityState.Added)
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
    /// Ships everything the change tracker holds as ONE statement instead of SaveChanges' one statement per row (PostgreSQL
    /// only; the statement is its own implicit transaction, all or nothing): for a use case whose rows are all new, or
    /// updated by key, with nothing to decide in between — order creation's order, payment and Idempotency-Key answer.
    /// Unlike SaveChanges an UPDATE that finds no row is not an error, so only use it for rows that are known to exist
    /// (the request's own claimed key). False when the rows cannot be shipped this way: nothing was sent, use SaveChanges.
    /// On success the tracked entities are accepted as saved.
    /// </summary>
    public static async Task<bool> TrySaveAsync(KnowPayDb db, CancellationToken ct)
    {
        if (!db.IsPostgres || db.Database.CurrentTransaction is not null) return false;
        await using var command = ((NpgsqlConnection)db.Database.GetDbConnection()).CreateCommand();
        if (!TryBuild(db, command, "WITH go AS (SELECT 1)", "go", "\nSELECT 1")) return false;
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await command.ExecuteNonQueryAsync(ct);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
        db.ChangeTracker.AcceptAllChanges();
        return true;
    }

    /// <summary>The table's columns as the model maps them, read once; null when the type has no table.</summary>
    static Table? TableOf(IEntityType type) => Tables.GetOrAdd(type, static type =>
    {
        if (type.GetTableName() is not { } name) return null;
        var store = StoreObjectIdentifier.Table(name, type.GetSchema());
        Column ColumnOf(IProperty p) => new(p, Quote(p.GetColumnName(store)!), p.GetColumnType(), p.GetTypeMapping().Converter,
            p.ValueGenerated != ValueGenerated.Never);
        var columns = type.GetProperties().Select(ColumnOf).ToArray();
        if (columns.Length > 64) return null;
        return new Table(Interlocked.Increment(ref tableNumbers),
            type.GetSchema() is { } schema ? $"{Quote(schema)}.{Quote(name)}" : Quote(name),
            columns, type.FindPrimaryKey()!.Properties.Select(ColumnOf).ToArray());
    });

    static void Add(NpgsqlCommand command, Column column, object? raw)
    {
        var value = raw is null ? null : column.Converter is null ? raw : column.Converter.ConvertToProvider(raw);
        // The text casts each parameter to its column's type: a parameter in INSERT … SELECT has no target type to infer from.
        command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
    }

    static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
