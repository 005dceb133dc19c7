using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KnowPay.Bench;

/// <summary>Runs external commands (initdb, pg_ctl, pgbench as the postgres user; dotnet) and captures their output.</summary>
static class Shell
{
    public static readonly bool AsRoot = Environment.UserName == "root";

    public static ProcessStartInfo Info(string file, string args, bool asPostgres = false, string? cwd = null)
    {
        var psi = asPostgres && AsRoot
            ? new ProcessStartInfo("runuser", $"-u postgres -- {file} {args}")
            : new ProcessStartInfo(file, args);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        if (cwd is not null) psi.WorkingDirectory = cwd;
        return psi;
    }

    public static async Task<string> RunAsync(string file, string args, bool asPostgres = false, string? cwd = null, bool check = true)
    {
        using var p = Process.Start(Info(file, args, asPostgres, cwd))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var output = await stdout + await stderr;
        if (check && p.ExitCode != 0) throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}):\n{output}");
        return output;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// A throw-away PostgreSQL 15 in a temp dir on a free port, as the tests start one, but DURABLE: fsync and
/// synchronous_commit stay on (the defaults), because its WAL flush per commit is the ceiling we measure against.
/// </summary>
sealed class Postgres : IAsyncDisposable
{
    public const string Bin = "/usr/lib/postgresql/15/bin";
    public required string Dir { get; init; }
    public required int Port { get; init; }
    public bool KeepLog { get; init; }
    public string Admin => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false";
    /// <summary>A connection string to one database; without <paramref name="maxPool"/> the pool size is left to the client
    /// (KnowPay's own default, 16; Npgsql's, 100, for the runner's checks).</summary>
    public string Database(string name, int? maxPool = null) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={name};Pooling=true" + (maxPool is { } n ? $";Maximum Pool Size={n}" : "");

    /// <summary>Starts the server; <paramref name="logStatements"/> logs every statement with its executed plan (auto_explain; for checking the hot path's SQL, not for timing);
    /// <paramref name="statementStats"/> loads pg_stat_statements (calls, time and WAL per statement; adds overhead, don't time with it).</summary>
    /// <param name="extraSettings">More server settings (<c>--pg-conf "name=value …"</c>), e.g. to see what a DBA's tuning is
    /// worth; pgbench runs on the same server, so the baseline gets them too.</param>
    public static async Task<Postgres> StartAsync(bool logStatements = false, bool statementStats = false, string extraSettings = "")
    {
        var port = Shell.FreePort();
        var dir = Path.Combine(Path.GetTempPath(), "knowpay-bench-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        if (Shell.AsRoot) await Shell.RunAsync("chown", $"-R postgres:postgres {dir}");
        await Shell.RunAsync(Bin + "/initdb", $"-D {dir}/data -U postgres -A trust -E UTF8", asPostgres: true);
        var options = $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={dir} -c max_connections=300 " +
                      "-c fsync=on -c synchronous_commit=on -c shared_buffers=256MB" + (logStatements ? " -c log_statement=all -c shared_preload_libraries=auto_explain -c auto_explain.log_min_duration=0" +
                                           " -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_nested_statements=on" : "") +
                      (statementStats ? " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on" : "") +
                      string.Concat(extraSettings.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(setting => " -c " + setting));
        await Shell.RunAsync(Bin + "/pg_ctl", $"-D {dir}/data -l {dir}/log.txt -w -o \"{options}\" start", asPostgres: true);
        return new Postgres { Dir = dir, Port = port, KeepLog = logStatements };
    }

    public int? PostmasterPid => File.Exists($"{Dir}/data/postmaster.pid")
        ? int.Parse(File.ReadLines($"{Dir}/data/postmaster.pid").First(), CultureInfo.InvariantCulture) : null;

    public async Task CreateDatabaseAsync(string name)
    {
        await using var conn = new Npgsql.NpgsqlConnection(Admin);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand($"CREATE DATABASE {name}", conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>pgbench -i -s 10 (when <paramref name="initialize"/>), then pgbench -c 8 -j 2 -T seconds (TPC-B-like); returns tps.</summary>
    public async Task<double> PgbenchAsync(int seconds, bool initialize = true)
    {
        var conn = $"-h 127.0.0.1 -p {Port} -U postgres";
        if (initialize)
        {
            await CreateDatabaseAsync("pgbench");
            await Shell.RunAsync(Bin + "/pgbench", $"{conn} -i -q -s 10 pgbench", asPostgres: true);
        }
        var output = await Shell.RunAsync(Bin + "/pgbench", $"{conn} -c 8 -j 2 -T {seconds} pgbench", asPostgres: true);
        var line = output.Split('\n').First(l => l.StartsWith("tps = ", StringComparison.Ordinal));
        return double.Parse(line[6..].Split(' ')[0], CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Shell.RunAsync(Bin + "/pg_ctl", $"-D {Dir}/data -m fast stop", asPostgres: true, check: false);
            if (KeepLog) File.Copy(Path.Combine(Dir, "log.txt"), Path.Combine(Path.GetTempPath(), "knowpay-bench-pg.log"), overwrite: true);
            Directory.Delete(Dir, recursive: true);
        }
        catch (Exception e)
        {
            Console.WriteLine("stopping PostgreSQL: " + e.Message);
        }
    }
}

/// <summary>KnowPay as a separate Release-built process, configured on the command line.</summary>
sealed class KnowPayProcess : IAsyncDisposable
{
    public required Process Process { get; init; }
    public required string BaseUrl { get; init; }
    readonly StringBuilder log = new();

    /// <summary>The KnowPay build to run: this repository's Release build, or --knowpay &lt;dll&gt; (e.g. an older build, for before/after).</summary>
    public static string? Override { get; set; }

    public static string Dll(string root) => Override ?? Path.Combine(root, "src/KnowPay/bin/Release/net10.0/KnowPay.dll");

    public static async Task BuildAsync(string root)
    {
        Console.WriteLine("building KnowPay (Release)…");
        await Shell.RunAsync("dotnet", "build src/KnowPay -c Release -nologo -v q", cwd: root);
    }

    static string Config(string provider, string connection) =>
        $"--Database:Provider={provider} \"--ConnectionStrings:KnowPay={connection}\" --Secrets:MasterKey={BenchMasterKey}";

    /// <summary>KnowPay runs as Production here, which needs a master key; the benchmark's data is thrown away, so a fixed one does.</summary>
    const string BenchMasterKey = "a25vd3BheS1iZW5jaC1tYXN0ZXIta2V5LTMyYnl0ZXM=";

    /// <summary>Extra KnowPay command-line settings (--knowpay-args "…"), e.g. to switch jobs or the dispatcher off for a before/after.</summary>
    public static string ExtraArgs { get; set; } = "";

    /// <summary>Extra environment of the KnowPay process only (--knowpay-env "NAME=value NAME2=value"), e.g. a runtime
    /// setting for a before/after; the load generator keeps its own environment.</summary>
    public static string ExtraEnv { get; set; } = "";

    /// <summary>Runs the admin CLI (which also applies the migrations) and returns (merchant id, secret key).</summary>
    public static async Task<(string MerchantId, string Secret)> CreateMerchantAsync(string root, string provider, string connection)
    {
        var output = await Shell.RunAsync("dotnet", $"\"{Dll(root)}\" merchants create Bench {Config(provider, connection)} --Sandbox:Enabled=false --Logging:LogLevel:Default=Warning", cwd: root);
        string Field(string name) => output.Split('\n').First(l => l.StartsWith(name, StringComparison.Ordinal))[name.Length..].Trim();
        return (Field("merchant:"), Field("secret key (shown once):"));
    }

    /// <param name="port">A fixed port (the crash harness restarts the node where providers notify it); null = a free one.</param>
    /// <param name="settings">More command-line settings after all others (the last value of a setting wins).</param>
    public static async Task<KnowPayProcess> StartAsync(string root, string provider, string connection, int? port = null, string settings = "")
    {
        var url = $"http://127.0.0.1:{port ?? Shell.FreePort()}";
        var args = $"\"{Dll(root)}\" --urls {url} {Config(provider, connection)} --Sandbox:Enabled=true --Jobs:Enabled=true " +
                   "--Logging:LogLevel:Default=Warning --Logging:LogLevel:Microsoft.AspNetCore=Warning --Demo:Seed=false " +
                   "--Webhooks:AllowPrivateNetworks=true --Webhooks:RequireHttps=false " + ExtraArgs + " " + settings; // the --webhooks sink is on loopback
        var psi = Shell.Info("dotnet", args, cwd: root);
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var pair in ExtraEnv.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)))
            psi.Environment[pair[0]] = pair.Length == 2 ? pair[1] : "";
        var p = Process.Start(psi)!;
        var kp = new KnowPayProcess { Process = p, BaseUrl = url };
        p.OutputDataReceived += (_, e) => { lock (kp.log) kp.log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (kp.log) kp.log.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var http = new HttpClient();
        for (var i = 0; i < 3000; i++) // 5 min: a start on a machine at load 100 takes more than one
        {
            if (p.HasExited) throw new InvalidOperationException("KnowPay exited:\n" + kp.Log);
            try
            {
                if ((await http.GetAsync(url + "/health/ready")).IsSuccessStatusCode) return kp;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException("KnowPay did not become ready:\n" + kp.Log);
    }

    public string Log { get { lock (log) return log.ToString(); } }

    /// <summary>(peak RSS, current RSS) in MB from /proc/pid/status.</summary>
    public (double PeakMb, double RssMb) Memory()
    {
        var lines = File.ReadAllLines($"/proc/{Process.Id}/status");
        double Kb(string key) => double.Parse(lines.First(l => l.StartsWith(key, StringComparison.Ordinal)).Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024;
        return (Kb("VmHWM"), Kb("VmRSS"));
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }
        Process.Dispose();
    }
}
