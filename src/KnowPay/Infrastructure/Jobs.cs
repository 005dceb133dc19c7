using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

/// <summary>A periodic job. Each must be safe on many nodes at once: the database arbitrates (conditional updates, row claims).</summary>
public interface IJob
{
    string Name { get; }
    /// <summary>How often the job needs to run; zero (the default) = on every tick of the runner. A job whose work is
    /// measured in minutes or days says so here, so that it does not re-read its tables every few seconds.</summary>
    TimeSpan Every => TimeSpan.Zero;
    Task<int> RunOnceAsync(DateTime now, CancellationToken ct);
}

/// <summary>Runs every registered <see cref="IJob"/> each <c>Jobs:IntervalSeconds</c> (default 5) while <c>Jobs:Enabled</c>
/// (default true); a job with a longer <see cref="IJob.Every"/> only on the first tick once that much time has passed.</summary>
public sealed class JobRunner(IEnumerable<IJob> jobs, IOptions<JobsOptions> options, TimeProvider clock, ILogger<JobRunner> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled) return;
        var interval = TimeSpan.FromSeconds(options.Value.IntervalSeconds);
        using var timer = new PeriodicTimer(interval, clock);
        var lastRun = new Dictionary<IJob, DateTime>();
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var job in jobs)
            {
                var now = clock.GetUtcNow().UtcDateTime;
                if (lastRun.TryGetValue(job, out var last) && now - last < job.Every) continue;
                lastRun[job] = now;
                try
                {
                    await job.RunOnceAsync(now, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError(e, "Job {Job} failed; it runs again in {Interval}", job.Name, interval);
                }
            }
        }
    }
}
