using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Npgsql;

namespace KnowPay.Bench;

/// <summary>
/// The crash harness's renewals: <see cref="Count"/> SandboxPay subscriptions on a daily price, created and signed before the
/// kills. While the node is being killed, the renewal engine (job <c>subscription_renewals</c>) charges their invoices; each
/// time a subscription is paid up, it is moved one day into the past with its invoices by SQL (the node's clock cannot move
/// outside sandbox mode), so its next period falls due at once and is renewed again. Checked against SandboxPay's agreements
/// and trades: each subscription and period charged at most once, each charge one paid invoice with one payment_confirmed
/// journal, nothing left due or open after settling.
/// </summary>
sealed class CrashRenewals(CrashClient client, string connection, string merchantId, string providerUrl, int seed)
{
    public const int Count = 40;
    readonly HttpClient provider = new() { BaseAddress = new Uri(providerUrl), Timeout = TimeSpan.FromSeconds(30) };
    readonly ConcurrentQueue<string> problems = new();
    readonly ConcurrentDictionary<string, string> signed = new();   // mandate id → subscription id

    /// <summary>A product with one daily recurring price of 30.00 CNY.</summary>
    public async Task<string> PriceAsync()
    {
        var (_, creator) = await client.PostAsync("/v1/creators", """{"name":"Renewal creator"}""", $"renewal-{seed}-creator");
        var body = new JsonObject
        {
            ["creator_id"] = (string)creator!["id"]!, ["name"] = "Daily column", ["kind"] = "column", ["creator_share_bps"] = 7000,
            ["prices"] = new JsonArray(new JsonObject
            {
                ["amount"] = 3000, ["currency"] = "CNY", ["recurring"] = new JsonObject { ["interval"] = "day", ["interval_count"] = 1 },
            }),
        };
        var (_, product) = await client.PostAsync("/v1/products", body.ToJsonString(), $"renewal-{seed}-product");
        return (string)product!["prices"]![0]!["id"]!;
    }

    /// <summary>Creates the subscriptions and signs their agreements at SandboxPay.</summary>
    public async Task SubscribeAsync(string priceId)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
        {
            var body = new JsonObject
            {
                ["customer_external_id"] = "renewal-" + i.ToString(CultureInfo.InvariantCulture), ["price_id"] = priceId,
                ["provider"] = "sandbox", ["method"] = "page",
            }.ToJsonString();
            var (status, sub) = await client.PostAsync("/v1/subscriptions", body, $"renewal-{seed}-{i}");
            if (status != HttpStatusCode.Created || sub?["pending_mandate"]?["id"] is null)
            {
                problems.Enqueue($"subscription renewal-{i}: {(int)status} {sub?.ToJsonString()}");
                return;
            }
            var mandateId = (string)sub["pending_mandate"]!["id"]!;
            using var sign = await provider.PostAsync($"/sandbox/sandboxpay/v1/agreements/{mandateId}/sign", null);
            if (sign.IsSuccessStatusCode) signed[mandateId] = (string)sub["id"]!;
            else problems.Enqueue($"sign {mandateId}: {(int)sign.StatusCode}");
        });
    }

    /// <summary>Moves each paid-up subscription a period into the past, so it renews again, until stopped.</summary>
    public async Task DriveAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Shifted += await ShiftPaidUpAsync();
            try { await Task.Delay(1000, stop); }
            catch (OperationCanceledException) { }
        }
    }

    public long Shifted;

    /// <summary>
    /// Moves active subscriptions with every invoice paid (nothing due, nothing claimed) one day back with their invoices, so
    /// that the next period is due now. The subscription's row lock orders this with the node's writers.
    /// </summary>
    async Task<int> ShiftPaidUpAsync()
    {
        await using var db = new NpgsqlConnection(connection);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            WITH s AS (
              UPDATE subscriptions SET billing_cycle_anchor = billing_cycle_anchor - interval '1 day',
                current_period_start = current_period_start - interval '1 day', current_period_end = current_period_end - interval '1 day',
                next_action_at = current_period_end - interval '1 day'
              WHERE merchant_id = @m AND status = 'Active' AND next_action_at > @now AND (claimed_until IS NULL OR claimed_until < @now)
                AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = subscriptions.id AND i.status <> 'Paid')
              RETURNING id),
            i AS (UPDATE invoices SET period_start = period_start - interval '1 day', period_end = period_end - interval '1 day'
              WHERE subscription_id IN (SELECT id FROM s) RETURNING id)
            , l AS (UPDATE invoice_lines SET period_start = period_start - interval '1 day', period_end = period_end - interval '1 day'
              WHERE invoice_id IN (SELECT id FROM i))
            SELECT COUNT(*) FROM s
            """, db);
        cmd.Parameters.AddWithValue("m", merchantId);
        cmd.Parameters.AddWithValue("now", DateTime.UtcNow);
        return Convert.ToInt32(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    public async Task<List<string>> CheckAsync(Figures f)
    {
        var v = new List<string>(problems);
        var trades = JsonNode.Parse(await provider.GetStringAsync("/sandbox/sandboxpay/inspect/trades"))!.AsArray()
            .Select(t => t!.AsObject()).ToDictionary(t => (string)t["out_trade_no"]!, t => (string)t["status"]!);
        var deductions = JsonNode.Parse(await provider.GetStringAsync("/sandbox/sandboxpay/inspect/agreements"))!.AsArray()
            .ToDictionary(a => (string)a!["out_agreement_no"]!, a => a!["deductions"]!.AsArray().Select(d => (string)d!).ToList());
        await using var db = new NpgsqlConnection(connection);
        await db.OpenAsync();
        var invoices = new List<(string Id, string Subscription, int Period, string Status, string OrderId)>();
        await foreach (var r in Rows(db, "SELECT id, subscription_id, period_index, status, order_id FROM invoices WHERE merchant_id = @m"))
            invoices.Add((r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3), r.GetString(4)));
        var payments = new List<(string Id, string OrderId, string Status, string? ConfirmedBy)>();
        await foreach (var r in Rows(db, "SELECT p.id, p.order_id, p.status, p.confirmed_by FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.merchant_id = @m AND o.invoice_id IS NOT NULL"))
            payments.Add((r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3)));
        var journals = new Dictionary<string, long>();
        await foreach (var r in Rows(db, "SELECT source_id, COUNT(*) FROM ledger_journals WHERE merchant_id = @m AND source_type = 'payment_confirmed' GROUP BY 1"))
            journals[r.GetString(0)] = r.GetInt64(1);
        var subscriptions = new Dictionary<string, (string Status, bool Due)>();
        await foreach (var r in Rows(db, "SELECT id, status, next_action_at <= now() FROM subscriptions WHERE merchant_id = @m AND mandate_id IS NOT NULL"))
            subscriptions[r.GetString(0)] = (r.GetString(1), !r.IsDBNull(2) && r.GetBoolean(2));

        // Per invoice (one per subscription and period, by the unique index): at most one paid charge at SandboxPay, and a
        // charge there is one paid invoice with one confirmation journal.
        var paymentsByOrder = payments.ToLookup(p => p.OrderId);
        foreach (var invoice in invoices)
        {
            var charged = paymentsByOrder[invoice.OrderId].Where(p => trades.GetValueOrDefault(p.Id) == "PAID").ToList();
            if (charged.Count > 1) v.Add($"invoice {invoice.Id} (subscription {invoice.Subscription}, period {invoice.Period}) charged {charged.Count} times at SandboxPay");
            if (charged.Count == 1 && invoice.Status != "Paid") v.Add($"invoice {invoice.Id} charged at SandboxPay but {invoice.Status}");
            if (invoice.Status == "Paid" && charged.Count != 1) v.Add($"invoice {invoice.Id} paid with {charged.Count} charges at SandboxPay");
            foreach (var p in charged.Where(p => journals.GetValueOrDefault(p.Id) != 1))
                v.Add($"renewal payment {p.Id} of invoice {invoice.Id}: {journals.GetValueOrDefault(p.Id)} payment_confirmed journals");
        }
        // Per agreement: every deduction is one of its subscription's paid invoices; what is due is renewed once settled.
        var paidBySubscription = invoices.Where(i => i.Status == "Paid").ToLookup(i => i.Subscription);
        foreach (var (mandateId, subscriptionId) in signed)
        {
            var made = deductions.GetValueOrDefault(mandateId) ?? [];
            var paid = paidBySubscription[subscriptionId].Count();
            if (made.Count != paid) v.Add($"subscription {subscriptionId}: {made.Count} deductions at SandboxPay, {paid} paid invoices");
            if (!subscriptions.TryGetValue(subscriptionId, out var state)) v.Add($"subscription {subscriptionId} signed at SandboxPay has no agreement in KnowPay");
            else if (state.Status != "Active" || state.Due) v.Add($"subscription {subscriptionId} is {state.Status}{(state.Due ? ", due" : "")} after settling");
        }
        foreach (var invoice in invoices.Where(i => i.Status == "Open" && signed.Values.Contains(i.Subscription)))
            v.Add($"invoice {invoice.Id} (subscription {invoice.Subscription}, period {invoice.Period}) still open after settling");

        f.RenewalSubscriptions = signed.Count;
        f.RenewalInvoicesPaid = invoices.Count(i => i.Status == "Paid");
        f.RenewalLaterPeriodsPaid = invoices.Count(i => i.Status == "Paid" && i.Period >= 1);
        f.RenewalShifts = Shifted;
        // Confirmed by the poller's query: the engine's own answer was lost, e.g. the node died between the charge and the write.
        f.RenewalsConfirmedByQuery = payments.Count(p => p.ConfirmedBy == "query");
        f.RenewalDeductions = signed.Keys.Sum(id => deductions.GetValueOrDefault(id)?.Count ?? 0);
        return v;
    }

    async IAsyncEnumerable<NpgsqlDataReader> Rows(NpgsqlConnection db, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.AddWithValue("m", merchantId);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) yield return reader;
    }
}
