using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Features.Reconciliation;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Ledger;

/// <param name="Date">The UTC ledger day to close, yyyy-MM-dd; it must be over.</param>
/// <param name="Currency">One currency; by default every currency the merchant's ledger holds by the end of the day.</param>
public sealed record CloseLedgerRequest(string? Date, string? Currency);

public sealed record LedgerCloseLineView(string AccountClass, long Opening, long Payments, long Refunds, long Fees, long Payouts, long Other, long Closing);

public sealed record LedgerCloseView(string Id, string Object, string Date, string Currency, DateTime ClosedAt, string ClosedBy, IReadOnlyList<LedgerCloseLineView> Accounts)
{
    public static LedgerCloseView From(LedgerClose c) => new(c.Id, "ledger_close", c.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), c.Currency,
        c.ClosedAt, c.ClosedBy, c.Lines.OrderBy(l => l.AccountClass, StringComparer.Ordinal)
            .Select(l => new LedgerCloseLineView(l.AccountClass, l.Opening, l.Payments, l.Refunds, l.Fees, l.Payouts, l.Other, l.Closing)).ToList());
}

public sealed record LedgerCloseList(string Object, IReadOnlyList<LedgerCloseView> Data);

/// <summary>The answer of a close: the closes (new or already there), or why the day cannot be closed yet.</summary>
public abstract record CloseOutcome
{
    public sealed record Closed(IReadOnlyList<LedgerClose> Closes) : CloseOutcome;
    public sealed record Refused(string Code, string Detail) : CloseOutcome;
}

/// <summary>
/// POST /v1/ledger/close {date, currency?} closes a UTC day of the merchant's ledger per currency once it is over, every
/// reconciliation run whose bill day overlaps it is completed and each of their differences of the merchant (or of no one) in that
/// currency is resolved; GET /v1/ledger/closes and /v1/ledger/closes/{date} read the reports. Closing again answers the
/// close already made: the unique (merchant, currency, day) arbitrates.
/// </summary>
public static class DailyClose
{
    const int MaxNamed = 5;

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/ledger/close", Handle).RequireScope("ledger:write");
        v1.MapGet("/ledger/closes", List).RequireScope("ledger:read");
        v1.MapGet("/ledger/closes/{date}", ByDate).RequireScope("ledger:read");
    }

    static async Task<Results<Ok<LedgerCloseList>, ProblemHttpResult>> Handle(
        CloseLedgerRequest body, AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        if (ParseDay(body.Date) is not { } day) return Problems.Invalid("date_invalid", "date", "date is the UTC ledger day as yyyy-MM-dd.");
        if (body.Currency is { } c && !Currency.TryFind(c, out _))
            return Problems.Invalid("currency_unsupported", "currency", "currency is an ISO 4217 code KnowPay supports.");
        return await CloseAsync(db, merchant.Id, day, body.Currency?.ToUpperInvariant(), merchant.KeyId ?? "api", clock.GetUtcNow().UtcDateTime, ct) switch
        {
            CloseOutcome.Closed(var closes) => TypedResults.Ok(new LedgerCloseList("list", closes.Select(LedgerCloseView.From).ToList())),
            CloseOutcome.Refused(var code, var detail) => Problems.Conflict(code, detail),
            _ => throw new System.Diagnostics.UnreachableException(),
        };
    }

    public static async Task<CloseOutcome> CloseAsync(KnowPayDb db, string merchantId, DateOnly day, string? currency, string closedBy, DateTime now, CancellationToken ct)
    {
        if (day >= LedgerPeriods.DayOf(now))
            return new CloseOutcome.Refused("day_not_over", $"{day:yyyy-MM-dd} is not over yet (UTC); a day is closed once it has ended.");
        // The runs whose bill day overlaps this UTC day: a China-time bill day D is the UTC instants [D−1 16:00, D 16:00),
        // so UTC day D is on the China bills of D and D+1.
        var (start, end) = (LedgerPeriods.Start(day), LedgerPeriods.Start(day.AddDays(1)));
        var runs = (await db.ReconciliationRuns.AsNoTracking().Where(r => r.Day >= day.AddDays(-1) && r.Day <= day.AddDays(1)).ToListAsync(ct))
            .Where(r => BillSources.Window(r.Provider, r.Day) is var (from, until) && from < end && until > start).ToList();
        if (runs.Where(r => r.Status != "completed").ToList() is { Count: > 0 } unfinished)
            return new CloseOutcome.Refused("reconciliation_incomplete",
                $"Reconciliation of {day:yyyy-MM-dd} is not completed: {string.Join(", ", unfinished.Select(r => $"{r.Provider} {r.Id} ({r.Status})"))}.");

        var currencies = currency is not null ? [currency]
            : await db.LedgerEntries.Where(e => e.MerchantId == merchantId && e.CreatedAt < end).Select(e => e.Currency).Distinct().ToListAsync(ct);
        var runIds = runs.Select(r => r.Id).ToList();
        var open = (await db.ReconciliationItems.AsNoTracking()
                .Where(i => runIds.Contains(i.RunId) && i.Resolution == null && (i.MerchantId == merchantId || i.MerchantId == null))
                .ToListAsync(ct))
            .Where(i => i.Currency is null || currencies.Contains(i.Currency.ToUpperInvariant())).ToList();
        if (open.Count > 0)
            return new CloseOutcome.Refused("reconciliation_items_open",
                $"{open.Count} reconciliation item(s) of {day:yyyy-MM-dd} are not resolved: " +
                string.Join("; ", open.GroupBy(i => i.Kind).Select(g => $"{g.Count()} {g.Key} ({string.Join(", ", g.Take(MaxNamed).Select(i => i.Id))})")) +
                ". Resolve them with POST /v1/reconciliation/items/{id}/resolve.");

        var closes = new List<LedgerClose>();
        foreach (var code in currencies.Order(StringComparer.Ordinal))
            closes.Add(await FindAsync(db, merchantId, code, day, ct) ?? await InsertAsync(db, merchantId, code, day, closedBy, now, ct));
        return new CloseOutcome.Closed(closes);
    }

    /// <summary>
    /// The report is read and the close written in one transaction that no entry of the day can commit into (SQLite's
    /// transaction holds the write lock from its start; PostgreSQL's holds the day's lock, <see cref="LedgerPeriods.LockDayAsync"/>),
    /// so the report holds every entry the day will ever have. A close made meanwhile by another request or node stands.
    /// </summary>
    static async Task<LedgerClose> InsertAsync(KnowPayDb db, string merchantId, string currency, DateOnly day, string closedBy, DateTime now, CancellationToken ct)
    {
        try
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            await LedgerPeriods.LockDayAsync(db, merchantId, currency, day, ct);
            if (await FindAsync(db, merchantId, currency, day, ct) is { } closed) return closed;
            var close = new LedgerClose { Id = Ids.New("cls"), MerchantId = merchantId, Currency = currency, Day = day, ClosedAt = now, ClosedBy = closedBy };
            close.Lines.AddRange(await CloseReport.BuildAsync(db, close.Id, merchantId, currency, day, ct));
            db.LedgerCloses.Add(close);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return close;
        }
        catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
        {
            db.ChangeTracker.Clear();
            return (await FindAsync(db, merchantId, currency, day, ct))!;
        }
    }

    static Task<LedgerClose?> FindAsync(KnowPayDb db, string merchantId, string currency, DateOnly day, CancellationToken ct) =>
        db.LedgerCloses.AsNoTracking().Include(c => c.Lines).SingleOrDefaultAsync(c => c.MerchantId == merchantId && c.Currency == currency && c.Day == day, ct);

    static async Task<Results<Ok<ListPage<LedgerCloseView>>, ProblemHttpResult>> List(
        AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct, string? currency, int? limit, string? starting_after)
    {
        if (Paging.Limit(limit) is not { } take) return Paging.LimitProblem;
        var query = db.LedgerCloses.AsNoTracking().Include(c => c.Lines).Where(c => c.MerchantId == merchant.Id);
        if (currency is not null) query = query.Where(c => c.Currency == currency.ToUpperInvariant());
        if (starting_after is not null) query = query.Where(c => string.Compare(c.Id, starting_after) < 0);
        var rows = await query.OrderByDescending(c => c.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, LedgerCloseView.From, c => c.Id));
    }

    static async Task<Results<Ok<LedgerCloseList>, ProblemHttpResult>> ByDate(string date, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        if (ParseDay(date) is not { } day) return Problems.Invalid("date_invalid", "date", "date is the UTC ledger day as yyyy-MM-dd.");
        var closes = await db.LedgerCloses.AsNoTracking().Include(c => c.Lines).Where(c => c.MerchantId == merchant.Id && c.Day == day).ToListAsync(ct);
        return closes.Count == 0
            ? Problems.NotFound("ledger_close", date)
            : TypedResults.Ok(new LedgerCloseList("list", closes.OrderBy(c => c.Currency, StringComparer.Ordinal).Select(LedgerCloseView.From).ToList()));
    }

    static DateOnly? ParseDay(string? text) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) ? day : null;
}
