namespace KnowPay.Infrastructure;

/// <summary>A periodic job. Each must be safe on many nodes at once: the database arbitrates (conditional updates, row claims).</summary>
public interface IJob
{
    string Name { get; }
    Task<int> RunOnceAsync(DateTime now, CancellationToken ct);
}

/// <summary>Runs every registered <see cref="IJob"/> each <c>Jobs:IntervalSeconds</c> (default 5) while <c>Jobs:Enabled</c> (default true).</summary>
public sealed class JobRunner(IEnumerable<IJob> jobs, IConfiguration config, TimeProvider clock, ILogger<JobRunner> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!config.GetValue("Jobs:Enabled", true)) return;
        var interval = TimeSpan.FromSeconds(config.GetValue("Jobs:IntervalSeconds", 5.0));
        using var timer = new PeriodicTimer(interval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var job in jobs)
            {
                try
                {
                    await job.RunOnceAsync(clock.GetUtcNow().UtcDateTime, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError(e, "Job {Job} failed; it runs again in {Interval}", job.Name, interval);
                }
            }
        }
    }
}
