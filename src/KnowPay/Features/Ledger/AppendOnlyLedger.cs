using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

/// <summary>
/// Database triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) of ledger entries and journals, so the
/// ledger stays append-only even for code or people that bypass KnowPay. Created idempotently after the migrations.
/// </summary>
public static class AppendOnlyLedger
{
    static readonly string[] Tables = ["ledger_entries", "ledger_journals"];

    public static async Task EnsureAsync(KnowPayDb db, CancellationToken ct)
    {
        if (db.IsPostgres)
        {
            // One DO block under an advisory lock: several nodes starting at once create each object once.
            var triggers = string.Join("\n", Tables.Select(table => $"""
                  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{table}_append_only' AND tgrelid = '{table}'::regclass) THEN
                    CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                      FOR EACH ROW EXECUTE FUNCTION knowpay_ledger_append_only();
                  END IF;
                  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{table}_no_truncate' AND tgrelid = '{table}'::regclass) THEN
                    CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                      FOR EACH STATEMENT EXECUTE FUNCTION knowpay_ledger_append_only();
                  END IF;
                """));
            var sql = $"""
                DO $do$ BEGIN
                  PERFORM pg_advisory_xact_lock(7429031100);
                  CREATE OR REPLACE FUNCTION knowpay_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
                  BEGIN
                    RAISE EXCEPTION 'ledger is append-only: % on % refused; post a reversing journal instead', TG_OP, TG_TABLE_NAME
                      USING ERRCODE = 'restrict_violation';
                  END $f$;
                {triggers}
                END $do$;
                """;
            await db.Database.ExecuteSqlRawAsync(sql, ct);
        }
        else
        {
            foreach (var table in Tables)
            {
                // Table names come from the constant list above, never from input.
                var noUpdate = $"""
                    CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
                    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on {table} refused'); END;
                    """;
                var noDelete = $"""
                    CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
                    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE on {table} refused'); END;
                    """;
                await db.Database.ExecuteSqlRawAsync(noUpdate, ct);
                await db.Database.ExecuteSqlRawAsync(noDelete, ct);
            }
        }
        await LedgerPeriods.EnsureAsync(db, ct);
    }
}
