using System.Globalization;
using System.Text;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Features.Monitoring;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Webhooks;

/// <summary>
/// Delivers the outbox. Each run (1) fans new events out into one delivery row per matching enabled endpoint (the
/// unique (event, endpoint) index with ON CONFLICT DO NOTHING makes this idempotent on any number of nodes), then
/// (2) claims due deliveries — FOR UPDATE SKIP LOCKED on PostgreSQL, a conditional UPDATE on SQLite — by moving their
/// next_attempt_at to the end of a lease and stamping a claim token, (3) POSTs them signed, and (4) records the result
/// only if it still holds the claim. A node that dies mid-delivery loses nothing: its lease ends and the delivery is due again.
/// Failures retry with exponential backoff (Webhooks:RetryBaseSeconds, doubling, capped at 12 h) until
/// Webhooks:RetryForHours (72) have passed, then the delivery is failed.
/// </summary>
public sealed class WebhookDispatcher(IServiceScopeFactory scopes, IHttpClientFactory httpFactory, IOptions<WebhooksOptions> options, SecretBox box,
    TimeProvider clock, ILogger<WebhookDispatcher> log)
{
    public const string HttpClientName = "webhooks";
    public const string SignatureHeader = "KnowPay-Signature";
    /// <summary>Deliveries claimed and sent (concurrently) per pass: large enough that one node keeps up with two events per
    /// paid order at peak load, or the backlog grows for as long as the load lasts.</summary>
    const int Batch = 200;
    const int FanOutBatch = 200;
    /// <summary>Taken off the fan-out queue since this node last vacuumed it (PostgreSQL), see <see cref="VacuumQueueAsync"/>.</summary>
    int fannedOutSinceVacuum;
    int VacuumQueueEvery => options.Value.VacuumQueueEvery;

    TimeSpan Lease => TimeSpan.FromSeconds(options.Value.LeaseSeconds);
    TimeSpan RetryBase => TimeSpan.FromSeconds(options.Value.RetryBaseSeconds);

    /// <summary>One pass: fan out, claim, send, record. Returns the number of deliveries that succeeded.</summary>
    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct) => (await RunPassAsync(now, ct)).Succeeded;

    /// <summary>One pass; <c>Busy</c> when the fan-out or the claim took a full batch, i.e. more work is waiting and the
    /// next pass should start at once (else one pass per poll interval caps fan-out at 200 events/s).</summary>
    public async Task<(int Succeeded, bool Busy)> RunPassAsync(DateTime now, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var token = Ids.New("clm");
        var leaseEnd = now + Lease;
        // The deliveries the fan-out creates are created claimed by this pass, so they need no claim update (every write
        // of a delivery row goes into its 4 indexes); due ones are claimed up to the batch.
        var (fannedOut, claimedByFanOut) = await FanOutAsync(db, now, token, leaseEnd, ct);
        var room = Batch - claimedByFanOut;
        if (room > 0)
        {
            // Several nodes claim side by side on PostgreSQL (rows another pass holds are skipped); SQLite's single writer
            // serialises the claims anyway.
            await db.Database.ExecuteSqlRawAsync(db.IsPostgres ? ClaimDueSkippingLocked : ClaimDueSerially, [leaseEnd, token, now, room], ct);
        }
        var claimed = await db.WebhookDeliveries.AsNoTracking().Where(d => d.ClaimToken == token).ToListAsync(ct);
        if (claimed.Count == 0) return (0, fannedOut == FanOutBatch);

        var eventIds = claimed.Select(d => d.EventId).Distinct().ToList();
        var endpointIds = claimed.Select(d => d.EndpointId).Distinct().ToList();
        var events = await db.Events.AsNoTracking().Where(e => eventIds.Contains(e.Id)).ToDictionaryAsync(e => e.Id, ct);
        var endpoints = await db.WebhookEndpoints.AsNoTracking().Where(e => endpointIds.Contains(e.Id)).ToDictionaryAsync(e => e.Id, ct);

        // Secrets are opened once per endpoint per pass, not per delivery.
        var secrets = endpoints.ToDictionary(e => e.Key, e => Open(e.Value));
        var results = await Task.WhenAll(claimed.Select(d => SendAsync(d, events[d.EventId], endpoints[d.EndpointId], secrets[d.EndpointId], ct)));
        var succeeded = 0;
        // Successes are recorded in one statement per status code (one round trip per batch, not per delivery, bounds a
        // node's delivery rate); like a failure, only where this pass still holds the claim (attempts + 1 of the claimed row).
        foreach (var group in claimed.Zip(results).Where(x => x.Second.Ok).GroupBy(x => x.Second.StatusCode))
        {
            var ids = group.Select(x => x.First.Id).ToList();
            succeeded += ids.Count;
            var recorded = await db.WebhookDeliveries.Where(d => ids.Contains(d.Id) && d.ClaimToken == token).ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Status, WebhookDelivery.Succeeded).SetProperty(d => d.Attempts, d => d.Attempts + 1)
                .SetProperty(d => d.DeliveredAt, now).SetProperty(d => d.LastStatusCode, group.Key)
                .SetProperty(d => d.LastError, (string?)null).SetProperty(d => d.ClaimToken, (string?)null), ct);
            // Latency is recorded for a batch recorded whole (a claim lost to a lease's end means another node may deliver and count it too).
            if (recorded == ids.Count)
                foreach (var (delivery, _) in group)
                    KnowPayMetrics.OutboxDelivered(events[delivery.EventId].Type, clock.GetUtcNow().UtcDateTime - events[delivery.EventId].CreatedAt);
        }
        foreach (var (delivery, result) in claimed.Zip(results))
        {
            if (result.Ok) continue;
            var attempts = delivery.Attempts + 1;
            string? error = result.Error is { Length: > 500 } e ? e[..500] : result.Error;
            // The last retry lands on the end of the window; a failure at or after it is final.
            var giveUp = result.Permanent || now >= delivery.RetryUntil;
            var next = now + Backoff(attempts) is var due && due > delivery.RetryUntil ? delivery.RetryUntil : due;
            await db.WebhookDeliveries.Where(d => d.Id == delivery.Id && d.ClaimToken == token).ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Status, giveUp ? WebhookDelivery.Failed : WebhookDelivery.Pending).SetProperty(d => d.Attempts, attempts)
                .SetProperty(d => d.NextAttemptAt, next).SetProperty(d => d.LastStatusCode, result.StatusCode)
                .SetProperty(d => d.LastError, error).SetProperty(d => d.ClaimToken, (string?)null), ct);
            if (giveUp) log.LogWarning("Webhook delivery {DeliveryId} of {EventId} to {EndpointId} failed for good after {Attempts} attempts: {Error}",
                delivery.Id, delivery.EventId, delivery.EndpointId, attempts, error);
        }
        return (succeeded, fannedOut == FanOutBatch || claimed.Count == Batch);
    }

    /// <summary>Claims up to {3} deliveries due at {2} for token {1} until {0} (the lease).</summary>
    const string ClaimDue = """
        UPDATE webhook_deliveries SET next_attempt_at = {0}, claim_token = {1}
        WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= {2}
                     ORDER BY next_attempt_at LIMIT {3}
        """;
    const string ClaimDueSkippingLocked = ClaimDue + " FOR UPDATE SKIP LOCKED)";
    const string ClaimDueSerially = ClaimDue + ")";

    /// <summary>30 s, 1 min, 2 min, … doubling, at most 12 h between attempts.</summary>
    public TimeSpan Backoff(int attempts) =>
        TimeSpan.FromSeconds(Math.Min(RetryBase.TotalSeconds * Math.Pow(2, Math.Min(attempts - 1, 30)), TimeSpan.FromHours(12).TotalSeconds));

    sealed record SendResult(bool Ok, int? StatusCode, string? Error, bool Permanent = false);

    /// <summary>The endpoint's (secret, previous secret) in plaintext; null when its row cannot be opened with the master keys
    /// this node has (sealed by a node with a newer key): its deliveries wait and retry instead of failing the pass.</summary>
    (string Secret, string? Previous)? Open(WebhookEndpoint endpoint)
    {
        try { return (box.Open(endpoint.Secret), endpoint.PreviousSecret is { } previous ? box.Open(previous) : null); }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            log.LogError(e, "The secret of webhook endpoint {EndpointId} cannot be opened; its deliveries wait", endpoint.Id);
            return null;
        }
    }

    async Task<SendResult> SendAsync(WebhookDelivery delivery, OutboxEvent evt, WebhookEndpoint endpoint, (string Secret, string? Previous)? secrets,
        CancellationToken ct)
    {
        if (endpoint.Disabled) return new SendResult(false, null, "endpoint_disabled", Permanent: true);
        if (secrets is not { } opened) return new SendResult(false, null, "secret_unavailable");
        var (secret, previousSecret) = opened;
        var body = EventView.Body(evt);
        var signedAt = clock.GetUtcNow();
        var signature = HmacSignature.Sign(secret, body, signedAt);
        if (previousSecret is { } previous && endpoint.PreviousSecretExpiresAt > signedAt.UtcDateTime)
            signature += ",v1=" + HmacSignature.Hex(previous, signedAt.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) + "." + body);
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation(SignatureHeader, signature);
        request.Headers.TryAddWithoutValidation("KnowPay-Event-Id", evt.Id);
        request.Headers.TryAddWithoutValidation("KnowPay-Delivery-Id", delivery.Id);
        try
        {
            using var response = await httpFactory.CreateClient(HttpClientName).SendAsync(request, ct);
            var code = (int)response.StatusCode;
            return response.IsSuccessStatusCode ? new SendResult(true, code, null)
                : new SendResult(false, code, "http_" + code.ToString(CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            var outcome = Outcome(e);
            log.LogDebug(e, "Webhook delivery {DeliveryId} to {EndpointId}: {Outcome}", delivery.Id, endpoint.Id, outcome);
            return new SendResult(false, null, outcome);
        }
    }

    /// <summary>What the merchant is told about a failed attempt: a fixed word, never the exception's text (which would
    /// describe the network a webhook URL reached, e.g. an internal host refusing or answering).</summary>
    static string Outcome(Exception e) => e switch
    {
        TaskCanceledException => "timeout",
        HttpRequestException { InnerException: WebhookAddressForbiddenException } => "address_forbidden",
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => "tls_failed",
        HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError } => "connection_failed",
        _ => "request_failed",
    };

    /// <summary>Creates the deliveries of events not yet fanned out — the first <see cref="Batch"/> of them claimed by
    /// <paramref name="token"/> until <paramref name="leaseEnd"/>, any more due now for the next passes (a pass sends at
    /// most a batch) — then takes the events off the queue; safe to repeat and to race (a delivery another node created
    /// first stays that node's). Returns (events taken off, deliveries created claimed).</summary>
    async Task<(int Events, int Claimed)> FanOutAsync(KnowPayDb db, DateTime now, string token, DateTime leaseEnd, CancellationToken ct)
    {
        var queued = await db.PendingFanOuts.AsNoTracking().OrderBy(q => q.EventId).Take(FanOutBatch).ToListAsync(ct);
        if (queued.Count == 0) return (0, 0);
        var merchantIds = queued.Select(q => q.MerchantId).Distinct().ToList();
        var endpoints = await db.WebhookEndpoints.AsNoTracking().Where(e => merchantIds.Contains(e.MerchantId) && !e.Disabled).ToListAsync(ct);
        // Only the events of merchants with an endpoint are read, and only what the fan-out matches on: most events match
        // no endpoint, and the data is read when a delivery is sent.
        var served = endpoints.Select(e => e.MerchantId).ToHashSet();
        var eventIds = queued.Where(q => served.Contains(q.MerchantId)).Select(q => q.EventId).ToList();
        var events = eventIds.Count == 0 ? [] : await db.Events.AsNoTracking().Where(e => eventIds.Contains(e.Id))
            .Select(e => new { e.Id, e.MerchantId, e.Type, e.CreatedAt }).ToListAsync(ct);
        var retryUntil = now + options.Value.RetryFor;
        // In (event, endpoint) order: two nodes fanning out the same events insert the same keys in the same order, so
        // their multi-row inserts wait for each other instead of deadlocking.
        var deliveries = from evt in events from endpoint in endpoints
                         where endpoint.MerchantId == evt.MerchantId && endpoint.CreatedAt <= evt.CreatedAt && endpoint.Matches(evt.Type)
                         select (EventId: evt.Id, evt.MerchantId, EndpointId: endpoint.Id);
        var rows = deliveries.OrderBy(d => d.EventId, StringComparer.Ordinal).ThenBy(d => d.EndpointId, StringComparer.Ordinal).ToArray();
        var claimedRows = Math.Min(Batch, rows.Length);
        var claimed = await InsertDeliveriesAsync(db, rows[..claimedRows], now, retryUntil, (token, leaseEnd), ct);
        await InsertDeliveriesAsync(db, rows[claimedRows..], now, retryUntil, claim: null, ct);
        var ids = queued.Select(q => q.EventId).ToList();
        await db.PendingFanOuts.Where(q => ids.Contains(q.EventId)).ExecuteDeleteAsync(ct);
        if (db.IsPostgres && Interlocked.Add(ref fannedOutSinceVacuum, queued.Count) >= VacuumQueueEvery) await VacuumQueueAsync(db, ct);
        return (queued.Count, claimed);
    }

    /// <summary>
    /// The fan-out queue is a queue table: every event is inserted and deleted within about a second, and the oldest-first
    /// read walks the primary key from its left end, over every entry deleted since the last vacuum. Autovacuum visits a
    /// database at most once a minute (autovacuum_naptime), by when a busy node has left many dead entries there and the
    /// fan-out read slows with each. So after every Webhooks:VacuumQueueEvery (20,000) events taken off, the node
    /// vacuums the (small) table itself; SKIP_LOCKED: when another node or autovacuum is at it, that one does the job.
    /// </summary>
    async Task VacuumQueueAsync(KnowPayDb db, CancellationToken ct)
    {
        Interlocked.Exchange(ref fannedOutSinceVacuum, 0);
        await db.Database.ExecuteSqlRawAsync("VACUUM (SKIP_LOCKED) events_to_fan_out", ct);
    }

    /// <summary>A pending delivery, due now and claimed by nobody, unless it exists.</summary>
    public static Task InsertDeliveryAsync(KnowPayDb db, OutboxEvent evt, WebhookEndpoint endpoint, DateTime now, DateTime retryUntil, CancellationToken ct) =>
        InsertDeliveriesAsync(db, [(evt.Id, evt.MerchantId, endpoint.Id)], now, retryUntil, claim: null, ct);

    /// <summary>One pending delivery per (event, endpoint), unless it exists — due now, or claimed (token, lease end); a
    /// statement per 500 rows, so a batch's fan-out is one round trip, not one per row. Returns how many were
    /// created.</summary>
    static async Task<int> InsertDeliveriesAsync(KnowPayDb db, IReadOnlyList<(string EventId, string MerchantId, string EndpointId)> rows, DateTime now, DateTime retryUntil,
        (string Token, DateTime LeaseEnd)? claim, CancellationToken ct)
    {
        var created = 0;
        foreach (var chunk in rows.Chunk(500))
        {
            // {0} pending, {1} now, {2} retry until, {3} next attempt, {4} claim token (when claimed); then id, merchant, event, endpoint per row.
            List<object> values = claim is { } c ? [WebhookDelivery.Pending, now, retryUntil, c.LeaseEnd, c.Token] : [WebhookDelivery.Pending, now, retryUntil, now];
            var first = values.Count;
            var claimToken = claim is null ? "NULL" : "{4}";
            var sql = new StringBuilder("INSERT INTO webhook_deliveries (id, merchant_id, event_id, endpoint_id, status, attempts, next_attempt_at, retry_until, created_at, claim_token) VALUES ");
            foreach (var (eventId, merchantId, endpointId) in chunk)
            {
                var p = values.Count;
                sql.Append(p == first ? "" : ", ").Append(CultureInfo.InvariantCulture, $"({{{p}}}, {{{p + 1}}}, {{{p + 2}}}, {{{p + 3}}}, {{0}}, 0, {{3}}, {{2}}, {{1}}, {claimToken})");
                values.AddRange([Ids.New("whd"), merchantId, eventId, endpointId]);
            }
            sql.Append(" ON CONFLICT (event_id, endpoint_id) DO NOTHING");
            created += await db.Database.ExecuteSqlRawAsync(sql.ToString(), values, ct);
        }
        return created;
    }
}

/// <summary>Runs the dispatcher every Webhooks:PollMilliseconds (default 1000) while Webhooks:DispatcherEnabled (default true); at once again when a batch was busy.</summary>
public sealed class WebhookDispatcherService(WebhookDispatcher dispatcher, IOptions<WebhooksOptions> options, TimeProvider clock, ILogger<WebhookDispatcherService> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.DispatcherEnabled) return;
        var interval = TimeSpan.FromMilliseconds(options.Value.PollMilliseconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if ((await dispatcher.RunPassAsync(clock.GetUtcNow().UtcDateTime, stoppingToken)).Busy) continue;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Webhook dispatch failed; it runs again in {Interval}", interval);
            }
            try { await Task.Delay(interval, clock, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
