using KnowPay.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

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
        // The runner's clock is a fake one that the test moves tick by tick: the counts do not depend on how loaded the
        // machine is (the first version slept 1.2 s of real time and failed once under a loaded CI run).
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero));
        var slow = new CountingJob("slow", TimeSpan.FromMilliseconds(500));
        var everyTick = new CountingJob("every_tick", TimeSpan.Zero);
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Jobs:IntervalSeconds"] = "0.05" }).Build();
        // The every-tick job runs last in a tick, so once its count reaches n the slow job's decision for tick n is made.
        var runner = new JobRunner([slow, everyTick], config, clock, NullLogger<JobRunner>.Instance);

        await runner.StartAsync(CancellationToken.None);
        try
        {
            // The runner creates its timer on its own thread: move the clock until the first tick has run.
            while (everyTick.Runs == 0) { clock.Advance(TimeSpan.FromMilliseconds(50)); await RunsReach(everyTick, 1, TimeSpan.FromSeconds(1)); }
            for (var tick = 2; tick <= 24; tick++)
            {
                clock.Advance(TimeSpan.FromMilliseconds(50));
                Assert.True(await RunsReach(everyTick, tick, TimeSpan.FromSeconds(10)), $"tick {tick} did not run");
            }
        }
        finally { await runner.StopAsync(CancellationToken.None); }

        // 24 ticks 50 ms apart = 1.15 s after the first: the slow job is due at 0, 0.5 and 1.0 s, the other on every tick.
        Assert.Equal(24, everyTick.Runs);
        Assert.Equal(3, slow.Runs);
    }

    static async Task<bool> RunsReach(CountingJob job, int runs, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (Volatile.Read(ref job.Runs) < runs)
        {
            if (DateTime.UtcNow > until) return false;
            await Task.Delay(5);
        }
        return true;
    }
}
