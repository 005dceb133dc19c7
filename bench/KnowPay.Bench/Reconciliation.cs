using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace KnowPay.Bench;

/// <summary>
/// --scenario reconciliation [--payments N] (also in "all"): a day of N paid SandboxPay payments seeded into PostgreSQL by
/// COPY, SandboxPay's bill of that day (every payment, in its documented CSV, signed) served by the bench in KnowPay's
/// place of SandboxPay, then one reconciliation run through the API: its wall time, and KnowPay's working set before,
/// after and at its peak. Checks: every line matched, no difference, the lines stored once.
/// </summary>
static class ReconciliationBench
{
    static readonly DateOnly Day = new(2026, 6, 1);

    public sealed record Result(int Payments, double SeedSeconds, double RunSeconds, int Matched, int Differences, long LinesStored,
        double RssBeforeMb, double RssAfterMb, double PeakRssMb, bool Passed);

    public static async Task<Result> RunAsync(string root, int count)
    {
        await using var pg = await Postgres.StartAsync();
        await pg.CreateDatabaseAsync("knowpay_recon");
        var connection = pg.Database("knowpay_recon");
        var (merchantId, secret) = await KnowPayProcess.CreateMerchantAsync(root, "postgres", connection);

        var seed = Stopwatch.StartNew();
        await SeedAsync(connection, merchantId, count);
        var seedSeconds = seed.Elapsed.TotalSeconds;
        Console.WriteLine($"[reconciliation] {count} paid payments of {Day:yyyy-MM-dd} seeded (COPY) in {seedSeconds:F1} s");

        var sandboxSecret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        await using var bills = await BillServer.StartAsync(sandboxSecret, Bill(count));
        await using var kp = await KnowPayProcess.StartAsync(root, "postgres", connection, settings:
            $"--Providers:Sandbox:ApiBaseUrl={bills.Url} --Providers:Sandbox:Secret={sandboxSecret} --Providers:Sandbox:TimeoutMs=60000 --Jobs:Enabled=false");
        using var http = new HttpClient { BaseAddress = new Uri(kp.BaseUrl), Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);

        var (_, rssBefore) = kp.Memory();
        var clock = Stopwatch.StartNew();
        using var response = await http.PostAsJsonAsync("/v1/reconciliation/runs", new { provider = "sandbox", date = Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) });
        var text = await response.Content.ReadAsStringAsync();
        var runSeconds = clock.Elapsed.TotalSeconds;
        var (peak, rssAfter) = kp.Memory();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"POST /v1/reconciliation/runs → {(int)response.StatusCode}: {text}");
        var run = JsonNode.Parse(text)!;
        var (matched, differences) = ((int)run["matched"]!, (int)run["differences"]!);
        await using var db = NpgsqlDataSource.Create(connection);
        await using var countLines = db.CreateCommand($"SELECT COUNT(*) FROM bill_lines WHERE provider = 'sandbox' AND day = '{Day:yyyy-MM-dd}'");
        var stored = Convert.ToInt64(await countLines.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        var passed = (string?)run["status"] == "completed" && matched == count && differences == 0 && stored == count;
        Console.WriteLine($"[reconciliation] {count} payments: run {(string?)run["status"]} in {runSeconds:F1} s; {matched} matched, {differences} differences, " +
                          $"{stored} lines stored; KnowPay RSS {rssBefore:F0} MB before, {rssAfter:F0} MB after, peak {peak:F0} MB; " +
                          (passed ? "checks OK" : "CHECKS FAILED" + (run["reason"] is { } reason ? ": " + reason : "")));
        return new Result(count, seedSeconds, runSeconds, matched, differences, stored, rssBefore, rssAfter, peak, passed);
    }

    /// <summary>Orders and their paid payments, spread over the day, written by COPY (binary), with their journals and access.</summary>
    static async Task SeedAsync(string connection, string merchantId, int count)
    {
        await using var c = new NpgsqlConnection(connection);
        await c.OpenAsync();
        var start = new DateTime(Day.Year, Day.Month, Day.Day, 0, 0, 0, DateTimeKind.Utc);
        DateTime At(int i) => start.AddMilliseconds(i * (86_400_000.0 / count));
        await using (var orders = await c.BeginBinaryImportAsync("""
            COPY orders (id, merchant_id, customer_id, product_id, price_id, creator_id, amount, currency, creator_share_bps,
                         status, created_at, expires_at, paid_at, paid_after_expiry) FROM STDIN (FORMAT BINARY)
            """))
        {
            for (var i = 0; i < count; i++)
            {
                await orders.StartRowAsync();
                await orders.WriteAsync("ord_rec_" + i.ToString(CultureInfo.InvariantCulture));
                await orders.WriteAsync(merchantId);
                await orders.WriteAsync("cus_rec_" + (i % 5000).ToString(CultureInfo.InvariantCulture));
                await orders.WriteAsync("prod_rec_" + (i % 100).ToString(CultureInfo.InvariantCulture));
                await orders.WriteAsync("price_rec_" + (i % 100).ToString(CultureInfo.InvariantCulture));
                await orders.WriteAsync("cre_rec_" + (i % 100).ToString(CultureInfo.InvariantCulture));
                await orders.WriteAsync(Amount(i));
                await orders.WriteAsync("CNY");
                await orders.WriteAsync(7000);
                await orders.WriteAsync("Paid");
                await orders.WriteAsync(At(i), NpgsqlTypes.NpgsqlDbType.TimestampTz);
                await orders.WriteAsync(At(i).AddMinutes(30), NpgsqlTypes.NpgsqlDbType.TimestampTz);
                await orders.WriteAsync(At(i), NpgsqlTypes.NpgsqlDbType.TimestampTz);
                await orders.WriteAsync(false);
            }
            await orders.CompleteAsync();
        }
        await using (var payments = await c.BeginBinaryImportAsync("""
            COPY payments (id, merchant_id, order_id, provider, method, status, amount, currency, provider_trade_no, refunded_amount,
                           created_at, provider_paid_at, succeeded_at, confirmed_by, duplicate) FROM STDIN (FORMAT BINARY)
            """))
        {
            for (var i = 0; i < count; i++)
            {
                var id = i.ToString(CultureInfo.InvariantCulture);
                await payments.StartRowAsync();
                await payments.WriteAsync("pay_rec_" + id);
                await payments.WriteAsync(merchantId);
                await payments.WriteAsync("ord_rec_" + id);
                await payments.WriteAsync("sandbox");
                await payments.WriteAsync("qr");
                await payments.WriteAsync("Succeeded");
                await payments.WriteAsync(Amount(i));
                await payments.WriteAsync("CNY");
                await payments.WriteAsync("sbx_rec_" + id);
                await payments.WriteAsync(0L);
                await payments.WriteAsync(At(i), NpgsqlTypes.NpgsqlDbType.TimestampTz);
                await payments.WriteAsync(At(i), NpgsqlTypes.NpgsqlDbType.TimestampTz);
                await payments.WriteAsync(At(i), NpgsqlTypes.NpgsqlDbType.TimestampTz);
                await payments.WriteAsync("notification");
                await payments.WriteAsync(false);
            }
            await payments.CompleteAsync();
        }
        // Each payment's confirmation journal (no fee: clearing, the creator's 70 % held, the platform's rest) and the order's
        // access, as confirmation leaves them, so the ledger and entitlement legs have a clean day to check.
        await using var books = new NpgsqlCommand("""
            INSERT INTO ledger_journals (id, merchant_id, source_type, source_id, payment_id, description, created_at)
            SELECT 'jrn_rec_' || substr(p.id, 9), p.merchant_id, 'payment_confirmed', p.id, p.id, 'seeded', p.succeeded_at
            FROM payments p WHERE p.id LIKE 'pay_rec_%';
            INSERT INTO ledger_entries (journal_id, merchant_id, account, currency, amount, created_at)
            SELECT 'jrn_rec_' || substr(p.id, 9), p.merchant_id, e.account, 'CNY', e.amount, p.succeeded_at
            FROM payments p JOIN orders o ON o.id = p.order_id
            CROSS JOIN LATERAL (VALUES ('provider:sandbox:clearing:CNY', p.amount),
                                       ('creator:' || o.creator_id || ':pending:CNY', -(p.amount * 70 / 100)),
                                       ('platform:revenue:CNY', -(p.amount - p.amount * 70 / 100))) AS e(account, amount)
            WHERE p.id LIKE 'pay_rec_%';
            INSERT INTO entitlements (id, merchant_id, customer_id, product_id, order_id, granted_at)
            SELECT 'ent_rec_' || substr(o.id, 9), o.merchant_id, o.customer_id, o.product_id, o.id, o.paid_at
            FROM orders o WHERE o.id LIKE 'ord_rec_%';
            ANALYZE;
            """, c);
        await books.ExecuteNonQueryAsync();
    }

    static long Amount(int i) => 9900 + i % 100;

    /// <summary>SandboxPay's bill of the day: every seeded payment, no fee (KnowPay books none by default).</summary>
    static string Bill(int count)
    {
        var csv = new StringBuilder("type,trade_no,out_trade_no,refund_no,out_refund_no,currency,amount,fee,completed_at\r\n");
        var start = new DateTime(Day.Year, Day.Month, Day.Day, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < count; i++)
            csv.Append(CultureInfo.InvariantCulture,
                $"payment,sbx_rec_{i},pay_rec_{i},,,CNY,{Amount(i)},0,{start.AddMilliseconds(i * (86_400_000.0 / count)):yyyy-MM-dd'T'HH:mm:ss'Z'}\r\n");
        return csv.ToString();
    }

    /// <summary>SandboxPay's bill endpoint in the bench's process: the same signed answer SandboxPay gives (<c>t.body</c>, HMAC-SHA256).</summary>
    sealed class BillServer(WebApplication app, string url) : IAsyncDisposable
    {
        public string Url => url;

        public static async Task<BillServer> StartAsync(string secret, string bill)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            var port = Shell.FreePort();
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
            var app = builder.Build();
            app.MapGet("/v1/bills/{day}", (string day, HttpContext http) =>
            {
                var body = day == Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ? bill : "type,trade_no,out_trade_no,refund_no,out_refund_no,currency,amount,fee,completed_at\r\n";
                var t = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                http.Response.Headers["SandboxPay-Signature"] = $"t={t},v1={Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(t + "." + body)))}";
                return Results.Text(body, "text/csv; charset=utf-8");
            });
            await app.StartAsync();
            return new BillServer(app, $"http://127.0.0.1:{port}");
        }

        public async ValueTask DisposeAsync() => await app.DisposeAsync();
    }
}
