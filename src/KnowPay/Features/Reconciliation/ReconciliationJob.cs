using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// Imports and matches yesterday's bill of every enabled billed provider once its day has reached
/// <c>Reconciliation:BillHour</c>; a run that waits (bill not ready) or failed is tried again every half hour.
/// Safe on many nodes: the run row is unique per provider and day and bill lines are unique per key.
/// </summary>
public sealed class ReconciliationJob(IServiceScopeFactory scopes, IOptions<ReconciliationOptions> options, ILogger<ReconciliationJob> log) : IJob
{
    static readonly TimeSpan RetryAfter = TimeSpan.FromMinutes(30);

    public string Name => "reconciliation";
    public TimeSpan Every => TimeSpan.FromMinutes(5);

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var bills = scope.ServiceProvider.GetRequiredService<BillSources>();
        var done = 0;
        foreach (var provider in bills.Enabled.ToList())
        {
            var today = BillSources.DayOf(provider, now);
            if (BillSources.Window(provider, today).From.AddHours(options.Value.BillHour) > now) continue;
            var day = today.AddDays(-1);
            var run = await db.ReconciliationRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Provider == provider && r.Day == day, ct);
            if (run is { Status: "completed" } || run?.StartedAt > now - RetryAfter) continue;
            try
            {
                await using var runScope = scopes.CreateAsyncScope();
                var result = await runScope.ServiceProvider.GetRequiredService<RunReconciliation>().RunAsync(provider, day, ct);
                log.LogInformation("Reconciliation {RunId} of {Provider} {Day}: {Status}, {Matched} matched, {Differences} differences",
                    result.Id, provider, day, result.Status, result.Matched, result.Differences);
                done++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One provider's failure never holds back another's.
                log.LogError(e, "Reconciliation of {Provider} {Day} failed; tried again later", provider, day);
            }
        }
        return done;
    }
}

public static class ReconciliationWiring
{
    public static void AddReconciliation(this WebApplicationBuilder builder)
    {
        builder.AddBoundOptions<ReconciliationOptions>();
        builder.Services.AddScoped<BillSources>();
        builder.Services.AddScoped<BillMatching>();
        builder.Services.AddScoped<RunReconciliation>();
        builder.Services.AddSingleton<IJob, ReconciliationJob>();
    }
}
