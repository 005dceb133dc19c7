using System.Text;
using KnowPay.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;
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
/// </summary>
public static class OneStatementWrites
{
    /// <summary>
    /// Appends the staged rows to <paramref name="sql"/> (which must end inside a WITH list): one CTE per modified row,
    /// and one multi-row INSERT per table for the added rows (performance: each data-modifying CTE opens its table and
    /// indexes, so the journal's entries and the events go in as one INSERT each).
    /// </summary>
    public static bool TryAppend(KnowPayDb db, StringBuilder sql, NpgsqlCommand command, string guard)
    {
        var i = 0;
        var inserts = new List<(string Table, string Columns, List<string> Rows)>();
        foreach (var entry in db.ChangeTracker.Entries())
        {
            if (entry.State is EntityState.Unchanged or EntityState.Detached) continue;
            if (entry.State is not (EntityState.Added or EntityState.Modified)) return false;
            var type = entry.Metadata;
            var table = type.GetTableName();
            if (table is null) return false;
            var store = StoreObjectIdentifier.Table(table, type.GetSchema());
            var qualified = type.GetSchema() is { } schema ? $"{Quote(schema)}.{Quote(table)}" : Quote(table);
            if (entry.State == EntityState.Added)
            {
                var columns = new List<string>();
                var values = new List<string>();
                foreach (var property in type.GetProperties())
                {
                    var value = entry.Property(property);
                    if (value.IsTemporary) continue; // identity key: the database assigns it
                    columns.Add(Quote(property.GetColumnName(store)!));
                    values.Add(Parameter(command, property, value));
                }
                var columnList = string.Join(", ", columns);
                var row = "(" + string.Join(", ", values) + ")";
                var index = inserts.FindIndex(x => x.Table == qualified && x.Columns == columnList);
                if (index < 0) inserts.Add((qualified, columnList, [row]));
                else inserts[index].Rows.Add(row);
                continue;
            }
            sql.Append(",\n  w").Append(i++).Append(" AS (");
            var sets = entry.Properties.Where(p => p.IsModified)
                .Select(p => $"{Quote(p.Metadata.GetColumnName(store)!)} = {Parameter(command, p.Metadata, p)}").ToList();
            var key = type.FindPrimaryKey()!.Properties
                .Select(p => $"{Quote(p.GetColumnName(store)!)} = {Parameter(command, p, entry.Property(p))}");
            if (sets.Count == 0) { sql.Append("SELECT 1)"); continue; }
            sql.Append("UPDATE ").Append(qualified).Append(" SET ").AppendJoin(", ", sets).Append(" WHERE ").AppendJoin(" AND ", key)
                .Append(" AND EXISTS (SELECT 1 FROM ").Append(guard).Append("))");
        }
        foreach (var (table, columns, rows) in inserts)
        {
            sql.Append(",\n  w").Append(i++).Append(" AS (INSERT INTO ").Append(table).Append(" (").Append(columns).Append(") SELECT * FROM (VALUES ")
                .AppendJoin(", ", rows).Append(") AS v WHERE EXISTS (SELECT 1 FROM ").Append(guard).Append("))");
        }
        return true;
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
        var sql = new StringBuilder("WITH go AS (SELECT 1)");
        if (!TryAppend(db, sql, command, "go")) return false;
        command.CommandText = sql.Append("\nSELECT 1").ToString();
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

    static string Parameter(NpgsqlCommand command, IProperty property, PropertyEntry value)
    {
        var raw = value.CurrentValue;
        var converter = property.GetTypeMapping().Converter;
        var provider = raw is null ? null : converter is null ? raw : converter.ConvertToProvider(raw);
        command.Parameters.Add(new NpgsqlParameter { Value = provider ?? DBNull.Value });
        // An explicit cast to the column's type: a parameter in INSERT … SELECT has no target type to infer from.
        return $"${command.Parameters.Count}::{property.GetColumnType()}";
    }

    static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
