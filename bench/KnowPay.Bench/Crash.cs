using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;

namespace KnowPay.Bench;

/// <summary>
/// <c>--scenario crash [--cycles 20] [--workers 8] [--seed N]</c>: paid orders, refunds and renewals under SIGKILL. The node under
/// test runs on a throw-away PostgreSQL and is killed every 2–6 s and restarted on the same port; SandboxPay runs in a
/// second KnowPay process (its own SQLite, never killed), so its trades and refunds outlive every crash and are the
/// truth the node is checked against. Workers pay orders and refund them (full, partial) with Idempotency-Keys and
/// retry the same request with the same key after a connection error, a 5xx or a 409 in progress, as a client would.
/// Meanwhile subscriptions are created, signed and renewed by the node's renewal engine (<see cref="CrashRenewals"/>).
/// After the last cycle and a settle period the node's database is compared with the provider's trade store; any
/// violation makes the run exit non-zero.
/// </summary>
static class CrashHarness
{
    /// <summary>The catalog's price (Load.CatalogAsync): a full refund's amount.</summary>
    public const long Price = 9900;

    public static async Task<int> RunAsync(string root, string[] args)
    {
        int Arg(string name, int fallback) =>
            Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
        var cycles = Arg("--cycles", 20);
        var workers = Arg("--workers", 8);
        var seed = Arg("--seed", Environment.TickCount & 0xFFFF);
        var rng = new Random(seed);
        var started = DateTime.UtcNow;
        var figures = new Figures { Cycles = cycles, Workers = workers, Seed = seed };

        await using var pg = await Postgres.StartAsync();
        await pg.CreateDatabaseAsync("knowpay_crash");
        var connection = pg.Database("knowpay_crash");
        var (merchantId, secret) = await KnowPayProcess.CreateMerchantAsync(root, "postgres", connection);
        var scratch = Directory.CreateTempSubdirectory("knowpay-crash-");
        var sandboxSecret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        KnowPayProcess? node = null;
        try
        {
            // The provider: the sandbox alone, compressed retry schedule (15 s → 1 s), no trade forgotten.
            await using var provider = await KnowPayProcess.StartAsync(root, "sqlite", $"Data Source={scratch.FullName}/provider.db", settings:
                $"--Jobs:Enabled=false --Webhooks:DispatcherEnabled=false --Alerts:Enabled=false --Providers:Sandbox:Secret={sandboxSecret} " +
                $"--Sandbox:TimeCompression=15 --Sandbox:MaxTrades=10000000 --DataProtection:KeysPath={scratch.FullName}/provider-keys");
            // The node: short lease and poll waits, so that the settle period covers what a crash leaves behind.
            var port = Shell.FreePort();
            var nodeSettings = $"--KnowPay:PublicUrl=http://127.0.0.1:{port} --Sandbox:Enabled=false " +
                               $"--Providers:Sandbox:ApiBaseUrl={provider.BaseUrl}/sandbox/sandboxpay --Providers:Sandbox:Secret={sandboxSecret} " +
                               "--Idempotency:LeaseSeconds=5 --Billing:RenewalLeaseSeconds=5 --Billing:PendingRecheckSeconds=2 --Jobs:IntervalSeconds=0.5 --Jobs:PollAfterSeconds=2 --Jobs:RefundPollAfterSeconds=2 " +
                               $"--DataProtection:KeysPath={scratch.FullName}/node-keys";
            node = await KnowPayProcess.StartAsync(root, "postgres", connection, port, nodeSettings);
            var products = await new Load(node.BaseUrl, secret).CatalogAsync(4);
            Console.WriteLine($"[crash] PostgreSQL on {pg.Port}, node {node.BaseUrl}, SandboxPay {provider.BaseUrl}; {workers} workers, {cycles} cycles, seed {seed}");

            var client = new CrashClient(node.BaseUrl, secret, provider.BaseUrl, figures);
            var renewals = new CrashRenewals(client, connection, merchantId, provider.BaseUrl, seed);
            await renewals.SubscribeAsync(await renewals.PriceAsync());
            using var stop = new CancellationTokenSource();
            var load = Stopwatch.StartNew();
            var running = Enumerable.Range(0, workers).Select(w => Task.Run(() => client.WorkerAsync(w, seed, products, stop.Token)))
                .Append(Task.Run(() => renewals.DriveAsync(stop.Token))).ToArray();
            var restarts = new List<double>();
            for (var c = 1; c <= cycles; c++)
            {
                var wait = 2 + rng.NextDouble() * 4;
                await Task.Delay(TimeSpan.FromSeconds(wait));
                node.Process.Kill(); // SIGKILL on Unix: no shutdown hook runs
                await node.Process.WaitForExitAsync();
                await node.DisposeAsync();
                var down = Stopwatch.StartNew();
                node = await KnowPayProcess.StartAsync(root, "postgres", connection, port, nodeSettings);
                restarts.Add(down.Elapsed.TotalSeconds);
                Console.WriteLine($"[crash] cycle {c}/{cycles}: SIGKILL after {wait:F1} s, ready again after {down.Elapsed.TotalSeconds:F1} s; {client.Orders.Count} orders so far");
            }
            await Task.Delay(TimeSpan.FromSeconds(2));
            stop.Cancel();
            await Task.WhenAll(running);
            figures.LoadSeconds = load.Elapsed.TotalSeconds;
            figures.RestartMeanSeconds = restarts.Count == 0 ? 0 : restarts.Average();
            figures.RestartMaxSeconds = restarts.Count == 0 ? 0 : restarts.Max();

            // Settle: the lease expires, the pollers query what the crashes left pending, late notifications land.
            var checker = new CrashChecks(connection, merchantId, client, provider.BaseUrl);
            var settle = Stopwatch.StartNew();
            List<string> violations;
            while (true)
            {
                violations = [.. await checker.RunAsync(figures), .. await renewals.CheckAsync(figures)];
                if (violations.Count == 0 || settle.Elapsed > TimeSpan.FromSeconds(90)) break;
                await Task.Delay(TimeSpan.FromSeconds(2));
            }
            figures.SettleSeconds = settle.Elapsed.TotalSeconds;
            // Every request again with its key, as a client retrying much later would: each must replay its first answer.
            violations.AddRange(await client.ReplayAllAsync());
            violations.AddRange(await checker.RunAsync(figures));
            violations.AddRange(await renewals.CheckAsync(figures));
            violations = violations.Distinct().ToList();
            figures.Violations = violations.Count;

            var markdown = figures.Markdown(started, violations);
            var outDir = Path.Combine(root, "bench/results");
            Directory.CreateDirectory(outDir);
            var stamp = started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-crash";
            await File.WriteAllTextAsync(Path.Combine(outDir, stamp + ".md"), markdown);
            Console.WriteLine();
            Console.WriteLine(markdown);
            Console.WriteLine($"results: bench/results/{stamp}.md");
            if (violations.Count > 0) Console.WriteLine("node log (last restart):\n" + string.Join('\n', node.Log.Split('\n').TakeLast(40)));
            return violations.Count == 0 ? 0 : 1;
        }
        finally
        {
            if (node is not null) await node.DisposeAsync();
            scratch.Delete(recursive: true);
        }
    }
}

/// <summary>What the run did and found; every counter is updated by the workers with Interlocked.</summary>
sealed class Figures
{
    public int Cycles, Workers, Seed;
    public double LoadSeconds, RestartMeanSeconds, RestartMaxSeconds, SettleSeconds;
    public long OrdersCreated, BuyerPaid, PaidSeen, PaidWaitTimeouts, RefundsFull, RefundsPartial;
    public long ConnectionRetries, ServerErrorRetries, InProgressRetries, Replays, ReplayChecked;
    public long PaidInDb, Confirmations, SandboxPaidTrades, OrphanTrades, PendingPayments, DuplicatePayments;
    public long SandboxRefunds, RefundsSucceeded, RefundsPending, RefundsFailed, StuckKeys, KeysTakenOver;
    public long RenewalSubscriptions, RenewalInvoicesPaid, RenewalLaterPeriodsPaid, RenewalDeductions, RenewalShifts, RenewalsConfirmedByQuery;
    public bool InvariantsPassed;
    public int Violations;

    public string Markdown(DateTime started, IReadOnlyList<string> violations)
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"KnowPay crash harness {started:yyyy-MM-dd HH:mm} UTC: {Cycles} SIGKILL cycles, {Workers} workers, seed {Seed}");
        s.AppendLine();
        s.AppendLine("| figure | value |");
        s.AppendLine("|---|---|");
        void Row(string name, object value) => s.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {value} |");
        Row("cycles (SIGKILL + restart)", Cycles);
        Row("load, s (restart mean / max, s)", FormattableString.Invariant($"{LoadSeconds:F0} ({RestartMeanSeconds:F1} / {RestartMaxSeconds:F1})"));
        Row("orders created (Idempotency-Key)", OrdersCreated);
        Row("paid by the buyer at SandboxPay / seen paid by the client", $"{BuyerPaid} / {PaidSeen}");
        Row("paid trades at SandboxPay = paid orders in DB = payment_confirmed journals", $"{SandboxPaidTrades} = {PaidInDb} = {Confirmations}");
        Row("refunds requested: full / partial", $"{RefundsFull} / {RefundsPartial}");
        Row("refunds at SandboxPay = succeeded in KnowPay (pending, failed)", $"{SandboxRefunds} = {RefundsSucceeded} ({RefundsPending}, {RefundsFailed})");
        Row("retries: connection errors / 5xx / 409 in progress", $"{ConnectionRetries} / {ServerErrorRetries} / {InProgressRetries}");
        Row("answers replayed during the run (Idempotent-Replayed)", Replays);
        Row("requests re-sent after settling, each replayed its first answer", ReplayChecked);
        Row("idempotency keys taken over after their attempt's lease", KeysTakenOver);
        Row("idempotency keys stuck in progress", StuckKeys);
        Row("orphan trades (created at SandboxPay, no payment in KnowPay; unpaid)", OrphanTrades);
        Row("subscriptions signed (daily price) / moved a period back to renew again",
            $"{RenewalSubscriptions} / {RenewalShifts}");
        Row("their deductions at SandboxPay = paid invoices (of them renewals after the first; settled by the poller)",
            $"{RenewalDeductions} = {RenewalInvoicesPaid} ({RenewalLaterPeriodsPaid}; {RenewalsConfirmedByQuery})");
        Row("payments still pending / duplicates", $"{PendingPayments} / {DuplicatePayments}");
        Row("settle, s", FormattableString.Invariant($"{SettleSeconds:F0}"));
        Row("ledger invariants", InvariantsPassed ? "pass" : "FAIL");
        Row("violations", violations.Count == 0 ? "0" : $"**{violations.Count}**");
        foreach (var v in violations.Take(30)) s.AppendLine(CultureInfo.InvariantCulture, $"- {v}");
        return s.ToString();
    }
}

/// <summary>A paid order's request and the answer it got; a refund's request and answer.</summary>
sealed record SentRequest(string Path, string Body, string Key, string Id, string? PaymentId, long? RefundAmount);

/// <summary>The workers: a client that retries the same request with the same Idempotency-Key until it gets an answer.</summary>
sealed class CrashClient
{
    readonly HttpClient node;
    readonly HttpClient provider;
    readonly Figures f;
    readonly ConcurrentQueue<string> unexpected = new();

    public ConcurrentQueue<SentRequest> Orders { get; } = new();
    public ConcurrentQueue<SentRequest> Refunds { get; } = new();
    public IEnumerable<string> Unexpected => unexpected;

    public CrashClient(string nodeUrl, string secret, string providerUrl, Figures figures)
    {
        f = figures;
        node = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = new Uri(nodeUrl), Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", secret) },
        };
        provider = new HttpClient { BaseAddress = new Uri(providerUrl), Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task WorkerAsync(int worker, int seed, IReadOnlyList<string> products, CancellationToken stop)
    {
        var rng = new Random(seed * 31 + worker);
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var key = $"crash-{seed}-{worker}-{n}";
            var orderBody = new JsonObject
            {
                ["customer_external_id"] = $"crash-{worker}-{rng.Next(20)}", ["product_id"] = products[rng.Next(products.Count)], ["currency"] = "CNY",
                ["payment"] = new JsonObject { ["provider"] = "sandbox", ["method"] = "qr" },
            }.ToJsonString();
            var (status, order) = await PostAsync("/v1/orders", orderBody, key + "-order");
            if (status != HttpStatusCode.Created || order?["payment"]?["id"] is null)
            {
                unexpected.Enqueue($"order {key}: {(int)status} {order?.ToJsonString()}");
                continue;
            }
            var orderId = (string)order["id"]!;
            var paymentId = (string)order["payment"]!["id"]!;
            Orders.Enqueue(new SentRequest("/v1/orders", orderBody, key + "-order", orderId, paymentId, null));
            Interlocked.Increment(ref f.OrdersCreated);

            // The buyer pays at the provider (which never crashes); KnowPay learns it by notification or by its poller.
            using (var pay = await provider.PostAsync($"/sandbox/sandboxpay/v1/trades/{paymentId}/pay", null))
                if (!pay.IsSuccessStatusCode) { unexpected.Enqueue($"buyer pay {paymentId}: {(int)pay.StatusCode}"); continue; }
            Interlocked.Increment(ref f.BuyerPaid);
            if (!await PaidAsync(orderId))
            {
                Interlocked.Increment(ref f.PaidWaitTimeouts);
                continue;
            }
            Interlocked.Increment(ref f.PaidSeen);

            // 35 % kept, 30 % refunded in full, 35 % partially (once or twice).
            var plan = rng.Next(100);
            long?[] amounts = plan < 35 ? [] : plan < 65 ? [null] : rng.Next(2) == 0 ? [3000] : [3000, 2000];
            for (var i = 0; i < amounts.Length; i++)
            {
                var refundBody = new JsonObject { ["reason"] = "crash harness" };
                if (amounts[i] is { } a) refundBody["amount"] = a;
                var path = $"/v1/payments/{paymentId}/refunds";
                var (rs, refund) = await PostAsync(path, refundBody.ToJsonString(), $"{key}-refund-{i}");
                if (rs != HttpStatusCode.Created || refund?["id"] is null)
                {
                    unexpected.Enqueue($"refund {key}-refund-{i} of {paymentId}: {(int)rs} {refund?.ToJsonString()}");
                    break;
                }
                if (amounts[i] is null) Interlocked.Increment(ref f.RefundsFull);
                else Interlocked.Increment(ref f.RefundsPartial);
                Refunds.Enqueue(new SentRequest(path, refundBody.ToJsonString(), $"{key}-refund-{i}", (string)refund["id"]!, paymentId, amounts[i] ?? CrashHarness.Price));
            }
        }
    }

    /// <summary>POST until the node gives an answer that is not a crash's: a connection error, a 5xx (the key is released)
    /// and 409 idempotency_request_in_progress (the dead attempt's lease) are retried with the same key and body.</summary>
    public async Task<(HttpStatusCode Status, JsonObject? Body)> PostAsync(string path, string body, string key, bool countReplays = true)
    {
        var giveUp = Stopwatch.StartNew();
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add("Idempotency-Key", key);
            try
            {
                using var response = await node.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                var json = text.StartsWith('{') ? JsonNode.Parse(text)!.AsObject() : null;
                if ((int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
                    Interlocked.Increment(ref f.ServerErrorRetries);
                else if (response.StatusCode == HttpStatusCode.Conflict && (string?)json?["code"] == "idempotency_request_in_progress")
                    Interlocked.Increment(ref f.InProgressRetries);
                else
                {
                    if (countReplays && response.Headers.Contains("Idempotent-Replayed")) Interlocked.Increment(ref f.Replays);
                    return (response.StatusCode, json);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                Interlocked.Increment(ref f.ConnectionRetries);
            }
            if (giveUp.Elapsed > TimeSpan.FromMinutes(2)) return (HttpStatusCode.RequestTimeout, null);
            await Task.Delay(250);
        }
    }

    public async Task<JsonObject?> GetJsonAsync(string path)
    {
        using var response = await node.GetAsync(path);
        return response.IsSuccessStatusCode ? JsonNode.Parse(await response.Content.ReadAsStringAsync())?.AsObject() : null;
    }

    /// <summary>Polls the order (across restarts) until KnowPay reports it paid; false after 60 s.</summary>
    async Task<bool> PaidAsync(string orderId)
    {
        var deadline = Stopwatch.StartNew();
        var delay = 20;
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var response = await node.GetAsync($"/v1/orders/{orderId}");
                if (response.IsSuccessStatusCode && (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())?["status"] == "paid") return true;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { }
            await Task.Delay(delay);
            delay = Math.Min(delay * 2, 250);
        }
        return false;
    }

    /// <summary>Every order and refund request sent again with its key: each must be answered 201 with its first answer's id.</summary>
    public async Task<List<string>> ReplayAllAsync()
    {
        var problems = new ConcurrentQueue<string>();
        var all = Orders.Concat(Refunds).ToList();
        await Parallel.ForEachAsync(all, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (r, _) =>
        {
            var (status, body) = await PostAsync(r.Path, r.Body, r.Key, countReplays: false);
            if (status != HttpStatusCode.Created || (string?)body?["id"] != r.Id)
                problems.Enqueue($"key {r.Key} re-sent: {(int)status}, id {(string?)body?["id"]} instead of {r.Id}");
        });
        f.ReplayChecked = all.Count - problems.Count;
        return [.. problems, .. unexpected.Select(u => "unexpected answer: " + u)];
    }
}

/// <summary>The node's database against SandboxPay's trade store, and the ledger invariants.</summary>
sealed class CrashChecks(string connection, string merchantId, CrashClient client, string providerUrl)
{
    readonly HttpClient provider = new() { BaseAddress = new Uri(providerUrl), Timeout = TimeSpan.FromSeconds(30) };

    public async Task<List<string>> RunAsync(Figures f)
    {
        var v = new List<string>();
        var trades = JsonNode.Parse(await provider.GetStringAsync("/sandbox/sandboxpay/inspect/trades"))!.AsArray()
            .Select(t => t!.AsObject()).ToDictionary(t => (string)t["out_trade_no"]!);
        await using var db = new NpgsqlConnection(connection);
        await db.OpenAsync();

        var payments = new Dictionary<string, (string OrderId, string Status, long Refunded, bool Duplicate)>();
        await foreach (var r in Rows(db, "SELECT id, order_id, status, refunded_amount, duplicate FROM payments WHERE merchant_id = @m"))
            payments[r.GetString(0)] = (r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetBoolean(4));
        var orders = new Dictionary<string, string>();
        await foreach (var r in Rows(db, "SELECT id, status FROM orders WHERE merchant_id = @m")) orders[r.GetString(0)] = r.GetString(1);
        var journals = new Dictionary<(string Type, string Source), long>();
        await foreach (var r in Rows(db, "SELECT source_type, source_id, COUNT(*) FROM ledger_journals WHERE merchant_id = @m AND source_type IN ('payment_confirmed', 'refund') GROUP BY 1, 2"))
            journals[(r.GetString(0), r.GetString(1))] = r.GetInt64(2);
        var refunds = new Dictionary<string, (string PaymentId, long Amount, string Status)>();
        await foreach (var r in Rows(db, "SELECT id, payment_id, amount, status FROM refunds WHERE merchant_id = @m"))
            refunds[r.GetString(0)] = (r.GetString(1), r.GetInt64(2), r.GetString(3));
        f.StuckKeys = await Scalar(db, "SELECT COUNT(*) FROM idempotency_keys WHERE merchant_id = @m AND completed_at IS NULL");
        if (f.StuckKeys > 0) v.Add($"{f.StuckKeys} idempotency key(s) stuck in progress");
        f.KeysTakenOver = await Scalar(db, "SELECT COUNT(*) FROM idempotency_keys WHERE merchant_id = @m AND claimed_at > created_at");

        // Payments: every trade SandboxPay says paid is paid exactly once in KnowPay, and nothing else is.
        static bool Paid(JsonObject t) => (string?)t["status"] is "PAID" or "REFUNDED";
        f.SandboxPaidTrades = trades.Values.Count(Paid);
        f.OrphanTrades = trades.Keys.Count(k => !payments.ContainsKey(k));
        foreach (var t in trades.Values.Where(Paid))
        {
            var id = (string)t["out_trade_no"]!;
            if (!payments.TryGetValue(id, out var p)) v.Add($"trade {id} paid at SandboxPay has no payment in KnowPay");
            else if (p.Status != "Succeeded" || orders.GetValueOrDefault(p.OrderId) != "Paid") v.Add($"trade {id} paid at SandboxPay: payment {p.Status}, order {orders.GetValueOrDefault(p.OrderId)}");
        }
        foreach (var (id, p) in payments)
        {
            var confirmations = journals.GetValueOrDefault(("payment_confirmed", id));
            if (confirmations > 1) v.Add($"payment {id} confirmed {confirmations} times");
            if (p.Status == "Succeeded" && confirmations != 1) v.Add($"payment {id} succeeded with {confirmations} confirmation journals");
            if (p.Status == "Succeeded" && !(trades.TryGetValue(id, out var t) && Paid(t))) v.Add($"payment {id} succeeded but SandboxPay has no paid trade");
            if (trades.TryGetValue(id, out var trade) && (long)trade["refunded"]! != p.Refunded)
                v.Add($"payment {id}: refunded {p.Refunded} in KnowPay, {(long)trade["refunded"]!} at SandboxPay");
        }
        foreach (var g in payments.Values.Where(p => p.Status == "Succeeded" && !p.Duplicate).GroupBy(p => p.OrderId).Where(g => g.Count() > 1))
            v.Add($"order {g.Key} paid by {g.Count()} payments");
        f.PendingPayments = payments.Values.Count(p => p.Status == "Pending");
        f.DuplicatePayments = payments.Values.Count(p => p.Duplicate);
        f.PaidInDb = orders.Values.Count(s => s == "Paid");
        f.Confirmations = journals.Where(j => j.Key.Type == "payment_confirmed").Sum(j => j.Value);
        if (f.PaidInDb != f.Confirmations || f.PaidInDb != f.SandboxPaidTrades)
            v.Add($"paid orders in DB {f.PaidInDb}, confirmation journals {f.Confirmations}, paid trades at SandboxPay {f.SandboxPaidTrades}");

        // Refunds: none pending, each applied at SandboxPay exactly once, each client request one refund.
        var sandboxRefunds = trades.Values.SelectMany(t => t["refunds"]!.AsArray().Select(r => r!.AsObject())).ToDictionary(r => (string)r["out_refund_no"]!);
        f.SandboxRefunds = sandboxRefunds.Count;
        f.RefundsSucceeded = refunds.Values.Count(r => r.Status == "Succeeded");
        f.RefundsPending = refunds.Values.Count(r => r.Status == "Pending");
        f.RefundsFailed = refunds.Values.Count(r => r.Status == "Failed");
        if (f.RefundsPending > 0) v.Add($"{f.RefundsPending} refund(s) stuck pending");
        foreach (var (id, sr) in sandboxRefunds)
            if (!refunds.TryGetValue(id, out var r) || r.Status != "Succeeded" || r.Amount != (long)sr["amount"]!)
                v.Add($"refund {id} applied at SandboxPay ({(long)sr["amount"]!}) is {(refunds.TryGetValue(id, out var x) ? $"{x.Status} ({x.Amount})" : "missing")} in KnowPay");
        foreach (var (id, r) in refunds)
        {
            var booked = journals.GetValueOrDefault(("refund", id));
            if (r.Status == "Succeeded" && !sandboxRefunds.ContainsKey(id)) v.Add($"refund {id} succeeded in KnowPay, unknown at SandboxPay");
            if (booked != (r.Status == "Succeeded" ? 1 : 0)) v.Add($"refund {id} ({r.Status}) booked {booked} times");
        }
        var sent = client.Refunds.ToList();
        if (sent.Count != refunds.Count) v.Add($"{sent.Count} refunds requested (one key each), {refunds.Count} refunds in KnowPay");
        foreach (var r in sent.Where(r => !refunds.ContainsKey(r.Id))) v.Add($"refund {r.Id} answered to key {r.Key} is not in KnowPay");
        foreach (var g in sent.GroupBy(r => r.PaymentId!))
        {
            // A refund recorded but never sent (the node died in between) ends failed when SandboxPay does not know it, its
            // amount released and refund.failed sent: what the client was answered, less those, is what SandboxPay refunded.
            var asked = g.Where(r => !(refunds.TryGetValue(r.Id, out var k) && k.Status == "Failed")).Sum(r => r.RefundAmount ?? 0);
            var applied = trades.TryGetValue(g.Key, out var t) ? (long)t["refunded"]! : 0;
            if (asked != applied) v.Add($"payment {g.Key}: the client was answered refunds of {asked}, SandboxPay refunded {applied}");
        }

        // The ledger: the merchant's invariant check, and the raw tables.
        var report = await InvariantsAsync(client);
        f.InvariantsPassed = report.Passed && (await new BenchDb("postgres", connection).CheckInvariantsAsync()) is { Count: 0 };
        if (!f.InvariantsPassed) v.Add("ledger invariants failed: " + report.Detail);
        return v;
    }

    static async Task<(bool Passed, string Detail)> InvariantsAsync(CrashClient client)
    {
        var json = await client.GetJsonAsync("/v1/ledger/invariants/check");
        return ((bool?)json?["passed"] == true, json?.ToJsonString() ?? "no answer");
    }

    async IAsyncEnumerable<NpgsqlDataReader> Rows(NpgsqlConnection db, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.AddWithValue("m", merchantId);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) yield return reader;
    }

    async Task<long> Scalar(NpgsqlConnection db, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.AddWithValue("m", merchantId);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}
