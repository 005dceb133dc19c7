using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Ledger;

/// <summary><c>LedgerClose:*</c>: whether yesterday's ledger day is closed by the job, and from which UTC hour it tries.</summary>
public sealed class LedgerCloseOptions : IBoundOptions
{
    public static string Section => "LedgerClose";
    /// <summary>Off by default: an operator closes days with POST /v1/ledger/close.</summary>
    public bool AutoClose { get; set; }
    /// <summary>Yesterday (UTC) is closed from this UTC hour on, once its reconciliation is clean (the bills arrive in the morning).</summary>
    [Between(0, 23)] public int AfterHour { get; set; } = 12;
}

/// <summary>
/// With <c>LedgerClose:AutoClose</c>, closes yesterday (UTC) for every merchant whose ledger moved that day, per currency,
/// as soon as <see cref="DailyClose.CloseAsync"/> allows; a day still open is tried again on the next pass. Many nodes:
/// the close's unique index keeps one report.
/// </summary>
public sealed class LedgerCloseJob(IServiceScopeFactory scopes, IOptions<LedgerCloseOptions> options, ILogger<LedgerCloseJob> log) : IJob
{
    public string Name => "ledger_close";
    public TimeSpan Every => TimeSpan.FromMinutes(15);

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var today = LedgerPeriods.DayOf(now);
        if (!options.Value.AutoClose || now < LedgerPeriods.Start(today).AddHours(options.Value.AfterHour)) return 0;
        var day = today.AddDays(-1);
        var (start, end) = (LedgerPeriods.Start(day), LedgerPeriods.Start(today));
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var pending = await db.LedgerEntries.Where(e => e.CreatedAt >= start && e.CreatedAt < end)
            .Where(e => !db.LedgerCloses.Any(c => c.MerchantId == e.MerchantId && c.Currency == e.Currency && c.Day == day))
            .Select(e => new { e.MerchantId, e.Currency }).Distinct().ToListAsync(ct);
        var closed = 0;
        foreach (var p in pending)
        {
            var outcome = await DailyClose.CloseAsync(db, p.MerchantId, day, p.Currency, "job", now, ct);
            if (outcome is CloseOutcome.Refused(var code, var detail))
                log.LogInformation("Ledger day {Day} of {Merchant} in {Currency} stays open: {Code} {Detail}", day, p.MerchantId, p.Currency, code, detail);
            else closed++;
            db.ChangeTracker.Clear();
        }
        return closed;
    }
}
