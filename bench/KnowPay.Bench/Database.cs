using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace KnowPay.Bench;

/// <summary>Direct SQL on KnowPay's database: realistic history before VACUUM ANALYZE, and the after-run checks.</summary>
sealed class BenchDb(string provider, string connection)
{
    public bool IsPostgres => provider == "postgres";

    DbConnection Open()
    {
        DbConnection c = IsPostgres ? new NpgsqlConnection(connection) : new SqliteConnection(connection);
        c.Open();
        return c;
    }

    async Task<long> ScalarAsync(string sql)
    {
        await using var c = Open();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.CommandTimeout = 600;
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    async Task ExecAsync(string sql)
    {
        await using var c = Open();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.CommandTimeout = 600;
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Paid orders with their payment, balanced journal (3 entries), entitlement and two events (already fanned out to
    /// webhooks, as old events are), under the bench
    /// merchant but for other products and 5,000 customers of its own, so the planner sees tables of realistic size. Then VACUUM ANALYZE.
    /// </summary>
    public async Task SeedHistoryAsync(string merchantId, int orders)
    {
        var ts = IsPostgres ? "TIMESTAMPTZ '2026-01-01 00:00:00+00'" : "'2026-01-01 00:00:00'";
        var n = $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {orders}) ";
        var m = $"'{merchantId}'";
        const string emptyJson = "'{}'";
        // The customers the history names: without them the planner sees a merchant with no customers and plans the look-up by
        // external id on the wrong index, which a real merchant's statistics never do.
        await ExecAsync(n + $"""
            INSERT INTO customers (id, merchant_id, external_id, email, name, we_chat_open_id, created_at)
            SELECT 'cus_hist_' || i, {m}, 'hist-' || i, NULL, NULL, NULL, {ts} FROM n WHERE i < 5000 UNION ALL SELECT 'cus_hist_0', {m}, 'hist-0', NULL, NULL, NULL, {ts}
            """);
        await ExecAsync(n + $"""
            INSERT INTO orders (id, merchant_id, customer_id, product_id, price_id, creator_id, amount, currency, creator_share_bps,
                                access_days, status, created_at, expires_at, paid_at, closed_at, paid_after_expiry, description)
            SELECT 'ord_hist_' || i, {m}, 'cus_hist_' || (i % 5000), 'prod_hist_' || (i % 1000), 'price_hist_' || (i % 1000),
                   'cre_hist_' || (i % 1000), 9900, 'CNY', 7000, NULL, 'Paid', {ts}, {ts}, {ts}, NULL, false, NULL FROM n
            """);
        await ExecAsync(n + $"""
            INSERT INTO payments (id, merchant_id, order_id, provider, method, status, amount, currency, provider_trade_no, qr_code,
                                  redirect_url, client_secret, refunded_amount, failure_code, created_at, provider_paid_at, succeeded_at,
                                  confirmed_by, last_queried_at, duplicate)
            SELECT 'pay_hist_' || i, {m}, 'ord_hist_' || i, 'sandbox', 'qr', 'Succeeded', 9900, 'CNY', 'sbx_hist_' || i, NULL,
                   NULL, NULL, 0, NULL, {ts}, {ts}, {ts}, 'notification', NULL, false FROM n
            """);
        await ExecAsync(n + $"""
            INSERT INTO ledger_journals (id, merchant_id, source_type, source_id, description, created_at, payment_id)
            SELECT 'jnl_hist_' || i, {m}, 'payment_confirmed', 'pay_hist_' || i, NULL, {ts}, 'pay_hist_' || i FROM n
            """);
        await ExecAsync(n + $"""
            INSERT INTO ledger_entries (journal_id, merchant_id, account, currency, amount, created_at)
            SELECT 'jnl_hist_' || i, {m}, 'provider:sandbox:clearing:CNY', 'CNY', 9900, {ts} FROM n
            UNION ALL SELECT 'jnl_hist_' || i, {m}, 'creator:cre_hist_' || (i % 1000) || ':pending:CNY', 'CNY', -6930, {ts} FROM n
            UNION ALL SELECT 'jnl_hist_' || i, {m}, 'platform:revenue:CNY', 'CNY', -2970, {ts} FROM n
            """);
        await ExecAsync(n + $"""
            INSERT INTO entitlements (id, merchant_id, customer_id, product_id, order_id, granted_at, expires_at, revoked_at, revoked_reason)
            SELECT 'ent_hist_' || i, {m}, 'cus_hist_' || (i % 5000), 'prod_hist_' || (i % 1000), 'ord_hist_' || i, {ts}, NULL, NULL, NULL FROM n
            """);
        await ExecAsync(n + $"""
            INSERT INTO events (id, merchant_id, type, object_id, data, created_at)
            SELECT 'evt_hist_a' || i, {m}, 'order.paid', 'ord_hist_' || i, {emptyJson}, {ts} FROM n
            UNION ALL SELECT 'evt_hist_b' || i, {m}, 'entitlement.granted', 'ent_hist_' || i, {emptyJson}, {ts} FROM n
            """);
        await SettleAsync();
    }

    /// <summary>
    /// Every table vacuumed and analysed, as autovacuum leaves a long-running server between bursts: a seed written at once,
    /// or the previous rounds' rows, would otherwise be vacuumed in one wave (every table crosses its insert threshold together)
    /// inside whichever round comes next, and that was round 0 (risk on) after the seed.
    /// </summary>
    public Task SettleAsync() => ExecAsync(IsPostgres ? "VACUUM ANALYZE" : "ANALYZE");

    /// <summary>
    /// Allowed order decisions of the last 24 h for the history's customers (one in 10 with a device), spread over the day,
    /// so that the decision path's range scans run over a table and indexes of realistic size. Then VACUUM ANALYZE.
    /// </summary>
    public async Task SeedRecentRiskDecisionsAsync(string merchantId, int decisions)
    {
        var at = IsPostgres ? "now() - make_interval(secs => i % 86000)" : "strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || (i % 86000) || ' seconds')";
        var n = $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {decisions}) ";
        const string signals = """'{"amount":9900,"orders_per_customer_24h":1,"amount_per_customer_24h":9900,"failed_attempts_per_customer_1h":0,"account_age_days":30}'""";
        await ExecAsync(n + $"""
            INSERT INTO risk_decisions (id, merchant_id, stage, order_id, payment_id, refund_id, customer_id, ip, device_id, amount, currency,
                                        action, score, rule_id, reasons, signals, rule_hits, unavailable, created_at)
            SELECT 'rdc_hist_' || i, '{merchantId}', 'Order', 'ord_hist_' || i, 'pay_hist_' || i, NULL, 'cus_hist_' || (i % 5000),
                   '198.51.' || (i % 200) || '.' || (i % 250), CASE WHEN i % 10 = 0 THEN 'dev_hist_' || (i % 3000) END, 9900, 'CNY',
                   'Allow', 3, NULL, '[]', {signals}, '[]', NULL, {at} FROM n
            """);
        await SettleAsync();
    }


    /// <summary>The load's customers (<see cref="Load.CustomersPerLearner"/> per learner, named as it names them) created up
    /// front, so that no measured round pays for creating them: otherwise the earliest rounds create the most, whichever mode
    /// they run in.</summary>
    public Task SeedLoadCustomersAsync(string merchantId, int concurrency)
    {
        var now = IsPostgres ? "now()" : "strftime('%Y-%m-%d %H:%M:%S', 'now')";
        var perLearner = Load.CustomersPerLearner;
        return ExecAsync($"""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {concurrency * perLearner - 1})
            INSERT INTO customers (id, merchant_id, external_id, email, name, we_chat_open_id, created_at)
            SELECT 'cus_load_' || i, '{merchantId}', '{Load.CustomerPrefix}' || (i / {perLearner}) || '-' || (i % {perLearner}), NULL, NULL, NULL, {now} FROM n
            """);
    }

    public Task<long> RiskDecisionCountAsync(string merchantId) =>
        ScalarAsync($"SELECT COUNT(*) FROM risk_decisions WHERE merchant_id = '{merchantId}'");

    public Task<long> PaidOrdersAsync(string merchantId) =>
        ScalarAsync($"SELECT COUNT(*) FROM orders WHERE merchant_id = '{merchantId}' AND status = 'Paid'");

    /// <summary>The ledger invariant, straight from the tables: every journal balances per currency, all entries sum to
    /// zero per currency, and every paid order has exactly one payment_confirmed journal.</summary>
    public async Task<List<string>> CheckInvariantsAsync()
    {
        var failures = new List<string>();
        var unbalanced = await ScalarAsync("SELECT COUNT(*) FROM (SELECT journal_id FROM ledger_entries GROUP BY journal_id, currency HAVING SUM(amount) <> 0) x");
        if (unbalanced != 0) failures.Add($"{unbalanced} journal(s) do not balance");
        var nonZero = await ScalarAsync("SELECT COUNT(*) FROM (SELECT currency FROM ledger_entries GROUP BY currency HAVING SUM(amount) <> 0) x");
        if (nonZero != 0) failures.Add($"the entries of {nonZero} currency(ies) do not sum to zero");
        var empty = await ScalarAsync("SELECT COUNT(*) FROM ledger_journals j WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.journal_id = j.id)");
        if (empty != 0) failures.Add($"{empty} journal(s) have no entries");
        var unbooked = await ScalarAsync("""
            SELECT COUNT(*) FROM orders o LEFT JOIN (SELECT p.order_id, COUNT(*) AS c FROM payments p JOIN ledger_journals j
                ON j.source_type = 'payment_confirmed' AND j.source_id = p.id GROUP BY p.order_id) x ON x.order_id = o.id
            WHERE o.status = 'Paid' AND COALESCE(x.c, 0) <> 1
            """);
        if (unbooked != 0) failures.Add($"{unbooked} paid order(s) without exactly one confirmation journal");
        return failures;
    }

    public Task ResetStatementStatsAsync() => ExecAsync("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal')");

    /// <summary>The top statements by total time since the reset, with calls and time per paid order (--pg-stats).</summary>
    public async Task<string> StatementStatsAsync(long paidOrders)
    {
        await using var c = Open();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT calls, total_exec_time, total_plan_time, plans, wal_bytes::float8, wal_fpi, left(regexp_replace(query, '\s+', ' ', 'g'), 150), shared_blks_hit + shared_blks_read FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time + total_plan_time DESC LIMIT 30
            """;
        var s = new System.Text.StringBuilder($"pg_stat_statements over {paidOrders} paid orders: calls/order, exec ms/order, plan ms/order, plans/order, WAL bytes/order, WAL full-page images/order, buffers read/order, statement\n");
        await using var r = await cmd.ExecuteReaderAsync();
        var n = Math.Max(1, paidOrders);
        while (await r.ReadAsync())
            s.Append(System.Globalization.CultureInfo.InvariantCulture, $"{r.GetInt64(0) / (double)n,7:F2} {r.GetDouble(1) / n,7:F3} {r.GetDouble(2) / n,7:F3} {r.GetInt64(3) / (double)n,6:F2} {r.GetDouble(4) / n,7:F0} {r.GetInt64(5) / (double)n,5:F2} {r.GetInt64(7) / (double)n,7:F1}  {r.GetString(6)}\n");
        await r.CloseAsync();
        // Every statement, not only the top: how many distinct ones the connections prepare (Max Auto Prepare) and re-plan.
        cmd.CommandText = """
            SELECT count(*), COALESCE(sum(plans), 0)::int8, COALESCE(sum(total_plan_time), 0)::float8, COALESCE(sum(calls), 0)::int8 FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            """;
        await using (var all = await cmd.ExecuteReaderAsync())
            if (await all.ReadAsync())
                s.Append(System.Globalization.CultureInfo.InvariantCulture,
                    $"all statements: {all.GetInt64(0)} distinct, {all.GetInt64(3) / (double)n:F1} calls, {all.GetInt64(1) / (double)n:F2} plans and {all.GetDouble(2) / n:F3} ms planning per paid order\n");
        // The whole server's WAL (every statement, commit records, checkpoints' full-page images), per paid order.
        cmd.CommandText = "SELECT wal_records, wal_fpi, wal_bytes::float8, wal_write, wal_sync FROM pg_stat_wal";
        await using var w = await cmd.ExecuteReaderAsync();
        if (await w.ReadAsync())
            s.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"pg_stat_wal per paid order: {w.GetInt64(0) / (double)n:F1} records, {w.GetInt64(1) / (double)n:F2} full-page images, {w.GetDouble(2) / n:F0} bytes, {w.GetInt64(3) / (double)n:F2} writes, {w.GetInt64(4) / (double)n:F2} syncs\n");
        return s.ToString();
    }
}
