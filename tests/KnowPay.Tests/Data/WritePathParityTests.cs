using System.Globalization;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Features.Billing;
using KnowPay.Features.Orders;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KnowPay.Tests.Data;

/// <summary>
/// The hot path's two write paths — PostgreSQL's one statement (<see cref="StagedRowsWriter"/>) and SaveChanges (SQLite, and
/// PostgreSQL's fallback) — write the same rows for the same confirmation and the same order creation. Each path runs for
/// its own merchant; the rows it wrote are compared column by column, generated ids and the times of the setup (not of the
/// write under test) normalised.
/// </summary>
[Collection("server")]
public sealed partial class WritePathParityTests(Servers servers)
{
    static readonly DateTime Now = new(2026, 12, 3, 8, 0, 0, 123, DateTimeKind.Utc);
    static readonly DateTime ProviderPaidAt = Now.AddSeconds(-2);

    enum WritePath { OneStatement, SaveChanges }

    [SkippableFact]
    public async Task Confirmation_OneStatementAndSaveChanges_WriteTheSameRows_OnSqliteAndPostgres()
    {
        var written = await WrittenByEachPathAsync(ConfirmAsync);
        AssertSameRows(written, "payments", "orders", "ledger_journals", "ledger_entries", "entitlements", "events");
    }

    [SkippableFact]
    public async Task OrderCreation_OneStatementAndSaveChanges_WriteTheSameRows_OnSqliteAndPostgres()
    {
        var written = await WrittenByEachPathAsync(CreateOrderAsync);
        AssertSameRows(written, "orders", "payments", "idempotency_keys");
    }

    /// <summary>
    /// A renewal batch's rows (<see cref="InvoiceWriter.EnsureBatchAsync"/>): invoices with their lines, orders, a credit journal
    /// with its entries, events and the subscriptions' latest invoice, written as arrays (one <c>unnest</c> per table) on PostgreSQL
    /// and through SaveChanges: the same rows, nulls and converted values included.
    /// </summary>
    [SkippableFact]
    public async Task RenewalInvoices_ArraysAndSaveChanges_WriteTheSameRows_OnSqliteAndPostgres()
    {
        var written = await WrittenByEachPathAsync(RenewInvoicesAsync);
        AssertSameRows(written, "invoices", "invoice_lines", "orders", "ledger_journals", "ledger_entries", "events", "subscriptions");
        // Each path wrote the second period of both subscriptions (the credit line's journal is among the tables asserted above).
        Assert.All(written, w => Assert.Equal(2, w.Rows.Count(r => r.StartsWith("invoices:", StringComparison.Ordinal) && r.Contains("period_index=1", StringComparison.Ordinal))));
    }

    static async Task<List<string>> RenewInvoicesAsync(KnowPayServer server, WritePath path)
    {
        var m = await server.NewMerchantAsync();
        var price = await Billing.BillingTestKit.PriceAsync(m, 3000);
        var clock = await Billing.BillingTestKit.ClockAsync(m, Now);
        var ids = new List<string>();
        for (var i = 0; i < 2; i++) ids.Add((await Billing.BillingTestKit.SubscribeAsync(m, clock, price, Now, sign: false)).Id);

        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        // The setup's Idempotency-Keys are random by nature and not the write under test.
        await db.IdempotencyRecords.Where(r => r.MerchantId == m.MerchantId).ExecuteDeleteAsync();
        var rows = new StagedRows();
        foreach (var (id, credit) in ids.Zip([500L, 0L]))
        {
            var sub = await db.Subscriptions.AsNoTracking().SingleAsync(x => x.Id == id);
            var product = await db.Products.AsNoTracking().SingleAsync(x => x.Id == sub.ProductId);
            var (invoice, _) = InvoiceWriter.Add(rows, sub, product, 1, "subscription_cycle", Now, Now, 7, creditBalance: credit);
            sub.LatestInvoiceId = invoice.Id;
            rows.Update(sub, nameof(Subscription.LatestInvoiceId));
        }
        if (path == WritePath.OneStatement)
        {
            Assert.True(db.IsPostgres);
            await using var tx = await db.Database.BeginTransactionAsync();
            await StagedRowsWriter.SaveAsync(db, rows, CancellationToken.None, asArrays: true);
            await tx.CommitAsync();
            Assert.Empty(db.ChangeTracker.Entries()); // the statement, not SaveChanges, wrote them
        }
        else await StagedRowsWriter.SaveThroughChangeTrackerAsync(db, rows, CancellationToken.None);
        return await RowsOfAsync(db, m.MerchantId);
    }

    /// <summary>SQLite has one path (SaveChanges); PostgreSQL has both.</summary>
    static readonly (Db, WritePath)[] Paths = [(Db.Sqlite, WritePath.SaveChanges), (Db.Postgres, WritePath.OneStatement), (Db.Postgres, WritePath.SaveChanges)];

    /// <summary>The rows <paramref name="write"/> left behind on each path whose database is available.</summary>
    async Task<List<(string Path, List<string> Rows)>> WrittenByEachPathAsync(Func<KnowPayServer, WritePath, Task<List<string>>> write)
    {
        var written = new List<(string Path, List<string> Rows)>();
        foreach (var (db, path) in Paths)
            if (await servers.Get(db) is { } server)
                written.Add(($"{db} {path}", await write(server, path)));
        return written;
    }

    static async Task<List<string>> ConfirmAsync(KnowPayServer server, WritePath path)
    {
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var orderId = (string)(await m.OrderAsync(productId))["id"]!;
        var paymentId = (string)(await m.PaymentAsync(orderId))["id"]!;

        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var payment = await db.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId);
        var order = await db.Orders.AsNoTracking().SingleAsync(o => o.Id == orderId);
        var provider = scope.ServiceProvider.GetRequiredService<PaymentProviders>()[payment.Provider];
        // Without a trade number (the guard keeps the payment's own): the null parameter must work on either path.
        var fact = new PaidFact(payment.Provider, payment.Id, null, new ReportedAmount(payment.Amount, payment.Currency), ProviderPaidAt, "parity")
        { Settlement = new ProviderSettlement(1409, "USD", 0.142345678901m) };   // written by the guard
        var outcome = path == WritePath.OneStatement
            ? await ConfirmPayment.TryOneStatementAsync(db, payment, order, fact, provider, Now, NullLogger.Instance, CancellationToken.None)
            : await ConfirmPayment.ConfirmInTransactionAsync(db, payment, fact, provider, Now, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(ConfirmOutcome.Confirmed, outcome);
        // Exactly once, whichever path: the same confirmation again writes nothing.
        var again = path == WritePath.OneStatement
            ? await ConfirmPayment.TryOneStatementAsync(db, payment, order, fact, provider, Now, NullLogger.Instance, CancellationToken.None)
            : await ConfirmPayment.ConfirmInTransactionAsync(db, payment, fact, provider, Now, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(ConfirmOutcome.AlreadyConfirmed, again);
        return await RowsOfAsync(db, m.MerchantId);
    }

    static async Task<List<string>> CreateOrderAsync(KnowPayServer server, WritePath path)
    {
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        await m.OrderAsync(productId, customer: "learner-parity"); // the customer exists: order creation writes no customer

        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        await db.Orders.Where(o => o.MerchantId == m.MerchantId).ExecuteDeleteAsync();
        var clock = new FixedClock(Now);
        var idempotency = new IdempotencyClaim(m.MerchantId, "parity-key", "hash", "/v1/orders", Now);
        var body = new CreateOrderRequest(null, "learner-parity", productId, "CNY", null, "Parity", new CreatePaymentRequest("sandbox", "qr", null));
        var (order, problem) = await CreateOrder.PrepareAsync(body, m.MerchantId, db, clock, CancellationToken.None, idempotency);
        Assert.Null(problem);
        Assert.False(idempotency.IsTaken);
        var (payment, paymentProblem) = await CreatePayment.PrepareAsync(order!, body.Payment!, scope.ServiceProvider.GetRequiredService<PaymentProviders>(),
            scope.ServiceProvider.GetRequiredService<PublicUrl>(), clock, NullLogger.Instance, CancellationToken.None);
        Assert.Null(paymentProblem);

        // What CreateOrder stages: the payment, the order and the key's answer.
        var rows = new StagedRows();
        rows.Insert(payment!);
        rows.Insert(order!);
        idempotency.StageCompletion(rows, 201, CreatedJson<OrderView>.ContentType, "{\"id\":\"parity\"}"u8.ToArray(), Now);
        if (path == WritePath.OneStatement)
        {
            Assert.True(db.IsPostgres);
            await StagedRowsWriter.SaveAsync(db, rows, CancellationToken.None);
            Assert.Empty(db.ChangeTracker.Entries()); // the statement, not SaveChanges, wrote them
        }
        else await StagedRowsWriter.SaveThroughChangeTrackerAsync(db, rows, CancellationToken.None);
        return await RowsOfAsync(db, m.MerchantId);
    }

    /// <summary>Every row of the merchant in the tables the hot path writes, one line per row: table, then every column.</summary>
    static async Task<List<string>> RowsOfAsync(KnowPayDb db, string merchantId)
    {
        var lines = new List<string>();
        await AddAsync(db.Orders.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.Payments.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.Journals.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.LedgerEntries.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.Entitlements.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.Events.Where(r => r.MerchantId == merchantId)); // not events_to_fan_out: the webhook fan-out consumes it meanwhile
        await AddAsync(db.IdempotencyRecords.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.Subscriptions.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.Invoices.Where(r => r.MerchantId == merchantId));
        await AddAsync(db.InvoiceLines.Where(r => db.Invoices.Any(i => i.Id == r.InvoiceId && i.MerchantId == merchantId)));
        return lines;

        async Task AddAsync<T>(IQueryable<T> query) where T : class
        {
            var type = db.Model.FindEntityType(typeof(T))!;
            // A key the database assigns (a sequence) differs between runs by nature.
            var columns = type.GetProperties().Where(p => !(p.IsKey() && p.ValueGenerated != Microsoft.EntityFrameworkCore.Metadata.ValueGenerated.Never)).ToList();
            foreach (var row in await query.AsNoTracking().ToListAsync())
                lines.Add(type.GetTableName() + ": " + string.Join(", ", columns.Select(c => c.GetColumnName() + "=" + Normalise(c.GetGetter().GetClrValue(row)))));
        }
    }

    /// <summary>Generated ids become their prefix; the write's own times keep a name; other times (the setup's) become "time".</summary>
    static string Normalise(object? value)
    {
        var text = value switch
        {
            null => "null",
            DateTime t when t == Now => "NOW",
            DateTime t when t == ProviderPaidAt => "PROVIDER_PAID_AT",
            DateTime => "time",
            byte[] bytes => Convert.ToBase64String(bytes),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString()!,
        };
        text = text.Replace(Now.ToString("yyyy-MM-ddTHH:mm:ss.fff", CultureInfo.InvariantCulture), "NOW", StringComparison.Ordinal);
        text = IsoTime().Replace(text, "time");
        text = LoopbackServer().Replace(text, "http://server"); // each database has its own server
        return GeneratedId().Replace(text, m => m.Groups[1].Value + "_*");
    }

    [GeneratedRegex(@"\b([a-z]+)_[0-9A-Za-z]{10,}")]
    private static partial Regex GeneratedId();

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+")]
    private static partial Regex LoopbackServer();

    [GeneratedRegex(@"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")]
    private static partial Regex IsoTime();

    static void AssertSameRows(List<(string Path, List<string> Rows)> written, params string[] tables)
    {
        Assert.NotEmpty(written);
        foreach (var table in tables)
            Assert.Contains(written[0].Rows, r => r.StartsWith(table + ":", StringComparison.Ordinal));
        var expected = written[0].Rows.Order(StringComparer.Ordinal).ToList();
        foreach (var (path, rows) in written.Skip(1))
            Assert.True(expected.SequenceEqual(rows.Order(StringComparer.Ordinal)),
                $"{path} wrote other rows than {written[0].Path}:\n{string.Join("\n", rows.Order(StringComparer.Ordinal).Except(expected))}\n" +
                $"instead of:\n{string.Join("\n", expected.Except(rows))}");
    }

    sealed class FixedClock(DateTime now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(now);
    }
}
