using KnowPay.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Extensions.Options;

namespace KnowPay.Tests.Domain;

/// <summary>The job runner honours each job's own cadence (<see cref="IJob.Every"/>) on top of its tick.</summary>
public sealed class JobRunnerTests
{
    sealed class CountingJob(string name, TimeSpan every) : IJob
    {
        readonly List<DateTime> runs = [];
        public int Runs { get { lock (runs) return runs.Count; } }
        public DateTime[] RanAt { get { lock (runs) return [.. runs]; } }
        public string Name => name;
        public TimeSpan Every => every;
        public Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
        {
            lock (runs) runs.Add(now);
            return Task.FromResult(1);
        }
    }

    [Fact]
    public async Task AJobWithALongerCadence_RunsOnlyWhenItIsDue_OthersOnEveryTick()
    {
        // The runner's clock is a fake one that the test moves tick by tick, and the jobs record the clock time of each run:
        // what is asserted does not depend on how loaded the machine is (the first version slept 1.2 s of real time and
        // failed once under a loaded CI run).
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero));
        var slow = new CountingJob("slow", TimeSpan.FromMilliseconds(500));
        var everyTick = new CountingJob("every_tick", TimeSpan.Zero);
        var options = Options.Create(new JobsOptions { IntervalSeconds = 0.05 });
        // The every-tick job runs last in a tick, so once its count grows the slow job's decision for that tick is made.
        var runner = new JobRunner([slow, everyTick], options, clock, NullLogger<JobRunner>.Instance);

        await runner.StartAsync(CancellationToken.None);
        try
        {
            // The runner creates its timer on its own thread, possibly after the first moves of the clock: those pass unseen.
            // A runner that stops ticking fails the test after 60 s instead of hanging it.
            var giveUp = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (everyTick.Runs < 24)
            {
                Assert.True(DateTime.UtcNow < giveUp, $"the runner ran {everyTick.Runs} ticks in 60 s");
                var before = everyTick.Runs;
                clock.Advance(TimeSpan.FromMilliseconds(50));
                await WaitForRunsAsync(everyTick, before + 1, TimeSpan.FromSeconds(before == 0 ? 0.2 : 10));
            }
        }
        finally { await runner.StopAsync(CancellationToken.None); }

        // The slow job ran on the first tick, then on each first tick at least 500 ms after its previous run, and on no other;
        // the other ran on every tick. The 24 ticks span at least 1.15 s of the clock, so the slow job's cadence is decided
        // more than once (it is due again at 0.5 and 1.0 s).
        var ticks = everyTick.RanAt;
        var expected = new List<DateTime> { ticks[0] };
        foreach (var t in ticks.Skip(1))
            if (t - expected[^1] >= TimeSpan.FromMilliseconds(500)) expected.Add(t);
        Assert.Equal(expected, slow.RanAt);
    }

    /// <summary>Until the job has run <paramref name="runs"/> times, or <paramref name="within"/> has passed.</summary>
    static async Task WaitForRunsAsync(CountingJob job, int runs, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (job.Runs < runs && DateTime.UtcNow < until) await Task.Delay(5);
    }
}
