using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace KnowPay.Tests.Infrastructure;

/// <summary>
/// A throw-away PostgreSQL server for the whole test run: initdb + pg_ctl as the postgres user in a temp dir on a
/// free port (PostgreSQL refuses to run as root). KNOWPAY_TEST_POSTGRES (a connection string) uses an existing server
/// instead. When neither works the tests that need it are skipped ([SkippableFact]/[SkippableTheory]), or fail if
/// KNOWPAY_REQUIRE_POSTGRES=1 or CI=true (as .ci/run sets), so that CI cannot pass without them.
/// </summary>
public static class PostgresServer
{
    static readonly Lazy<Task<string?>> Admin = new(StartAsync);
    static string? dataDir;

    public static bool Required =>
        Environment.GetEnvironmentVariable("KNOWPAY_REQUIRE_POSTGRES") == "1" ||
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>A connection string to a new, empty database; skips the test when no server can be had and none is required.</summary>
    public static async Task<string> NewDatabaseAsync()
    {
        var admin = await Admin.Value;
        if (admin is null)
        {
            if (Required) throw new InvalidOperationException($"PostgreSQL is required (CI=true or KNOWPAY_REQUIRE_POSTGRES=1) but not found in {Bin}");
            throw new SkipException($"PostgreSQL not found in {Bin} (set KNOWPAY_PG_BIN or KNOWPAY_TEST_POSTGRES; CI=true makes this a failure)");
        }
        var name = "kp_" + Guid.NewGuid().ToString("N")[..16];
        await using (var conn = new NpgsqlConnection(admin))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    public static async Task<string?> AdminConnectionStringAsync() => await Admin.Value;

    static string Bin => Environment.GetEnvironmentVariable("KNOWPAY_PG_BIN") ?? "/usr/lib/postgresql/15/bin";

    static async Task<string?> StartAsync()
    {
        var external = Environment.GetEnvironmentVariable("KNOWPAY_TEST_POSTGRES");
        if (!string.IsNullOrWhiteSpace(external)) return external;
        var bin = Bin;
        if (!File.Exists(Path.Combine(bin, "initdb"))) return null;
        var port = FreePort();
        dataDir = Path.Combine(Path.GetTempPath(), "knowpay-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dataDir);
        var asRoot = Environment.UserName == "root";
        if (asRoot) await RunAsync("chown", $"-R postgres:postgres {dataDir}");
        await RunAsync(bin + "/initdb", $"-D {dataDir}/data -U postgres -A trust --no-sync -E UTF8", asRoot);
        // Tests favour speed over durability: a crash here loses nothing worth keeping.
        var options = $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={dataDir} -c fsync=off " +
                      "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300";
        await RunAsync(bin + "/pg_ctl", $"-D {dataDir}/data -l {dataDir}/log.txt -w -o \"{options}\" start", asRoot);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop(bin, asRoot);
        return $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true;Maximum Pool Size=50;Include Error Detail=true";
    }

    static void Stop(string bin, bool asRoot)
    {
        if (dataDir is null) return;
        try
        {
            var psi = Start(bin + "/pg_ctl", $"-D {dataDir}/data -m immediate stop", asRoot);
            using var p = Process.Start(psi)!;
            p.WaitForExit(10_000);
            Directory.Delete(dataDir, recursive: true);
        }
        catch (Exception e)
        {
            Console.WriteLine("Stopping the test PostgreSQL failed: " + e.Message);
        }
    }

    static ProcessStartInfo Start(string file, string args, bool asPostgres) => asPostgres
        ? new ProcessStartInfo("runuser", $"-u postgres -- {file} {args}") { RedirectStandardOutput = true, RedirectStandardError = true }
        : new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };

    static async Task RunAsync(string file, string args, bool asPostgres = false)
    {
        using var p = Process.Start(Start(file, args, asPostgres))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {await stdout} {await stderr}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
