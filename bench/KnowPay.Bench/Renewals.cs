using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace KnowPay.Bench;

/// <summary>
/// --scenario renewals [--subscriptions N]: N SandboxPay subscriptions on one test clock, due at one instant, renewed by one
/// advance of the clock (the <c>subscription_renewals</c> engine) on PostgreSQL; renewals/s against pgbench tps of the same server.
/// SandboxPay keeps its agreements in memory, so subscriptions are created and their agreements signed over HTTP (in parallel);
/// a first advance to the start pays the first invoices, the measured one renews every subscription once.
/// </summary>
static class RenewalBench
{
    static readonly DateTime T0 = new(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);

    public static async Task<int> RunAsync(string root, int count, int pgbenchSeconds, bool pgStats, string pgConf, bool pgLog)
    {
        await using var pg = await Postgres.StartAsync(pgLog, pgStats, pgConf);
        var tps = await pg.PgbenchAsync(pgbenchSeconds);
        Console.WriteLine($"PostgreSQL 15 on port {pg.Port}; pgbench -c 8 -j 2 -T {pgbenchSeconds}: {tps:F0} tps");
        await pg.CreateDatabaseAsync("knowpay_bench");
        var connection = pg.Database("knowpay_bench");
        var (merchantId, secret) = await KnowPayProcess.CreateMerchantAsync(root, "postgres", connection);
        await using var kp = await KnowPayProcess.StartAsync(root, "postgres", connection);
        using var http = new HttpClient { BaseAddress = new Uri(kp.BaseUrl), Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using var anonymous = new HttpClient { BaseAddress = new Uri(kp.BaseUrl), Timeout = Timeout.InfiniteTimeSpan };

        async Task<JsonNode> Post(HttpClient client, string path, object? body)
        {
            using var response = await client.PostAsync(path, body is null ? null : JsonContent.Create(body));
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"POST {path} → {(int)response.StatusCode}: {text}");
            return JsonNode.Parse(text)!;
        }

        var creator = await Post(http, "/v1/creators", new { name = "Renewal creator" });
        var product = await Post(http, "/v1/products", new
        {
            creator_id = (string)creator["id"]!, name = "Renewal column", kind = "column", creator_share_bps = 7000,
            prices = new[] { new { amount = 3000L, currency = "CNY", recurring = new { interval = "month", interval_count = 1 } } },
        });
        var price = (string)product["prices"]![0]!["id"]!;
        var clock = (string)(await Post(http, "/v1/test_clocks", new { frozen_time = T0 }))["id"]!;

        var setup = Stopwatch.StartNew();
        var mandates = new string[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            var sub = await Post(http, "/v1/subscriptions", new
            {
                customer_external_id = "renewal-" + i.ToString(CultureInfo.InvariantCulture), price_id = price, provider = "sandbox", method = "page", test_clock = clock,
            });
            mandates[i] = (string)sub["pending_mandate"]!["id"]!;
            await Post(anonymous, $"/sandbox/sandboxpay/v1/agreements/{mandates[i]}/sign", null);
        });
        Console.WriteLine($"{count} subscriptions created and agreements signed in {setup.Elapsed.TotalSeconds:F0} s");
        await using var db = NpgsqlDataSource.Create(connection);
        async Task<long> Scalar(string sql)
        {
            await using var cmd = db.CreateCommand(sql);
            cmd.CommandTimeout = 600;
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }
        var m = $"'{merchantId}'";
        while (await Scalar($"SELECT COUNT(*) FROM mandates WHERE merchant_id = {m} AND status = 'Active'") < count) await Task.Delay(200);
        var first = Stopwatch.StartNew();
        await Post(http, $"/v1/test_clocks/{clock}/advance", new { frozen_time = T0 });
        var firstPaid = await Scalar($"SELECT COUNT(*) FROM invoices WHERE merchant_id = {m} AND status = 'Paid'");
        Console.WriteLine($"first invoices: {firstPaid} paid in {first.Elapsed.TotalSeconds:F0} s");

        // Every subscription is due at the same instant: one advance renews them all; a poller timestamps paid renewals.
        await using (var cmd = db.CreateCommand($"SELECT MAX(current_period_end) FROM subscriptions WHERE merchant_id = {m}"))
        {
            var renewal = (DateTime)(await cmd.ExecuteScalarAsync())!;
            var due = await Scalar($"SELECT COUNT(*) FROM subscriptions WHERE merchant_id = {m} AND current_period_end = (SELECT MAX(current_period_end) FROM subscriptions WHERE merchant_id = {m})");
            // The server's statistics as a long-running database has them, not as of the empty schema: the setup grew every table
            // from nothing within autovacuum's first minute, and plans made from an empty table's estimates can scan an index.
            var stats = new BenchDb("postgres", connection);
            await stats.SettleAsync();
            // pgbench right before and right after the advance: the machine's neighbours move it, so the ratio is given against both and their mean.
            var loadBefore = LoadAverage();
            var tpsBefore = await pg.PgbenchAsync(pgbenchSeconds, initialize: false);
            Console.WriteLine($"pgbench just before the advance: {tpsBefore:F0} tps (load avg {loadBefore})");
            Console.WriteLine($"{due} of {count} subscriptions due at {renewal:O}; advancing the clock there (KnowPay pid {kp.Process.Id})");
            // --pg-stats: the advance's statements per renewal (adds overhead: not for timing).
            if (pgStats) await stats.ResetStatementStatsAsync();
            // KnowPay's allocation and GC pauses over the advance.
            var runtime0 = RuntimeCounters.Parse(await http.GetStringAsync("/metrics"));
            var cpu0 = Cpu.Take(kp.Process.Id, pg.PostmasterPid);
            var clockTime = Stopwatch.StartNew();
            var advance = Post(http, $"/v1/test_clocks/{clock}/advance", new { frozen_time = renewal.ToUniversalTime() });
            double? firstAt = null, lastAt = null;
            long seen = 0;
            var renewed = $"SELECT COUNT(*) FROM invoices WHERE merchant_id = {m} AND status = 'Paid'";
            while (true)
            {
                var done = advance.IsCompleted;
                var paid = await Scalar(renewed) - firstPaid;
                var t = clockTime.Elapsed.TotalSeconds;
                if (paid > 0 && firstAt is null) firstAt = t;
                if (paid > seen) { seen = paid; lastAt = t; }
                if (done) break;
                await Task.Delay(100);
            }
            await advance;
            var settled = clockTime.Elapsed.TotalSeconds;
            var cpu1 = Cpu.Take(kp.Process.Id, pg.PostmasterPid);
            var runtime = RuntimeCounters.Parse(await http.GetStringAsync("/metrics")).Minus(runtime0);
            var span = (lastAt ?? 0) - (firstAt ?? 0);
            var rate = span > 0 ? (seen - 1) / span : 0;
            var loadAfterAdvance = LoadAverage();
            if (pgStats) Console.WriteLine((await stats.StatementStatsAsync(seen)).Replace("paid orders", "renewals").Replace("paid order", "renewal"));
            var tpsAfter = await pg.PgbenchAsync(pgbenchSeconds, initialize: false);
            var tpsMean = (tpsBefore + tpsAfter) / 2;
            double Ratio(double baseline) => baseline > 0 ? rate / baseline : 0;

            // Checks: per subscription, two paid invoices (first + renewal) and no other; at SandboxPay, two deductions per agreement.
            var problems = new List<string>();
            var wrong = await Scalar($"""
                SELECT COUNT(*) FROM subscriptions s WHERE s.merchant_id = {m} AND (SELECT COUNT(*) FROM invoices i WHERE i.subscription_id = s.id AND i.status = 'Paid') <> 2
                   OR EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id AND i.status <> 'Paid')
                """);
            if (wrong != 0) problems.Add($"{wrong} subscription(s) without exactly one paid renewal invoice (and one paid first invoice)");
            var agreements = JsonNode.Parse(await anonymous.GetStringAsync("/sandbox/sandboxpay/inspect/agreements"))!.AsArray()
                .ToDictionary(x => (string)x!["out_agreement_no"]!, x => x!["deductions"]!.AsArray().Count);
            var badCharges = mandates.Count(id => !agreements.TryGetValue(id, out var n) || n != 2);
            if (badCharges != 0) problems.Add($"{badCharges} agreement(s) without exactly two SandboxPay deductions (first + renewal)");
            var check = JsonNode.Parse(await http.GetStringAsync("/v1/ledger/invariants/check"))!;
            if ((bool?)check["passed"] != true) problems.Add("ledger invariants: " + check.ToJsonString());

            Console.WriteLine();
            Console.WriteLine($"renewals {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} cores, load avg {loadBefore} before the advance, {loadAfterAdvance} after it, {LoadAverage()} now");
            Console.WriteLine($"subscriptions {count}; renewal invoices paid {seen}; first paid after {firstAt:F1} s, last after {lastAt:F1} s, all settled (advance returned) after {settled:F1} s");
            Console.WriteLine($"renewals/s (first to last paid): {rate:F1}; pgbench tps at the start {tps:F0}, just before the advance {tpsBefore:F0}, just after {tpsAfter:F0}, mean of the two {tpsMean:F0}");
            Console.WriteLine($"renewals/s ÷ pgbench tps (mean of just before and after): **{Ratio(tpsMean):F3}** (target ≥ 0.25: {(Ratio(tpsMean) >= 0.25 ? "met" : "not met")}; ÷ before {Ratio(tpsBefore):F3}, ÷ after {Ratio(tpsAfter):F3})");
            Console.WriteLine($"CPU during the advance: KnowPay {(cpu1.KnowPay - cpu0.KnowPay) * 1000 / Math.Max(1, seen):F2} ms/renewal, PostgreSQL {Math.Max(0, cpu1.Postgres - cpu0.Postgres) * 1000 / Math.Max(1, seen):F2} ms/renewal, over {settled:F1} s wall; " +
                $"KnowPay allocated {runtime.Allocated / 1024 / Math.Max(1, seen):F0} KB/renewal, GC pauses {runtime.Paused * 1000 / Math.Max(1, seen):F3} ms/renewal");
            Console.WriteLine(problems.Count == 0 ? "checks OK: one paid renewal invoice and one renewal deduction per subscription, ledger balanced" : "CHECKS FAILED: " + string.Join("; ", problems));
            return problems.Count == 0 && seen == count ? 0 : 1;
        }
    }

    static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}
