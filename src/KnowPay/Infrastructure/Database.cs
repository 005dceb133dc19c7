using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

public static class Database
{
    /// <summary>
    /// Performance defaults for PostgreSQL, each applied only when the connection string does not set it:
    /// <c>No Reset On Close</c> (KnowPay keeps no session state, so the DISCARD ALL that Npgsql otherwise sends on every
    /// pooled connection checkout — once per request — is pure server work), and <c>Max Auto Prepare</c> 128 (the hot
    /// paths' statements are parsed and planned once per connection instead of on every call; a node that takes paid
    /// orders and renews subscriptions uses more than 60, and a smaller cache evicts and re-plans them), and <c>Multiplexing</c>
    /// (commands outside a transaction from concurrent requests share a few physical connections and are written to the
    /// server together: fewer backends woken and fewer socket round trips under load; transactions still get a
    /// connection of their own), and <c>Maximum Pool Size</c> 16 instead of Npgsql's 100: with multiplexing a few
    /// connections carry the load, and more busy backends than the server has cores only add context switches and lock
    /// contention in PostgreSQL. It also keeps a few KnowPay nodes inside the server's <c>max_connections</c> (100 by
    /// default). Set it in the connection string to size it for a larger server.
    /// </summary>
    public const int DefaultMaxPoolSize = 16;

    internal static string TunedForHotPath(string connection)
    {
        var b = new Npgsql.NpgsqlConnectionStringBuilder(connection);
        if (!ContainsKey(connection, "No Reset On Close", "NoResetOnClose")) b.NoResetOnClose = true;
        if (!ContainsKey(connection, "Max Auto Prepare", "MaxAutoPrepare")) b.MaxAutoPrepare = 128;
        if (!ContainsKey(connection, "Multiplexing")) b.Multiplexing = true;
        if (!ContainsKey(connection, "Maximum Pool Size", "MaxPoolSize")) b.MaxPoolSize = DefaultMaxPoolSize;
        return b.ConnectionString;
    }

    static bool ContainsKey(string connection, params string[] names) =>
        connection.Split(';').Any(part => names.Any(n => part.Split('=')[0].Trim().Equals(n, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Registers <see cref="KnowPayDb"/> for SQLite (default, a file under ./data) or PostgreSQL.</summary>
    public static void AddKnowPayDatabase(this WebApplicationBuilder builder)
    {
        var provider = builder.AddBoundOptions<DatabaseOptions>().Provider.ToLowerInvariant();
        var connection = builder.Configuration.GetConnectionString("KnowPay");
        if (provider is "postgres" or "postgresql")
        {
            if (string.IsNullOrWhiteSpace(connection))
                throw new InvalidOperationException("Database:Provider is postgres but ConnectionStrings:KnowPay is empty.");
            builder.Services.AddDbContextPool<PostgresKnowPayDb>(o => o.UseNpgsql(TunedForHotPath(connection)).UseSnakeCaseNamingConvention());
            builder.Services.AddScoped<KnowPayDb>(sp => sp.GetRequiredService<PostgresKnowPayDb>());
        }
        else if (provider == "sqlite")
        {
            connection = string.IsNullOrWhiteSpace(connection) ? "Data Source=data/knowpay.db" : connection;
            var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connection).DataSource;
            var dir = Path.GetDirectoryName(Path.GetFullPath(file));
            if (dir is not null) Directory.CreateDirectory(dir);
            builder.Services.AddDbContextPool<SqliteKnowPayDb>(o => o.UseSqlite(connection).UseSnakeCaseNamingConvention()
                .AddInterceptors(SqliteConnectionPragmas.Instance));
            builder.Services.AddScoped<KnowPayDb>(sp => sp.GetRequiredService<SqliteKnowPayDb>());
        }
        else throw new InvalidOperationException($"Database:Provider must be 'sqlite' or 'postgres', not '{provider}'.");
        builder.Services.AddHostedService<DatabaseMigrator>();
    }
}

/// <summary>Applies the migrations of the configured database at start-up, then seeds the demo merchant if asked.</summary>
sealed class DatabaseMigrator(IServiceProvider services, IOptions<DemoOptions> demo, TimeProvider clock, ILogger<DatabaseMigrator> log) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        if (!db.IsPostgres)
        {
            // WAL lets readers proceed while one writer commits; busy_timeout makes writers queue instead of failing.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
            await MigrateAsync(db, ct);
        }
        else
        {
            // Nodes starting together on one database migrate one after the other: the second finds the work done.
            // A connection of its own, unpooled and not multiplexed: a session lock must be taken and released on one backend.
            var gateConnection = new Npgsql.NpgsqlConnectionStringBuilder(db.Database.GetConnectionString()) { Multiplexing = false, Pooling = false };
            await using var gate = new Npgsql.NpgsqlConnection(gateConnection.ConnectionString);
            await gate.OpenAsync(ct);
            await using (var take = new Npgsql.NpgsqlCommand($"SELECT pg_advisory_lock({MigrationLockKey})", gate)) await take.ExecuteNonQueryAsync(ct);
            try { await MigrateAsync(db, ct); }
            finally
            {
                await using var release = new Npgsql.NpgsqlCommand($"SELECT pg_advisory_unlock({MigrationLockKey})", gate);
                await release.ExecuteNonQueryAsync(CancellationToken.None);
            }
        }
        log.LogInformation("Database migrated ({Provider})", db.Database.ProviderName);
        if (demo.Value.Seed) await DemoSeed.EnsureAsync(db, demo.Value, clock, ct);
    }

    /// <summary>The advisory lock held while migrating ("KnowPayM" in ASCII); unique to KnowPay within the database.</summary>
    const long MigrationLockKey = 0x4B6E6F775061794D;

    static async Task MigrateAsync(KnowPayDb db, CancellationToken ct)
    {
        await db.Database.MigrateAsync(ct);
        await Features.Ledger.AppendOnlyLedger.EnsureAsync(db, ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

/// <summary>The demo merchant, creator and three products, so that a newcomer can pay an order at once.</summary>
public static class DemoSeed
{
    public const string MerchantId = "mer_demo";
    public const string DefaultApiKey = "sk_test_demo_0000000000000000000000000000";

    public static async Task EnsureAsync(KnowPayDb db, DemoOptions demo, TimeProvider clock, CancellationToken ct)
    {
        if (await db.Merchants.AnyAsync(m => m.Id == MerchantId, ct)) return;
        var now = clock.GetUtcNow().UtcDateTime;
        db.Merchants.Add(new Merchant { Id = MerchantId, Name = "Demo Academy", CreatedAt = now });
        db.ApiKeys.Add(ApiKeys.Generate(MerchantId, "*", now, demo.ApiKey ?? DefaultApiKey).Row);
        db.Creators.Add(new Creator { Id = "cre_demo", MerchantId = MerchantId, Name = "Lin Wei", Email = "lin@example.com", CreatedAt = now });
        db.Products.AddRange(
            Product("prod_demo_course", "Payments from First Principles", ProductKind.Course, 7000, null, now, ("CNY", 9900), ("USD", 1500), ("JPY", 2000)),
            Product("prod_demo_column", "Weekly Fintech Column", ProductKind.Column, 8000, null, now, ("CNY", 2900)),
            Product("prod_demo_membership", "Annual Membership", ProductKind.Membership, 5000, 365, now, ("CNY", 19900), ("USD", 2900)));
        await db.SaveChangesAsync(ct);
    }

    static Product Product(string id, string name, ProductKind kind, int share, int? period, DateTime now, params (string Currency, long Amount)[] prices) => new()
    {
        Id = id, MerchantId = MerchantId, CreatorId = "cre_demo", Name = name, Kind = kind, Status = ProductStatus.Published,
        CreatorShareBps = share, PeriodDays = period, CreatedAt = now,
        Prices = prices.Select(p => new ProductPrice
        {
            Id = Ids.New("price"), ProductId = id, Currency = p.Currency, Amount = p.Amount, Version = 1, Active = true, CreatedAt = now,
        }).ToList(),
    };
}

/// <summary>
/// On every opened connection: SQLite's own busy handler (<c>PRAGMA busy_timeout</c>) and a durable commit
/// (<c>PRAGMA synchronous = FULL</c>: the WAL is synced at every commit, SQLite's default, set explicitly because one
/// statement batch — the Idempotency-Key claim, see <see cref="IdempotencyClaim.ClaimStatement"/>
/// — lowers it for its own commit, and a pooled connection keeps what was set on it). Without the busy handler a writer
/// that finds the database locked is retried by Microsoft.Data.Sqlite in fixed 150 ms sleeps, so every wait is a
/// multiple of 150 ms; SQLite's handler retries after 1, 2, 5, 10, … ms, so a writer waits about as long as the lock is
/// actually held. The managed retry (up to the command timeout) still applies after 5 s.
/// </summary>
sealed class SqliteConnectionPragmas : Microsoft.EntityFrameworkCore.Diagnostics.DbConnectionInterceptor
{
    public static readonly SqliteConnectionPragmas Instance = new();
    const string Pragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;";

    public override void ConnectionOpened(System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData)
    {
        using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData,
        CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>Plain ADO.NET commands on the DbContext's connection (hot-path SQL that is the same on both databases).</summary>
public static class DbCommandExtensions
{
    /// <summary>Adds a named parameter (<c>@name</c> in the SQL text; both Npgsql and Microsoft.Data.Sqlite bind it by name).</summary>
    public static void AddParameter(this System.Data.Common.DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
