using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace KnowPay.Bench;

/// <param name="RiskContext">Each order carries a risk_context (an IP and a device per customer), as a platform sends it.</param>
sealed record LoadSettings(int Concurrency, TimeSpan Warmup, TimeSpan Duration, IReadOnlyList<string> Products, bool Combined, double? Rate,
    bool RiskContext = false);

sealed record LoadResult(
    int Concurrency, double? TargetRate, double PaidPerSecond, long Measured, long CountedTotal, long Errors, string? FirstError,
    double FlowP50, double FlowP99, double FlowMax, long NotifyCount, double NotifyP50, double NotifyP99, double NotifyMax, double PollsPerOrder,
    double AllocKbPerOrder, double GcsPerThousandOrders, double GcPauseMsPerOrder, double JitMsPerOrder, long HeldForReview = 0);

/// <summary>KnowPay's risk check held the order for review: no payment was started, as a platform sees it; not an error.</summary>
sealed class HeldForReviewException(string orderId) : Exception($"order {orderId} held for risk review");

/// <summary>
/// Virtual learners, each looping: create order (+ payment, in one call when Combined, else two calls) → the simulated
/// buyer pays at SandboxPay → SandboxPay's signed notification reaches KnowPay → poll the order until KnowPay reports it
/// paid. The poll starts 2 ms after the buyer pays and backs off (×2 up to 50 ms), so polling stays a small share of
/// the load; the notification's own handling time is measured inside KnowPay, by its Prometheus histogram
/// (knowpay_notification_duration_seconds at /metrics, see <see cref="NotifyHistogram"/>).
/// </summary>
sealed class Load(string baseUrl, string secret)
{
    readonly HttpClient http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 1000, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
    {
        BaseAddress = new Uri(baseUrl),
        Timeout = TimeSpan.FromSeconds(60),
        DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", secret) },
    };

    public HttpClient Http => http;

    /// <summary>Each virtual learner <c>vu</c> buys as one of this many customers, <see cref="CustomerPrefix"/><c>{vu}-{n}</c>.</summary>
    public const int CustomersPerLearner = 2000;

    public const string CustomerPrefix = "learner-";

    /// <summary>Runs so far in this bench process: each run draws its own learners, so that warm-up steps and rounds do not
    /// send the same customers again and again (which the risk check's per-customer daily limit rightly holds for review).</summary>
    static int runs;

    public async Task<LoadResult> RunAsync(LoadSettings s)
    {
        var run = Interlocked.Increment(ref runs);
        var clock = Stopwatch.StartNew();
        var measureFrom = s.Warmup;
        var measureTo = s.Warmup + s.Duration;
        var flows = new List<double>[s.Concurrency];
        long counted = 0, errors = 0, polls = 0, measured = 0, held = 0;
        string? firstError = null;
        long nextStartTicks = 0;
        var interval = s.Rate is { } r ? TimeSpan.FromSeconds(1 / r) : TimeSpan.Zero;

        async Task Learner(int vu)
        {
            var rng = new Random(vu * 7919 + run * 104729 + 1);
            var mine = flows[vu] = [];
            var n = 0;
            while (clock.Elapsed < measureTo)
            {
                if (s.Rate is not null)
                {
                    // Open loop at the target rate: each iteration takes the next start slot.
                    var slot = TimeSpan.FromTicks(Interlocked.Add(ref nextStartTicks, interval.Ticks));
                    var wait = slot - clock.Elapsed;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait);
                    if (clock.Elapsed >= measureTo) break;
                }
                var started = clock.Elapsed;
                try
                {
                    var product = s.Products[rng.Next(s.Products.Count)];
                    var customer = rng.Next(CustomersPerLearner);
                    var context = s.RiskContext ? new JsonObject { ["ip"] = $"198.18.{vu % 256}.{customer % 256}", ["device_id"] = $"dev-{vu}-{customer}" } : null;
                    var (orderId, paymentId) = await StartAsync(product, $"{CustomerPrefix}{vu}-{customer}", s.Combined, $"bench-{vu}-{n++}-{Guid.NewGuid():N}", context);
                    using (var pay = await http.PostAsync($"/sandbox/sandboxpay/v1/trades/{paymentId}/pay", null))
                        if (!pay.IsSuccessStatusCode) throw new InvalidOperationException($"buyer pay → {(int)pay.StatusCode}");
                    var delay = 2;
                    var deadline = clock.Elapsed + TimeSpan.FromSeconds(30);
                    while (true)
                    {
                        await Task.Delay(delay);
                        Interlocked.Increment(ref polls);
                        var order = await http.GetFromJsonAsync<JsonObject>($"/v1/orders/{orderId}");
                        if ((string?)order!["status"] == "paid") break;
                        if (clock.Elapsed > deadline) throw new TimeoutException($"order {orderId} not paid after 30 s");
                        delay = Math.Min(delay * 2, 50);
                    }
                    Interlocked.Increment(ref counted);
                    var done = clock.Elapsed;
                    if (done >= measureFrom && done < measureTo)
                    {
                        Interlocked.Increment(ref measured);
                        mine.Add((done - started).TotalMilliseconds);
                    }
                }
                catch (HeldForReviewException)
                {
                    Interlocked.Increment(ref held);
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, e.GetType().Name + ": " + e.Message + " " + e.StackTrace?.Split('\n').FirstOrDefault()?.Trim(), null);
                }
            }
        }

        var notifyTask = Task.Run(async () =>
        {
            // The histogram's cumulative buckets at the start and at the end of the measured window; the difference is the window.
            // Also KnowPay's allocated bytes, GC count and pauses, and JIT time (runtime meter), for the same window.
            async Task<(NotifyHistogram Notify, RuntimeCounters Runtime)> Snapshot(TimeSpan at)
            {
                var wait = at - clock.Elapsed;
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                var text = await http.GetStringAsync("/metrics");
                return (NotifyHistogram.Parse(text, "sandbox"), RuntimeCounters.Parse(text));
            }
            var start = await Snapshot(measureFrom);
            var end = await Snapshot(measureTo);
            return (end.Notify.Minus(start.Notify), end.Runtime.Minus(start.Runtime));
        });
        await Task.WhenAll(Enumerable.Range(0, s.Concurrency).Select(vu => Task.Run(() => Learner(vu))));
        var (notify, (allocated, gcs, paused, jit)) = await notifyTask;

        var all = flows.SelectMany(f => f).Order().ToArray();
        double P(double q) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)Math.Ceiling(q * all.Length) - 1)];
        return new LoadResult(s.Concurrency, s.Rate, measured / s.Duration.TotalSeconds, measured, counted, errors, firstError,
            P(0.50), P(0.99), all.Length == 0 ? 0 : all[^1],
            (long)notify.Count, notify.QuantileMs(0.50), notify.QuantileMs(0.99), notify.MaxMs(),
            counted == 0 ? 0 : (double)polls / counted,
            measured == 0 ? 0 : allocated / 1024 / measured, measured == 0 ? 0 : gcs * 1000 / measured, measured == 0 ? 0 : paused * 1000 / measured,
            measured == 0 ? 0 : jit * 1000 / measured, held);
    }

    /// <summary>KnowPay's cumulative JIT compilation time (runtime meter).</summary>
    public const string JitSecondsMetric = "dotnet_jit_compilation_time_seconds_total";

    /// <summary>KnowPay's JIT compilation time so far, in seconds.</summary>
    /// <summary>
    /// Warm-up, not reported, so that the JIT's tier-up is not charged to the measured runs: 20 s of <paramref name="settings"/>,
    /// then on in 5 s steps while KnowPay still spends more than 2 % of a step compiling (up to 60 s more), because with the
    /// cores loaded the JIT's background thread drains its tier-up queue slowly. Smoke: 1 s, no wait.
    /// </summary>
    /// <returns>The warm-up's duration.</returns>
    public async Task<TimeSpan> WarmUpAsync(LoadSettings settings, bool smoke)
    {
        var warmup = System.Diagnostics.Stopwatch.StartNew();
        await RunAsync(settings with { Warmup = TimeSpan.Zero, Duration = TimeSpan.FromSeconds(smoke ? 1 : 20) });
        var jitSeconds = smoke ? 0 : await JitSecondsAsync();
        for (var step = 0; step < (smoke ? 0 : 12); step++)
        {
            await RunAsync(settings with { Warmup = TimeSpan.Zero, Duration = TimeSpan.FromSeconds(5) });
            var stepStart = jitSeconds;
            jitSeconds = await JitSecondsAsync();
            if ((jitSeconds - stepStart) * 1000 < 100) break;
        }
        return warmup.Elapsed;
    }

    public async Task<double> JitSecondsAsync() => NotifyHistogram.Sum(await http.GetStringAsync("/metrics"), JitSecondsMetric);

    async Task<(string OrderId, string PaymentId)> StartAsync(string product, string customer, bool combined, string key, JsonObject? riskContext)
    {
        if (combined)
        {
            var body = new JsonObject
            {
                ["customer_external_id"] = customer, ["product_id"] = product, ["currency"] = "CNY",
                ["payment"] = new JsonObject { ["provider"] = "sandbox", ["method"] = "qr" },
            };
            if (riskContext is not null) body["risk_context"] = riskContext;
            var order = await PostAsync("/v1/orders", body, key);
            if (order["payment"] is null) throw new HeldForReviewException((string)order["id"]!);
            return ((string)order["id"]!, (string)order["payment"]!["id"]!);
        }
        var separate = new JsonObject { ["customer_external_id"] = customer, ["product_id"] = product, ["currency"] = "CNY" };
        if (riskContext is not null) separate["risk_context"] = riskContext;
        var o = await PostAsync("/v1/orders", separate, key);
        var p = await PostAsync($"/v1/orders/{o["id"]}/payments", new JsonObject { ["provider"] = "sandbox", ["method"] = "qr" }, key + "-pay");
        return ((string)o["id"]!, (string)p["id"]!);
    }

    public async Task<JsonObject> PostAsync(string path, JsonObject body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"POST {path} → {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Creates n creators, each with one published course priced 99.00 CNY; returns the product ids.</summary>
    public async Task<List<string>> CatalogAsync(int n)
    {
        var ids = new string[n];
        await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var creator = await PostAsync("/v1/creators", new JsonObject { ["name"] = $"Creator {i}" });
            var product = await PostAsync("/v1/products", new JsonObject
            {
                ["creator_id"] = (string)creator["id"]!, ["name"] = $"Course {i}", ["kind"] = "course", ["creator_share_bps"] = 7000,
                ["prices"] = new JsonArray(new JsonObject { ["amount"] = 9900, ["currency"] = "CNY" }),
            });
            ids[i] = (string)product["id"]!;
        });
        return [.. ids];
    }
}
