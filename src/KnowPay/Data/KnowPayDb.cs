using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace KnowPay.Data;

/// <summary>
/// The one EF Core model. Two subclasses exist only so that each database keeps its own migration set
/// (Data/Migrations/Sqlite, Data/Migrations/Postgres); code uses <see cref="KnowPayDb"/>.
/// </summary>
public abstract class KnowPayDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<Merchant> Merchants => Set<Merchant>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<DashboardSession> DashboardSessions => Set<DashboardSession>();
    public DbSet<Creator> Creators => Set<Creator>();
    public DbSet<Customer> Customers => Set<Customer>();
    public DbSet<Product> Products => Set<Product>();
    public DbSet<ProductPrice> ProductPrices => Set<ProductPrice>();
    public DbSet<Order> Orders => Set<Order>();
    public DbSet<FxRate> FxRates => Set<FxRate>();
    public DbSet<FxDailyRate> FxDailyRates => Set<FxDailyRate>();
    public DbSet<Payment> Payments => Set<Payment>();
    public DbSet<LedgerJournal> Journals => Set<LedgerJournal>();
    public DbSet<LedgerEntry> LedgerEntries => Set<LedgerEntry>();
    public DbSet<LedgerClose> LedgerCloses => Set<LedgerClose>();
    public DbSet<Entitlement> Entitlements => Set<Entitlement>();
    public DbSet<OutboxEvent> Events => Set<OutboxEvent>();
    public DbSet<PendingFanOut> PendingFanOuts => Set<PendingFanOut>();
    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();
    public DbSet<Refund> Refunds => Set<Refund>();
    public DbSet<WebhookEndpoint> WebhookEndpoints => Set<WebhookEndpoint>();
    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();
    public DbSet<Payout> Payouts => Set<Payout>();
    public DbSet<Mandate> Mandates => Set<Mandate>();
    public DbSet<Subscription> Subscriptions => Set<Subscription>();
    public DbSet<Invoice> Invoices => Set<Invoice>();
    public DbSet<InvoiceLine> InvoiceLines => Set<InvoiceLine>();
    public DbSet<TestClock> TestClocks => Set<TestClock>();
    public DbSet<ReconciliationRun> ReconciliationRuns => Set<ReconciliationRun>();
    public DbSet<BillLineRow> BillLines => Set<BillLineRow>();
    public DbSet<ReconciliationItem> ReconciliationItems => Set<ReconciliationItem>();
    public DbSet<Features.Monitoring.Alert> Alerts => Set<Features.Monitoring.Alert>();
    public DbSet<Features.Audit.AuditEvent> AuditEvents => Set<Features.Audit.AuditEvent>();
    public DbSet<RiskPolicy> RiskPolicies => Set<RiskPolicy>();
    public DbSet<RiskList> RiskLists => Set<RiskList>();
    public DbSet<RiskDecision> RiskDecisions => Set<RiskDecision>();
    public DbSet<RiskReview> RiskReviews => Set<RiskReview>();

    /// <summary>The subclass says it: <see cref="PostgresKnowPayDb"/> is only ever configured with Npgsql (Database.cs, the
    /// design-time factory). Not <c>Database.ProviderName</c>, which looks up its assembly's name on every call (hot path).</summary>
    public bool IsPostgres => this is PostgresKnowPayDb;

    /// <summary>
    /// The payment with this id if it is <paramref name="provider"/>'s. By the primary key alone, the provider checked on the
    /// row: with the provider in the WHERE, a prepared statement's generic plan made while the table was small can take the
    /// (provider, provider_trade_no) index and read every payment of the provider on each call.
    /// </summary>
    public async Task<Payment?> PaymentOfAsync(string id, string provider, CancellationToken ct) =>
        await Payments.AsNoTracking().SingleOrDefaultAsync(p => p.Id == id, ct) is { } payment && payment.Provider == provider ? payment : null;

    protected override void ConfigureConventions(ModelConfigurationBuilder configuration)
    {
        configuration.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configuration.Properties<DateTime?>().HaveConversion<UtcDateTimeConverter>();
        configuration.Properties<OrderStatus>().HaveConversion<string>().HaveMaxLength(16);
        configuration.Properties<PaymentStatus>().HaveConversion<string>().HaveMaxLength(16);
        configuration.Properties<ProductKind>().HaveConversion<string>().HaveMaxLength(16);
        configuration.Properties<ProductStatus>().HaveConversion<string>().HaveMaxLength(16);
        configuration.Properties<RiskAction>().HaveConversion<string>().HaveMaxLength(16);
        configuration.Properties<RiskStage>().HaveConversion<string>().HaveMaxLength(16);
        configuration.Properties<RiskReviewStatus>().HaveConversion<string>().HaveMaxLength(16);
        configuration.Properties<string>().HaveMaxLength(200);
    }

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<Merchant>(e =>
        {
            e.ToTable("merchants");
            e.Property(m => m.SettlementCurrency).HasMaxLength(3).HasDefaultValue("CNY");
        });
        RiskTables.Configure(model);
        Features.Risk.ProviderBaseline.Configure(model);
        model.Entity<ApiKey>(e =>
        {
            e.ToTable("api_keys");
            e.HasIndex(k => k.Hash).IsUnique();
            e.HasIndex(k => k.MerchantId);
        });
        model.Entity<DashboardSession>(e =>
        {
            e.ToTable("dashboard_sessions");
            e.HasIndex(s => s.ExpiresAt);
        });
        model.Entity<Creator>(e =>
        {
            e.ToTable("creators");
            e.HasIndex(c => new { c.MerchantId, c.Id });
            e.Property(c => c.PayoutCurrency).HasMaxLength(3);
        });
        model.Entity<Customer>(e =>
        {
            e.ToTable("customers");
            e.Property(c => c.WeChatOpenId).HasMaxLength(128);
            e.HasIndex(c => new { c.MerchantId, c.ExternalId }).IsUnique();
            e.HasIndex(c => new { c.MerchantId, c.Id });
        });
        model.Entity<Product>(e =>
        {
            e.ToTable("products");
            e.HasIndex(p => new { p.MerchantId, p.Id });
            e.HasIndex(p => new { p.MerchantId, p.CreatorId, p.Id });
            e.HasMany(p => p.Prices).WithOne().HasForeignKey(p => p.ProductId);
        });
        model.Entity<ProductPrice>(e =>
        {
            e.ToTable("product_prices");
            e.HasIndex(p => new { p.ProductId, p.Currency, p.Version }).IsUnique();
        });
        model.Entity<Order>(e =>
        {
            e.ToTable("orders");
            e.HasIndex(o => new { o.MerchantId, o.Id });
            // Only pending orders are looked up by expiry (OrderExpiry): partial, so paying an order adds no entry to it.
            e.HasIndex(o => o.ExpiresAt).HasFilter("status = 'Pending'").HasDatabaseName("ix_orders_pending_expires_at");
            e.Property(o => o.Description).HasMaxLength(1000);
        });
        model.Entity<FxRate>(e =>
        {
            e.ToTable("fx_rates");
            e.HasKey(r => new { r.MerchantId, r.Source, r.Base, r.Quote });
            e.Property(r => r.Rate).HasPrecision(28, 12);
        });
        model.Entity<FxDailyRate>(e =>
        {
            e.ToTable("fx_daily_rates");
            e.HasKey(r => new { r.MerchantId, r.Source, r.Day, r.Base, r.Quote });
            e.Property(r => r.Rate).HasPrecision(28, 12);
        });
        model.Entity<Order>().Property(o => o.FxRate).HasPrecision(28, 16);
        model.Entity<Order>().Property(o => o.CreatorFxRate).HasPrecision(28, 16);
        model.Entity<Order>().Property(o => o.CreatorCurrency).HasMaxLength(3);
        model.Entity<Payment>(e =>
        {
            e.ToTable("payments");
            e.HasIndex(p => p.OrderId);
            e.HasIndex(p => new { p.Provider, p.ProviderTradeNo }).IsUnique();
            // Only pending payments are polled (PaymentPoller): partial, so confirming a payment adds no entry to it.
            e.HasIndex(p => p.CreatedAt).HasFilter("status = 'Pending'").HasDatabaseName("ix_payments_pending_created_at");
            // Time windows over all payments (success-rate baselines and alerts) read a range, not the table.
            e.HasIndex(p => p.CreatedAt, "ix_payments_created_at");
            e.Property(p => p.RedirectUrl).HasMaxLength(4000);
            e.Property(p => p.QrCode).HasMaxLength(1000);
            e.Property(p => p.ClientSecret).HasMaxLength(500);
            e.Property(p => p.SignedParameters).HasMaxLength(4000);
            e.Property(p => p.SettlementCurrency).HasMaxLength(3);
            e.Property(p => p.PayerCurrency).HasMaxLength(3);
            e.Property(p => p.SettlementRate).HasPrecision(24, 12);
            e.Property(p => p.PayerRate).HasPrecision(24, 12);
        });
        model.Entity<LedgerJournal>(e =>
        {
            e.ToTable("ledger_journals");
            e.HasIndex(j => new { j.MerchantId, j.SourceType, j.SourceId }).IsUnique();
            // Reconciliation reads a day's journals by the payments its bill names.
            e.HasIndex(j => j.PaymentId);
            e.HasMany(j => j.Entries).WithOne().HasForeignKey(x => x.JournalId);
        });
        model.Entity<LedgerEntry>(e =>
        {
            e.ToTable("ledger_entries");
            e.HasIndex(x => new { x.MerchantId, x.Account, x.Id });
            e.HasIndex(x => x.JournalId);
        });
        model.Entity<Entitlement>(e =>
        {
            e.ToTable("entitlements");
            e.HasIndex(x => new { x.MerchantId, x.CustomerId, x.ProductId });
            e.HasIndex(x => x.OrderId).IsUnique();
        });
        model.Entity<OutboxEvent>(e =>
        {
            e.ToTable("events");
            e.HasIndex(x => new { x.MerchantId, x.Id });
            e.Property(x => x.Data).HasMaxLength(20_000);
        });
        model.Entity<IdempotencyRecord>(e =>
        {
            e.ToTable("idempotency_keys");
            e.HasKey(x => new { x.MerchantId, x.Key });
            e.Property(x => x.ResponseBody).HasMaxLength(1_000_000);
            e.HasIndex(x => x.CreatedAt);
        });
        model.Entity<OutboxEvent>(e =>
        {
            e.HasIndex(x => new { x.MerchantId, x.Type, x.Id });
        });
        model.Entity<PendingFanOut>(e =>
        {
            e.ToTable("events_to_fan_out");
            e.HasKey(x => x.EventId);
        });
        model.Entity<Refund>(e =>
        {
            e.ToTable("refunds");
            e.Property(x => x.Status).HasConversion<string>().HasMaxLength(16);
            e.Property(x => x.Reason).HasMaxLength(500);
            e.HasIndex(x => new { x.PaymentId, x.Id });
            e.HasIndex(x => new { x.MerchantId, x.Id });
            e.HasIndex(x => new { x.Status, x.CreatedAt });
            e.HasIndex(x => new { x.MerchantId, x.IdempotencyKey }).IsUnique();
        });
        model.Entity<Mandate>(e =>
        {
            e.ToTable("mandates");
            e.Property(x => x.Status).HasConversion<string>().HasMaxLength(16);
            e.Property(x => x.SignAction).HasMaxLength(4000);
            e.HasIndex(x => new { x.MerchantId, x.Id });
            e.HasIndex(x => new { x.CustomerId, x.Status });
            e.HasIndex(x => new { x.Provider, x.ProviderMandateId });
        });
        model.Entity<Order>().HasIndex(o => o.InvoiceId).IsUnique();
        model.Entity<Subscription>(e =>
        {
            e.ToTable("subscriptions");
            e.Property(x => x.Status).HasConversion<string>().HasMaxLength(24);
            e.HasIndex(x => new { x.MerchantId, x.Id });
            e.HasIndex(x => new { x.MerchantId, x.CustomerId, x.Id });
            e.HasIndex(x => x.MandateId);
            // The renewal engine's claim: only subscriptions with something to do are in it.
            e.HasIndex(x => x.NextActionAt).HasFilter("next_action_at IS NOT NULL").HasDatabaseName("ix_subscriptions_due");
            e.HasIndex(x => x.TestClockId);
        });
        model.Entity<Invoice>(e =>
        {
            e.ToTable("invoices");
            e.Property(x => x.Status).HasConversion<string>().HasMaxLength(16);
            e.HasIndex(x => new { x.SubscriptionId, x.PeriodStart }).IsUnique();
            e.HasIndex(x => new { x.MerchantId, x.Id });
            e.HasIndex(x => x.OrderId).IsUnique();
            e.HasMany(x => x.Lines).WithOne().HasForeignKey(l => l.InvoiceId);
        });
        model.Entity<InvoiceLine>(e =>
        {
            e.ToTable("invoice_lines");
            e.Property(x => x.Description).HasMaxLength(500);
        });
        model.Entity<TestClock>(e =>
        {
            e.ToTable("test_clocks");
            e.Property(x => x.Status).HasMaxLength(16);
            e.HasIndex(x => new { x.MerchantId, x.Id });
        });
        model.Entity<WebhookEndpoint>(e =>
        {
            e.ToTable("webhook_endpoints");
            e.Property(x => x.Url).HasMaxLength(2000);
            e.Property(x => x.EventTypes).HasMaxLength(2000);
            e.HasIndex(x => new { x.MerchantId, x.Id });
        });
        model.Entity<WebhookDelivery>(e =>
        {
            e.ToTable("webhook_deliveries");
            e.Property(x => x.Status).HasMaxLength(16);
            e.Property(x => x.LastError).HasMaxLength(500);
            e.HasIndex(x => new { x.EventId, x.EndpointId }).IsUnique();
            e.HasIndex(x => new { x.Status, x.NextAttemptAt });
            e.HasIndex(x => x.ClaimToken);
        });
        model.Entity<Payout>(e =>
        {
            e.ToTable("payouts");
            e.Property(p => p.Status).HasConversion<string>().HasMaxLength(16);
            e.HasIndex(p => new { p.MerchantId, p.CreatorId, p.Currency, p.Sequence }).IsUnique();
            e.HasIndex(p => new { p.MerchantId, p.Id });
            e.HasIndex(p => new { p.Status, p.LastSentAt });
        });
        model.Entity<Features.Monitoring.Alert>(e =>
        {
            e.ToTable("alerts");
            e.HasIndex(a => new { a.MerchantId, a.Rule, a.Subject }).IsUnique().HasFilter("resolved_at IS NULL");
            e.HasIndex(a => new { a.MerchantId, a.FiredAt });
            e.Property(a => a.Message).HasMaxLength(1000);
            e.Property(a => a.Baseline).HasMaxLength(16);
        });
        model.Entity<Features.Audit.AuditEvent>(e =>
        {
            e.ToTable("audit_events");   // append-only: triggers of migration AuditEvents refuse UPDATE and DELETE
            e.HasIndex(a => new { a.MerchantId, a.Id });
            e.HasIndex(a => new { a.MerchantId, a.ObjectId });
            e.Property(a => a.ActorType).HasMaxLength(16);
            e.Property(a => a.Outcome).HasMaxLength(16);
        });
        ReconciliationModel.Configure(model);
        LedgerCloseModel.Configure(model);
        model.Entity<Payment>().HasIndex(p => new { p.MerchantId, p.CreatedAt });
        // Card risk signals count a card's payments over a window; only payments with a card are in it.
        model.Entity<Payment>().HasIndex(p => new { p.MerchantId, p.CardFingerprint, p.CreatedAt })
            .HasFilter(CardedPayments).HasDatabaseName("ix_payments_card_fingerprint");
        model.Entity<Payment>().Property(p => p.CardFingerprint).HasMaxLength(64);
        // The risk signals look up each earlier decision's payment for two facts only, failed or not and its card: two
        // partial indexes on the id hold just the payments that have them, so the probe for a paid one ends in a small
        // index (one page where the primary key's look-up reads four).
        model.Entity<Payment>().HasIndex(p => p.Id, "ix_payments_failed").HasFilter(FailedPayments)
            .HasDatabaseName("ix_payments_failed");
        model.Entity<Payment>().HasIndex(p => p.Id, "ix_payments_carded").HasFilter(CardedPayments)
            .HasDatabaseName("ix_payments_carded")
            .IncludeProperties(p => p.CardFingerprint);
        // Only flagged duplicates are looked up (DuplicatePaymentRefunds): partial, normal payments add no entry to it.
        model.Entity<Payment>().HasIndex(p => p.Status).HasFilter("duplicate").HasDatabaseName("ix_payments_duplicates");
    }

    /// <summary>The payments in ix_payments_failed: a query states it (on its own alias) to be served by that index.</summary>
    public const string FailedPayments = $"status = '{nameof(PaymentStatus.Failed)}'";

    /// <summary>The payments in ix_payments_carded and ix_payments_card_fingerprint, stated the same way.</summary>
    public const string CardedPayments = "card_fingerprint IS NOT NULL";

    sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}

public sealed class SqliteKnowPayDb(DbContextOptions<SqliteKnowPayDb> options) : KnowPayDb(options);

public sealed class PostgresKnowPayDb(DbContextOptions<PostgresKnowPayDb> options) : KnowPayDb(options);

sealed class SqliteDesignFactory : IDesignTimeDbContextFactory<SqliteKnowPayDb>
{
    public SqliteKnowPayDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteKnowPayDb>().UseSqlite("Data Source=design.db").UseSnakeCaseNamingConvention().Options);
}

sealed class PostgresDesignFactory : IDesignTimeDbContextFactory<PostgresKnowPayDb>
{
    public PostgresKnowPayDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresKnowPayDb>().UseNpgsql("Host=localhost;Database=design").UseSnakeCaseNamingConvention().Options);
}
