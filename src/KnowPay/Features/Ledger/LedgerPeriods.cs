using KnowPay.Data;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

/// <summary>
/// Ledger days (UTC) and their closes. A journal is dated by its <c>created_at</c> (the time the caller passes to
/// <see cref="Journals.Build"/>); every writer — SaveChanges and the one-statement path alike — ends in an INSERT into
/// ledger_entries, so the rule "nothing is posted into a closed day" is one trigger there, created after the migrations.
/// A request that asks for a closed day is answered 409 <see cref="ClosedCode"/>; background corrections are placed on
/// the next open day with <see cref="PlaceAsync"/>, naming the closed day in <c>corrects_day</c>.
/// </summary>
public static class LedgerPeriods
{
    public const string ClosedCode = "period_closed";

    public static DateOnly DayOf(DateTime utc) => DateOnly.FromDateTime(utc);

    public static DateTime Start(DateOnly day) => day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);

    /// <summary>The first of <paramref name="currencies"/> whose day is closed for the merchant, or null when all are open.</summary>
    public static async Task<string?> ClosedCurrencyAsync(KnowPayDb db, string merchantId, IReadOnlyCollection<string> currencies, DateOnly day, CancellationToken ct) =>
        await db.LedgerCloses.Where(c => c.MerchantId == merchantId && c.Day == day && currencies.Contains(c.Currency))
            .Select(c => c.Currency).FirstOrDefaultAsync(ct);

    /// <summary>
    /// Where background work posts a journal it would date at <paramref name="intended"/>: there if that day is open for
    /// all its currencies, else at the start of the next day open for all of them, with the closed day to reference.
    /// </summary>
    public static async Task<(DateTime At, DateOnly? CorrectsDay)> PlaceAsync(KnowPayDb db, string merchantId, IReadOnlyCollection<string> currencies,
        DateTime intended, CancellationToken ct)
    {
        var day = DayOf(intended);
        var closed = (await db.LedgerCloses.Where(c => c.MerchantId == merchantId && c.Day >= day && currencies.Contains(c.Currency))
            .Select(c => c.Day).Distinct().ToListAsync(ct)).ToHashSet();
        if (!closed.Contains(day)) return (intended, null);
        var open = day.AddDays(1);
        while (closed.Contains(open)) open = open.AddDays(1);
        return (Start(open), day);
    }

    /// <summary>
    /// On PostgreSQL, takes the (merchant, currency, day) lock until the transaction ends: the period trigger takes it shared
    /// for every entry it lets in, so no entry of the day commits while a close holds it, and an entry that waited for it
    /// sees the close. SQLite needs none: a transaction holds the database's one write lock from its start.
    /// </summary>
    public static async Task LockDayAsync(KnowPayDb db, string merchantId, string currency, DateOnly day, CancellationToken ct)
    {
        if (!db.IsPostgres) return;
        var key = DayKey(merchantId, currency, day);
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({DayLockSpace}, hashtext({key}))", ct);
    }

    const int DayLockSpace = 742903;

    static string DayKey(string merchantId, string currency, DateOnly day) =>
        merchantId + ":" + currency + ":" + day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>True when the database refused an entry dated into a closed day (the trigger's message starts with the code).</summary>
    public static bool IsPeriodClosed(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x.Message.Contains(ClosedCode + ":", StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>The trigger that refuses an entry dated into a closed day of its merchant and currency. Idempotent.</summary>
    public static async Task EnsureAsync(KnowPayDb db, CancellationToken ct)
    {
        if (db.IsPostgres)
        {
            await db.Database.ExecuteSqlRawAsync($$"""
                DO $do$ BEGIN
                  PERFORM pg_advisory_xact_lock(7429031101);
                  CREATE OR REPLACE FUNCTION knowpay_ledger_period_open() RETURNS trigger LANGUAGE plpgsql AS $f$
                  BEGIN
                    -- Shared with other entries, exclusive to a close of the day (LockDayAsync): the check below sees any close that committed first.
                    PERFORM pg_advisory_xact_lock_shared({{DayLockSpace}},
                      hashtext(NEW.merchant_id || ':' || NEW.currency || ':' || to_char((NEW.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')));
                    IF EXISTS (SELECT 1 FROM ledger_closes c WHERE c.merchant_id = NEW.merchant_id AND c.currency = NEW.currency
                               AND c.day = (NEW.created_at AT TIME ZONE 'UTC')::date) THEN
                      RAISE EXCEPTION '{{ClosedCode}}: the ledger day % in % is closed; post on an open day', (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.currency
                        USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NEW;
                  END $f$;
                  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ledger_entries_period_open' AND tgrelid = 'ledger_entries'::regclass) THEN
                    CREATE TRIGGER ledger_entries_period_open BEFORE INSERT ON ledger_entries
                      FOR EACH ROW EXECUTE FUNCTION knowpay_ledger_period_open();
                  END IF;
                END $do$;
                """, ct);
        }
        else
        {
            await db.Database.ExecuteSqlRawAsync($"""
                CREATE TRIGGER IF NOT EXISTS ledger_entries_period_open BEFORE INSERT ON ledger_entries
                WHEN EXISTS (SELECT 1 FROM ledger_closes c WHERE c.merchant_id = NEW.merchant_id AND c.currency = NEW.currency
                             AND c.day = date(NEW.created_at))
                BEGIN SELECT RAISE(ABORT, '{ClosedCode}: the ledger day is closed; post on an open day'); END;
                """, ct);
        }
    }
}

/// <summary>A request asked to post into a closed day: 409 period_closed.</summary>
public sealed class PeriodClosedException(DateOnly day, string currency)
    : InvalidOperationException($"The ledger day {day:yyyy-MM-dd} in {currency} is closed; post on an open day.");
