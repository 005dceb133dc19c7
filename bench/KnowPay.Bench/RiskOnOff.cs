using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace KnowPay.Bench;

/// <summary>
/// --scenario risk (also in "all" and its smoke): what the risk check costs the paid-order flow. On one database (history and
/// recent risk decisions seeded), KnowPay is started alternately with <c>Risk:Enabled=true</c> and <c>false</c> (one process
/// at a time, each warmed up), in ABBA order (on, off, off, on, …) so that a drift of the shared machine's load falls on
/// both modes alike; each round runs the spread paid-order load at one concurrency, every order with a risk_context (IP and device per customer). Reported: paid/s and flow latency on ÷
/// off over all rounds, CPU ms per order of each mode, and the load average at each round.
/// </summary>
static class RiskOnOff
{
    public sealed record Round(int Index, bool RiskOn, LoadResult Result, double KnowPayCpuMs, double PostgresCpuMs, string LoadAvg);

    public sealed record Result(string Database, int Concurrency, double DurationSeconds, int RecentDecisionsSeeded, List<Round> Rounds, List<string> Problems)
    {
        IEnumerable<Round> Of(bool on) => Rounds.Where(r => r.RiskOn == on);
        static double Mean(IEnumerable<double> xs) => xs.DefaultIfEmpty(0).Average();
        double Ratio(Func<Round, double> f) => Mean(Of(false).Select(f)) is var off && off == 0 ? 0 : Mean(Of(true).Select(f)) / off;

        /// <summary>Mean paid/s with risk on ÷ off (the target: ≥ 0.95).</summary>
        public double ThroughputRatio => Ratio(r => r.Result.PaidPerSecond);
        public double FlowP50Ratio => Ratio(r => r.Result.FlowP50);
        public double FlowP99Ratio => Ratio(r => r.Result.FlowP99);
        public double CpuMsOn => Mean(Of(true).Select(r => r.KnowPayCpuMs + r.PostgresCpuMs));
        public double CpuMsOff => Mean(Of(false).Select(r => r.KnowPayCpuMs + r.PostgresCpuMs));
        public bool Passed => Problems.Count == 0;

        public void Markdown(StringBuilder s)
        {
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture, $"### risk on ÷ off, {Database} (spread, c = {Concurrency}, {DurationSeconds:F0} s per round, {RecentDecisionsSeeded} decisions of the last 24 h seeded)");
            s.AppendLine();
            s.AppendLine("| round | risk | load avg | paid/s | flow p50 / p99 ms | CPU ms/order KnowPay / PG | alloc KB/order | errors | held for review | paid counted |");
            s.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in Rounds)
                s.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Index} | {(r.RiskOn ? "on" : "off")} | {r.LoadAvg} | {r.Result.PaidPerSecond:F1} | {r.Result.FlowP50:F0} / {r.Result.FlowP99:F0} | {r.KnowPayCpuMs:F2} / {r.PostgresCpuMs:F2} | {r.Result.AllocKbPerOrder:F0} | {r.Result.Errors} | {r.Result.HeldForReview} | {r.Result.CountedTotal} |");
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture,
                $"paid/s on ÷ off **{ThroughputRatio:F3}** (target ≥ 0.95: {(ThroughputRatio >= 0.95 ? "met" : "not met")}); flow p50 on ÷ off {FlowP50Ratio:F3}, p99 {FlowP99Ratio:F3}; " +
                $"CPU ms/order (KnowPay + PG) on {CpuMsOn:F2}, off {CpuMsOff:F2}; checks {(Passed ? "pass" : "FAIL: " + string.Join("; ", Problems))}");
        }
    }

    /// <param name="databases">"postgres", "sqlite" or "both".</param>
    /// <param name="offFirst">BAAB (off, on, on, off, …) instead of ABBA: which mode the first measured round runs in.</param>
    public static async Task<List<Result>> RunAsync(string root, bool smoke, int rounds, int concurrency, int duration, int history, string databases,
        bool pgStats = false, bool offFirst = false)
    {
        var results = new List<Result>();
        if (databases is "both" or "postgres")
        {
            await using var pg = await Postgres.StartAsync(statementStats: pgStats);
            await pg.CreateDatabaseAsync("knowpay_risk");
            Console.WriteLine($"[risk postgres] PostgreSQL 15 on port {pg.Port}, database knowpay_risk");
            results.Add(await RunDatabaseAsync(root, "postgres", pg.Database("knowpay_risk"), pg.PostmasterPid, smoke, rounds, concurrency, duration, history, pgStats, offFirst));
        }
        if (databases is "both" or "sqlite")
        {
            var file = Path.Combine(Path.GetTempPath(), $"knowpay-bench-risk-{Guid.NewGuid():N}.db");
            try { results.Add(await RunDatabaseAsync(root, "sqlite", $"Data Source={file}", null, smoke, rounds, concurrency, duration, history, false, offFirst)); }
            finally { foreach (var f in new[] { file, file + "-wal", file + "-shm" }) File.Delete(f); }
        }
        return results;
    }

    static async Task<Result> RunDatabaseAsync(string root, string provider, string connection, int? postmasterPid, bool smoke, int rounds,
        int concurrency, int duration, int history, bool pgStats, bool offFirst)
    {
        var (merchantId, secret) = await KnowPayProcess.CreateMerchantAsync(root, provider, connection);
        var db = new BenchDb(provider, connection);
        Console.WriteLine($"[risk {provider}] seeding {history} paid orders of history and as many risk decisions of the last 24 h, then VACUUM ANALYZE…");
        await db.SeedHistoryAsync(merchantId, history);
        await db.SeedLoadCustomersAsync(merchantId, concurrency);
        await db.SeedRecentRiskDecisionsAsync(merchantId, history);
        var recent = (int)await db.RiskDecisionCountAsync(merchantId);   // reported as seeded: what the table holds, not what was asked for
        var result = new Result(provider, concurrency, duration, recent, [], []);
        List<string>? products = null;
        // A first start, not measured: it runs the day's once-a-day jobs (yesterday's reconciliation) and warms the database's
        // caches, costs that would otherwise fall on the first measured round alone (risk on, or off with offFirst).
        await using (var first = await KnowPayProcess.StartAsync(root, provider, connection, settings: "--Risk:Enabled=true"))
        {
            var load = new Load(first.BaseUrl, secret);
            products = await load.CatalogAsync(smoke ? 10 : 1000);
            await load.RunAsync(new LoadSettings(concurrency, TimeSpan.Zero, TimeSpan.FromSeconds(smoke ? 1 : 15), products, true, null, RiskContext: true));
        }
        for (var i = 0; i < rounds * 2; i++)
        {
            // ABBA: on, off, off, on, on, off, … (BAAB with offFirst)
            var riskOn = ((i % 4) is 0 or 3) != offFirst;
            // Each round adds thousands of customers and orders; a new process plans its statements once, from the statistics of
            // its start, so they are refreshed first (as autovacuum would have by then), and the tables vacuumed, so that a round
            // pays for the autovacuum its own rows trigger and not for a wave left by the rounds before it.
            await db.SettleAsync();
            await using var kp = await KnowPayProcess.StartAsync(root, provider, connection, settings: $"--Risk:Enabled={(riskOn ? "true" : "false")}");
            var load = new Load(kp.BaseUrl, secret);
            products ??= await load.CatalogAsync(smoke ? 10 : 1000);
            // Warm-up, not measured: the JIT tiers up in every new process, and risk on has more code to tier up.
            await load.WarmUpAsync(new LoadSettings(concurrency, TimeSpan.Zero, TimeSpan.Zero, products, true, null, RiskContext: true), smoke);
            var loadAvg = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            var before = await db.PaidOrdersAsync(merchantId);
            var decisions0 = await db.RiskDecisionCountAsync(merchantId);
            if (pgStats) await db.ResetStatementStatsAsync();
            var cpu0 = Cpu.Take(kp.Process.Id, postmasterPid);
            var r = await load.RunAsync(new LoadSettings(concurrency, TimeSpan.FromSeconds(smoke ? 1 : 3), TimeSpan.FromSeconds(duration), products, true, null, RiskContext: true));
            var cpu1 = Cpu.Take(kp.Process.Id, postmasterPid);
            // --pg-stats: the round's statements per paid order (adds overhead: not for timing).
            if (pgStats) Console.WriteLine(await db.StatementStatsAsync(r.CountedTotal));
            double Per(double seconds) => r.CountedTotal == 0 ? 0 : seconds * 1000 / r.CountedTotal;
            await Task.Delay(500); // a timed-out order could still be confirmed late
            var inDb = await db.PaidOrdersAsync(merchantId) - before;
            var problems = await db.CheckInvariantsAsync();
            if (inDb != r.CountedTotal) problems.Add($"round {i}: paid orders in the database ({inDb}) ≠ counted ({r.CountedTotal})");
            if (r.CountedTotal == 0) problems.Add($"round {i}: no order was paid");
            if (r.Errors > 0) problems.Add($"round {i}: {r.Errors} errors, first: {r.FirstError}");
            // Risk on: every order of the round has its decision; off: none is written.
            var decisions = await db.RiskDecisionCountAsync(merchantId) - decisions0;
            if (riskOn ? decisions < r.CountedTotal : decisions != 0)
                problems.Add($"round {i}: {decisions} risk decisions for {r.CountedTotal} paid orders with risk {(riskOn ? "on" : "off")}");
            result.Problems.AddRange(problems);
            var round = new Round(i, riskOn, r, Per(cpu1.KnowPay - cpu0.KnowPay), Math.Max(0, Per(cpu1.Postgres - cpu0.Postgres)), loadAvg);
            result.Rounds.Add(round);
            Console.WriteLine($"[risk {provider}] round {i} risk {(riskOn ? "on " : "off")} c={concurrency}: {r.PaidPerSecond,7:F1} paid/s  flow p50 {r.FlowP50:F0} p99 {r.FlowP99:F0} ms  " +
                              $"CPU ms/order KnowPay {round.KnowPayCpuMs:F2} PG {round.PostgresCpuMs:F2}  load avg {loadAvg}  errors {r.Errors}  held for review {r.HeldForReview}  " +
                              (problems.Count == 0 ? "checks OK" : "CHECKS FAILED: " + string.Join("; ", problems)));
        }
        Console.WriteLine($"[risk {provider}] paid/s on ÷ off {result.ThroughputRatio:F3}; flow p50 on ÷ off {result.FlowP50Ratio:F3}, p99 {result.FlowP99Ratio:F3}");
        return result;
    }
}
