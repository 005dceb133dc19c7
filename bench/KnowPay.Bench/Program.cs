using System.Globalization;
using System.Text;
using System.Text.Json;
using KnowPay.Bench;

// KnowPay benchmark: dotnet run -c Release --project bench/KnowPay.Bench -- --scenario all [--smoke]
// (--scenario crash [--cycles N]: the crash harness, Crash.cs; --scenario renewals [--subscriptions N]: Renewals.cs;
// --scenario risk [--rounds N]: paid orders with the risk check on ÷ off, RiskOnOff.cs.)
// Starts a throw-away durable PostgreSQL 15, measures pgbench, builds and starts KnowPay (Release, separate process)
// against it and against SQLite, runs the paid-order scenarios and checks the ledger after each run.
// --fuzz [N]: instead, N requests generated from the OpenAPI document (default 30000) against KnowPay on PostgreSQL (Fuzz.cs).
var opts = Options.Parse(args);
var root = FindRoot();
var started = DateTime.UtcNow;
var report = new Report { Command = "dotnet run -c Release --project bench/KnowPay.Bench -- " + string.Join(' ', args), StartedAt = started,
    Machine = $"{Environment.ProcessorCount} cores, {File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim()}, load avg at start {File.ReadAllText("/proc/loadavg").Split(' ')[0]}",
    Smoke = opts.Smoke, Flow = opts.Combined ? "combined (POST /v1/orders with payment)" : "separate (POST /v1/orders, POST /v1/orders/{id}/payments)" };
var failed = false;

KnowPayProcess.Override = opts.KnowPayDll is { } dll ? Path.GetFullPath(dll) : null;
KnowPayProcess.ExtraArgs = opts.KnowPayArgs;
KnowPayProcess.ExtraEnv = opts.KnowPayEnv;
var pgStats = opts.PgStats;
if (!opts.SkipBuild && KnowPayProcess.Override is null) await KnowPayProcess.BuildAsync(root);
if (opts.Scenario == "crash") return await CrashHarness.RunAsync(root, args);
if (opts.Fuzz is { } fuzzCount) return await Fuzz.RunAsync(root, fuzzCount, opts.PgConf);
// --scenario renewals [--subscriptions N] [--pg-stats]: N subscriptions renewed at one instant on PostgreSQL (Renewals.cs); not in "all".
if (opts.Scenario == "renewals")
    return await RenewalBench.RunAsync(root, Array.IndexOf(args, "--subscriptions") is var si and >= 0 && si + 1 < args.Length
        ? int.Parse(args[si + 1], CultureInfo.InvariantCulture) : 10_000, opts.PgbenchSeconds, pgStats, opts.PgConf, opts.PgLog);

// --scenario reconciliation [--payments N]: a day of N payments reconciled on PostgreSQL (Reconciliation.cs); also in "all".
if (opts.Scenario == "reconciliation")
    return (await ReconciliationBench.RunAsync(root, Array.IndexOf(args, "--payments") is var pi and >= 0 && pi + 1 < args.Length
        ? int.Parse(args[pi + 1], CultureInfo.InvariantCulture) : opts.Smoke ? 2_000 : 100_000)).Passed ? 0 : 1;

if (opts.Scenario == "wire-stress")
{
    await using var pg = await Postgres.StartAsync();
    return await WireStress.RunAsync(pg, opts.Duration, opts.Concurrency.Max()) ? 0 : 1;
}
if (opts.Scenario is "all" or "postgres")
{
    // --pg-log: every statement to /tmp/knowpay-bench-pg.log; --pg-stats: pg_stat_statements, top statements printed at the end
    await using var pg = await Postgres.StartAsync(opts.PgLog, pgStats, opts.PgConf);
    Console.WriteLine($"PostgreSQL 15 on port {pg.Port} (fsync=on, synchronous_commit=on)");
    report.PgbenchTps = await pg.PgbenchAsync(opts.PgbenchSeconds);
    Console.WriteLine($"pgbench -c 8 -j 2 -T {opts.PgbenchSeconds}: {report.PgbenchTps:F0} tps");
    await pg.CreateDatabaseAsync("knowpay_bench");
    report.Postgres = await RunDatabaseAsync("postgres", pg.Database("knowpay_bench", opts.MaxPool), pg.PostmasterPid);
    // pgbench itself moves between runs (disk flush latency): measure it again at the end and report both.
    report.PgbenchTpsAtEnd = await pg.PgbenchAsync(opts.PgbenchSeconds, initialize: false);
    Console.WriteLine($"pgbench again after the runs: {report.PgbenchTpsAtEnd:F0} tps");
    if (pgStats) Console.WriteLine(await new BenchDb("postgres", pg.Database("knowpay_bench")).StatementStatsAsync(report.Postgres.Runs.Sum(r => r.Result.CountedTotal)));
}
if (opts.Scenario is "all" or "sqlite")
{
    var file = Path.Combine(Path.GetTempPath(), $"knowpay-bench-{Guid.NewGuid():N}.db");
    try { report.Sqlite = await RunDatabaseAsync("sqlite", $"Data Source={file}"); }
    finally { foreach (var f in new[] { file, file + "-wal", file + "-shm" }) File.Delete(f); }
}

// --scenario risk [--rounds N] [--risk-concurrency C] [--risk-db postgres|sqlite|both] [--risk-first on|off]: paid orders with Risk:Enabled on ÷ off, interleaved (RiskOnOff.cs); also in "all".
if (opts.Scenario is "all" or "risk")
{
    report.Risk = await RiskOnOff.RunAsync(root, opts.Smoke, Array.IndexOf(args, "--rounds") is var ri and >= 0 && ri + 1 < args.Length
            ? int.Parse(args[ri + 1], CultureInfo.InvariantCulture) : opts.Smoke ? 1 : 3,
        Array.IndexOf(args, "--risk-concurrency") is var rc and >= 0 && rc + 1 < args.Length ? int.Parse(args[rc + 1], CultureInfo.InvariantCulture) : opts.Smoke ? 4 : 32,
        opts.Duration, opts.History, Array.IndexOf(args, "--risk-db") is var rd and >= 0 && rd + 1 < args.Length ? args[rd + 1] : "both", pgStats,
        offFirst: Array.IndexOf(args, "--risk-first") is var rf and >= 0 && rf + 1 < args.Length && args[rf + 1] == "off");
    if (report.Risk.Any(r => !r.Passed)) failed = true;
}

if (opts.Scenario == "all")
{
    report.Reconciliation = await ReconciliationBench.RunAsync(root, opts.Smoke ? 2_000 : 100_000);
    if (!report.Reconciliation.Passed) failed = true;
}

report.FinishedAt = DateTime.UtcNow;
report.LoadAvgAtEnd = File.ReadAllText("/proc/loadavg").Split(' ')[0];
var outDir = Path.Combine(root, "bench/results");
Directory.CreateDirectory(outDir);
var stamp = started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + (opts.Smoke ? "-smoke" : "");
var json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
var markdown = report.Markdown();
await File.WriteAllTextAsync(Path.Combine(outDir, stamp + ".json"), json);
await File.WriteAllTextAsync(Path.Combine(outDir, stamp + ".md"), markdown);
Console.WriteLine();
Console.WriteLine(markdown);
Console.WriteLine($"results: bench/results/{stamp}.json and .md");
return failed ? 1 : 0;

async Task<DatabaseReport> RunDatabaseAsync(string provider, string connection, int? postmasterPid = null)
{
    var result = new DatabaseReport { Database = provider };
    var (merchantId, secret) = await KnowPayProcess.CreateMerchantAsync(root, provider, connection);
    var db = new BenchDb(provider, connection);
    Console.WriteLine($"[{provider}] seeding {opts.History} paid orders of history, then VACUUM ANALYZE…");
    await db.SeedHistoryAsync(merchantId, opts.History);
    await using var kp = await KnowPayProcess.StartAsync(root, provider, connection);
    var load = new Load(kp.BaseUrl, secret);
    var hot = await load.CatalogAsync(1);
    var spread = await load.CatalogAsync(opts.Spread);
    Console.WriteLine($"[{provider}] KnowPay up at {kp.BaseUrl}; catalog: 1 hot product, {opts.Spread} spread creators/products");
    // --webhooks: the platform's endpoint, registered for every event type (the seeded history's events predate it).
    await using var sink = opts.Webhooks ? await WebhookSink.StartAsync() : null;
    long paidBeforeLoad = 0;
    if (sink is not null)
    {
        var endpoint = await load.PostAsync("/v1/webhook-endpoints", new System.Text.Json.Nodes.JsonObject { ["url"] = sink.Url, ["event_types"] = new System.Text.Json.Nodes.JsonArray("*") });
        sink.Secret = Encoding.UTF8.GetBytes((string)endpoint["secret"]!);
        paidBeforeLoad = await db.PaidOrdersAsync(merchantId);
        Console.WriteLine($"[{provider}] webhook endpoint registered for every event: {sink.Url}");
    }

    // Background cost: CPU of KnowPay and PostgreSQL with no load (jobs, webhook dispatcher, telemetry), in ms per second,
    // measured after the runs (right after start it would mostly be the JIT tiering up).
    async Task Idle(string when)
    {
        var idleSeconds = opts.Smoke ? 3 : 10;
        var cpu0 = Cpu.Take(kp.Process.Id, postmasterPid);
        await Task.Delay(TimeSpan.FromSeconds(idleSeconds));
        var cpu1 = Cpu.Take(kp.Process.Id, postmasterPid);
        var idle = new IdleCpu(when, (cpu1.KnowPay - cpu0.KnowPay) * 1000 / idleSeconds, Math.Max(0, cpu1.Postgres - cpu0.Postgres) * 1000 / idleSeconds); // < 0 when backends exited
        result.Idle.Add(idle);
        Console.WriteLine($"[{provider}] idle {when}: CPU KnowPay {idle.KnowPayMsPerSecond:F0} ms/s, PostgreSQL {idle.PostgresMsPerSecond:F0} ms/s");
    }

    async Task<LoadResult> Run(string name, int concurrency, IReadOnlyList<string> products, double? rate = null)
    {
        var before = await db.PaidOrdersAsync(merchantId);
        var cpu0 = Cpu.Take(kp.Process.Id, postmasterPid);
        var (deliveries0, clock) = (sink?.Deliveries ?? 0, System.Diagnostics.Stopwatch.StartNew());
        var r = await load.RunAsync(new LoadSettings(concurrency, TimeSpan.FromSeconds(opts.Warmup), TimeSpan.FromSeconds(opts.Duration), products, opts.Combined, rate));
        var cpu1 = Cpu.Take(kp.Process.Id, postmasterPid);
        // --webhooks: whether the dispatcher keeps up — deliveries received per second of the run against 2 events per paid order.
        var webhooksPerSecond = sink is null ? (double?)null : (sink.Deliveries - deliveries0) / clock.Elapsed.TotalSeconds;
        var cpu = new CpuPerOrder(Per(cpu1.KnowPay - cpu0.KnowPay), Per(cpu1.Postgres - cpu0.Postgres), Per(cpu1.Bench - cpu0.Bench),
            r.CountedTotal == 0 ? 0 : (double)Cpu.SwitchesBetween(cpu0, cpu1) / r.CountedTotal);
        double Per(double seconds) => r.CountedTotal == 0 ? 0 : seconds * 1000 / r.CountedTotal;
        await Task.Delay(500); // a timed-out order could still be confirmed late: let it land before counting
        var inDb = await db.PaidOrdersAsync(merchantId) - before;
        var problems = await db.CheckInvariantsAsync();
        if (inDb != r.CountedTotal) problems.Add($"paid orders in the database ({inDb}) ≠ counted ({r.CountedTotal})");
        if (r.CountedTotal == 0) problems.Add("no order was paid");
        var (peak, rss) = kp.Memory();
        result.PeakRssMb = peak;
        var run = new RunReport(name, r, inDb, problems.Count == 0, problems, rss, cpu);
        result.Runs.Add(run);
        if (problems.Count > 0) failed = true;
        Console.WriteLine($"[{provider}] {name,-7} c={concurrency,3}{(rate is null ? "" : $" rate={rate:F0}/s")}: {r.PaidPerSecond,7:F1} paid/s  flow p50 {r.FlowP50:F0} p99 {r.FlowP99:F0} max {r.FlowMax:F0} ms  " +
                          $"notify p50 {r.NotifyP50:F1} p99 {r.NotifyP99:F1} ms  CPU ms/order KnowPay {cpu.KnowPayMs:F2} PG {cpu.PostgresMs:F2} bench {cpu.BenchMs:F2}  KnowPay {cpu.KnowPaySwitches:F1} context switches/order  alloc {r.AllocKbPerOrder:F0} KB/order, {r.GcsPerThousandOrders:F1} GCs/1k orders, GC pauses {r.GcPauseMsPerOrder:F3} ms/order, JIT {r.JitMsPerOrder:F3} ms/order  errors {r.Errors}  polls/order {r.PollsPerOrder:F1}  {(webhooksPerSecond is { } w ? $"webhooks {w:F0}/s  " : "")}RSS {rss:F0} MB (peak {peak:F0})  " +
                          (problems.Count == 0 ? "checks OK" : "CHECKS FAILED: " + string.Join("; ", problems)) + (r.FirstError is null ? "" : $"  first error: {r.FirstError}"));
        return r;
    }

    var warmup = await load.WarmUpAsync(new LoadSettings(opts.Concurrency[0], TimeSpan.Zero, TimeSpan.Zero, spread, opts.Combined, null), opts.Smoke);
    Console.WriteLine($"[{provider}] warm-up {warmup.TotalSeconds:F0} s" + (opts.Smoke ? " (smoke: no wait for the JIT)" : " (until KnowPay's JIT compiled < 2 % of a 5 s step)"));
    // Statement and WAL statistics from here on, so that they cover exactly the orders the runs count (warm-up excluded).
    if (pgStats && provider == "postgres") await db.ResetStatementStatsAsync();
    foreach (var c in opts.Concurrency)
    {
        await Run("spread", c, spread);
        await Run("hot", c, hot);
    }
    var bestSpread = result.Runs.Where(x => x.Name == "spread").MaxBy(x => x.Result.PaidPerSecond)!;
    var bestHot = result.Runs.Where(x => x.Name == "hot").MaxBy(x => x.Result.PaidPerSecond)!;
    result.BestSpread = bestSpread.Result.PaidPerSecond;
    result.BestHot = bestHot.Result.PaidPerSecond;
    // Notification latency at half of peak: an open-loop run at half the best rate, with the best run's concurrency.
    // First let the loaded runs' background work settle (the webhook fan-out of their ~10^5 events, autovacuum), so the
    // half-peak run measures steady state at that rate rather than the catch-up after an overload.
    var settle = System.Diagnostics.Stopwatch.StartNew();
    for (var i = 0; i < (opts.Smoke ? 3 : 120); i++)
    {
        var a = Cpu.Take(kp.Process.Id, postmasterPid);
        await Task.Delay(1000);
        var b = Cpu.Take(kp.Process.Id, postmasterPid);
        if (b.KnowPay - a.KnowPay + Math.Max(0, b.Postgres - a.Postgres) < 0.1) break;
    }
    Console.WriteLine($"[{provider}] background work settled after {settle.Elapsed.TotalSeconds:F0} s");
    var half = await Run("half", bestSpread.Result.Concurrency, spread, Math.Max(1, Math.Max(result.BestSpread, result.BestHot) / 2));
    result.HalfPeakNotifyP99 = half.NotifyP99;
    await Idle("after the runs");
    result.PeakRssMb = kp.Memory().PeakMb;
    if (sink is not null)
    {
        // Every paid order announced to the platform: give the dispatcher up to 2 minutes to catch up, then count.
        var paid = await db.PaidOrdersAsync(merchantId) - paidBeforeLoad;
        var wait = System.Diagnostics.Stopwatch.StartNew();
        while (sink.PaidOrdersAnnounced < paid && wait.Elapsed < TimeSpan.FromMinutes(2)) await Task.Delay(500);
        var ok = sink.PaidOrdersAnnounced == paid && sink.BadSignatures == 0;
        if (!ok) failed = true;
        result.Webhooks = new WebhookReport(sink.Deliveries, sink.PaidOrdersAnnounced, paid, sink.BadSignatures, wait.Elapsed.TotalSeconds, ok);
        Console.WriteLine($"[{provider}] webhooks: {sink.Deliveries} deliveries, order.paid for {sink.PaidOrdersAnnounced} of {paid} paid orders, " +
                          $"{sink.BadSignatures} bad signatures (waited {wait.Elapsed.TotalSeconds:F0} s after the runs): {(ok ? "checks OK" : "CHECK FAILED")}");
    }
    return result;
}

static string FindRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "KnowPay.slnx"))) return dir.FullName;
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "KnowPay.slnx"))) return dir.FullName;
    throw new InvalidOperationException("KnowPay.slnx not found above the current directory");
}

/// <param name="MaxPool">KnowPay's PostgreSQL pool (<c>--max-pool N</c>); null = KnowPay's own default (16 connections).</param>
/// <param name="KnowPayDll">Another KnowPay build to measure (<c>--knowpay</c>); <c>KnowPayArgs</c>/<c>KnowPayEnv</c>: its extra
/// settings and environment; <c>PgConf</c>: extra PostgreSQL settings (<c>--pg-conf "name=value …"</c>).</param>
sealed record Options(string Scenario, bool Smoke, int Duration, int Warmup, int[] Concurrency, int History, int Spread, int PgbenchSeconds, bool Combined, bool SkipBuild,
    int? MaxPool, bool Webhooks, string? KnowPayDll, string KnowPayArgs, string KnowPayEnv, string PgConf, bool PgStats, bool PgLog, int? Fuzz)
{
    public static Options Parse(string[] args)
    {
        string? Arg(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        var smoke = args.Contains("--smoke");
        return new Options(
            Arg("--scenario") ?? "all",
            smoke,
            int.Parse(Arg("--duration") ?? (smoke ? "3" : "15"), CultureInfo.InvariantCulture),
            int.Parse(Arg("--warmup") ?? (smoke ? "1" : "3"), CultureInfo.InvariantCulture),
            (Arg("--concurrency") ?? (smoke ? "4" : "8,16,32,64")).Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray(),
            int.Parse(Arg("--history") ?? (smoke ? "300" : "30000"), CultureInfo.InvariantCulture),
            int.Parse(Arg("--spread") ?? (smoke ? "10" : "1000"), CultureInfo.InvariantCulture),
            int.Parse(Arg("--pgbench-seconds") ?? (smoke ? "2" : "20"), CultureInfo.InvariantCulture),
            (Arg("--flow") ?? "combined") == "combined",
            args.Contains("--no-build"),
            Arg("--max-pool") is { } pool ? int.Parse(pool, CultureInfo.InvariantCulture) : null,
            args.Contains("--webhooks"),
            Arg("--knowpay"),
            Arg("--knowpay-args") ?? "",
            Arg("--knowpay-env") ?? "",
            Arg("--pg-conf") ?? "",
            args.Contains("--pg-stats"),
            args.Contains("--pg-log"),
            !args.Contains("--fuzz") ? null : Arg("--fuzz") is { } n && int.TryParse(n, CultureInfo.InvariantCulture, out var fuzz) ? fuzz : 30_000);
    }
}

/// <summary>CPU with no load: what the background jobs, the webhook dispatcher and telemetry cost.</summary>
sealed record IdleCpu(string When, double KnowPayMsPerSecond, double PostgresMsPerSecond);

/// <summary>--webhooks: what the platform's endpoint received (order.paid counted once per order) against the paid orders.</summary>
sealed record WebhookReport(long Deliveries, long PaidOrdersAnnounced, long PaidOrders, long BadSignatures, double CaughtUpAfterSeconds, bool ChecksPassed);

sealed record RunReport(string Name, LoadResult Result, long PaidInDatabase, bool ChecksPassed, List<string> Problems, double RssMb, CpuPerOrder Cpu);

/// <summary>CPU milliseconds per paid order (warm-up included, as are its orders).</summary>
sealed record CpuPerOrder(double KnowPayMs, double PostgresMs, double BenchMs, double KnowPaySwitches);

sealed class DatabaseReport
{
    public required string Database { get; init; }
    public List<RunReport> Runs { get; } = [];
    public List<IdleCpu> Idle { get; } = [];
    public double BestSpread { get; set; }
    public double BestHot { get; set; }
    public double HalfPeakNotifyP99 { get; set; }
    public double PeakRssMb { get; set; }
    public WebhookReport? Webhooks { get; set; }
}

sealed class Report
{
    public required string Command { get; init; }
    public required string Machine { get; init; }
    public required bool Smoke { get; init; }
    public required string Flow { get; init; }
    public DateTime StartedAt { get; init; }
    public DateTime FinishedAt { get; set; }
    public string? LoadAvgAtEnd { get; set; }
    public double? PgbenchTps { get; set; }
    public double? PgbenchTpsAtEnd { get; set; }
    public DatabaseReport? Postgres { get; set; }
    public DatabaseReport? Sqlite { get; set; }
    public ReconciliationBench.Result? Reconciliation { get; set; }
    public List<RiskOnOff.Result>? Risk { get; set; }

    public string Markdown()
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"KnowPay benchmark {StartedAt:yyyy-MM-dd HH:mm} UTC{(Smoke ? " (SMOKE: tiny, numbers meaningless)" : "")}; {Machine}; load avg at end {LoadAvgAtEnd}; flow: {Flow}");
        s.AppendLine();
        if (Reconciliation is { } rec)
            s.AppendLine(CultureInfo.InvariantCulture, $"reconciliation (PostgreSQL, SandboxPay bill): {rec.Payments} payments in **{rec.RunSeconds:F1} s**, {rec.Matched} matched, {rec.Differences} differences; KnowPay RSS {rec.RssBeforeMb:F0} → {rec.RssAfterMb:F0} MB, peak {rec.PeakRssMb:F0} MB; {(rec.Passed ? "checks OK" : "CHECKS FAILED")}");
        if (PgbenchTps is { } tps) s.AppendLine(CultureInfo.InvariantCulture, $"pgbench (TPC-B, -c 8 -j 2, same server, fsync on): **{tps:F0} tps** before the runs, {PgbenchTpsAtEnd:F0} tps after");
        foreach (var d in new[] { Postgres, Sqlite })
        {
            if (d is null) continue;
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture, $"### {d.Database}");
            s.AppendLine();
            s.AppendLine("| run | conc. | paid/s | flow p50 / p99 / max ms | notify p50 / p99 / max ms | CPU ms/order KnowPay / PG / bench | KnowPay alloc KB/order, GCs/1k, GC pause ms/order, JIT ms/order | errors | polls/order | paid counted = in DB | ledger checks |");
            s.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in d.Runs)
            {
                var x = r.Result;
                s.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Name}{(x.TargetRate is { } rate ? $" @{rate:F0}/s" : "")} | {x.Concurrency} | {x.PaidPerSecond:F1} | {x.FlowP50:F0} / {x.FlowP99:F0} / {x.FlowMax:F0} | {x.NotifyP50:F1} / {x.NotifyP99:F1} / {x.NotifyMax:F0} | {r.Cpu.KnowPayMs:F2} / {r.Cpu.PostgresMs:F2} / {r.Cpu.BenchMs:F2} | {x.AllocKbPerOrder:F0}, {x.GcsPerThousandOrders:F1}, {x.GcPauseMsPerOrder:F3}, {x.JitMsPerOrder:F3} | {x.Errors} | {x.PollsPerOrder:F1} | {x.CountedTotal} = {r.PaidInDatabase} | {(r.ChecksPassed ? "pass" : "FAIL: " + string.Join("; ", r.Problems))} |");
            }
            s.AppendLine();
            // Three decimals and a verdict from the unrounded value, so that a ratio just below a target never reads as met.
            var hotBySpread = d.BestSpread == 0 ? 0 : d.BestHot / d.BestSpread;
            s.AppendLine(CultureInfo.InvariantCulture, $"best spread {d.BestSpread:F1} paid/s, best hot {d.BestHot:F1} paid/s → hot ÷ spread **{hotBySpread:F3}** (target ≥ 0.9: {Met(hotBySpread >= 0.9)})");
            if (d.Database == "postgres" && PgbenchTps is { } t && t > 0)
            {
                var ratio = Math.Max(d.BestSpread, d.BestHot) / t;
                s.AppendLine(CultureInfo.InvariantCulture, $"best paid/s ÷ pgbench tps **{ratio:F3}** (target ≥ 0.30: {Met(ratio >= 0.30)}; ÷ the pgbench after the runs: {(PgbenchTpsAtEnd is > 0 and var e ? Math.Max(d.BestSpread, d.BestHot) / e : 0):F3})");
            }
            foreach (var i in d.Idle)
                s.AppendLine(CultureInfo.InvariantCulture, $"idle {i.When}: CPU KnowPay {i.KnowPayMsPerSecond:F0} ms/s, PostgreSQL {i.PostgresMsPerSecond:F0} ms/s (background jobs, dispatcher, telemetry)");
            s.AppendLine(CultureInfo.InvariantCulture, $"notification p99 at half peak **{d.HalfPeakNotifyP99:F1} ms** (target < 25: {Met(d.HalfPeakNotifyP99 < 25)}); KnowPay peak RSS **{d.PeakRssMb:F0} MB** (target < 400: {Met(d.PeakRssMb < 400)})");
            if (d.Webhooks is { } w)
                s.AppendLine(CultureInfo.InvariantCulture, $"webhooks (an endpoint for every event): {w.Deliveries} deliveries; order.paid for {w.PaidOrdersAnnounced} of {w.PaidOrders} paid orders; {w.BadSignatures} bad signatures; {(w.ChecksPassed ? "pass" : "FAIL")}");
        }
        foreach (var r in Risk ?? []) r.Markdown(s);
        return s.ToString();
    }

    static string Met(bool met) => met ? "met" : "not met";
}
