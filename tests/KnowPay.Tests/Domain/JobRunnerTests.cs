using KnowPay.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace KnowPay.Tests.Domain;

/// <summary>The job runner honours each job's own cadence (<see cref="IJob.Every"/>) on top of its tick.</summary>
public sealed class JobRunnerTests
{
    sealed class CountingJob(string name, TimeSpan every) : IJob
    {
        public int Runs;
        public string Name => name;
        public TimeSpan Every => every;
        public Task<int> RunOnceAsync(DateTime now, CancellationToken ct) => Task.FromResult(Interlocked.Increment(ref Runs));
    }

    [Fact]
    public async Task AJobWithALongerCadence_RunsOnlyWhenItIsDue_OthersOnEveryTick()
    {
        var everyTick = new CountingJob("every_tick", TimeSpan.Zero);
        var slow = new CountingJob("slow", TimeSpan.FromMilliseconds(500));
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Jobs:IntervalSeconds"] = "0.05" }).Build();
        var runner = new JobRunner([everyTick, slow], config, TimeProvider.System, NullLogger<JobRunner>.Instance);

        await runner.StartAsync(CancellationToken.None);
        await Task.Delay(1200);
        await runner.StopAsync(CancellationToken.None);

        // 1.2 s of 50 ms ticks: the slow job is due at most at 0, 0.5 and 1.0 s after its first run (3 runs; 4 allows for a
        // late first tick), the other runs on every tick it gets (≈ 24; fewer on a loaded machine, never as few as the slow one).
        Assert.InRange(slow.Runs, 1, 4);
        Assert.True(everyTick.Runs >= 2 * slow.Runs + 2, $"every-tick job ran {everyTick.Runs} times, the slow one {slow.Runs}");
    }
}
