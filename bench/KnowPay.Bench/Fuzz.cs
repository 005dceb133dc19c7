using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Fuzzing;

namespace KnowPay.Bench;

/// <summary>
/// --fuzz [N]: N requests (default 30,000) generated from the served OpenAPI document by the CI fuzz test's generator
/// (tests/KnowPay.Tests/Security/OpenApiFuzzer.cs) against KnowPay on a throw-away PostgreSQL; prints the requests, the
/// 5xx and the schema mismatches, and fails when there is any of either or the ledger invariants fail afterwards.
/// </summary>
static class Fuzz
{
    public static async Task<int> RunAsync(string root, int count, string pgConf)
    {
        await using var pg = await Postgres.StartAsync(extraSettings: pgConf);
        await pg.CreateDatabaseAsync("knowpay_fuzz");
        var connection = pg.Database("knowpay_fuzz");
        var (_, secret) = await KnowPayProcess.CreateMerchantAsync(root, "postgres", connection);
        // Errors as JSON lines with the request scope, so that each 5xx is reported with the exception logged for it.
        await using var kp = await KnowPayProcess.StartAsync(root, "postgres", connection, settings:
            "--Logging:Console:FormatterName=json --Logging:Console:FormatterOptions:IncludeScopes=true " +
            "--Logging:Console:FormatterOptions:UseUtcTimestamp=true --Logging:Console:FormatterOptions:TimestampFormat=O");
        using var merchant = new HttpClient { BaseAddress = new Uri(kp.BaseUrl) };
        merchant.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using var anonymous = new HttpClient { BaseAddress = new Uri(kp.BaseUrl) };

        var fuzzer = await OpenApiFuzzer.LoadAsync(merchant);
        await fuzzer.SeedAsync(merchant, anonymous);
        Console.WriteLine($"fuzzing {fuzzer.Operations.Count} operations of {kp.BaseUrl} on PostgreSQL with {count} requests…");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = await fuzzer.RunAsync(merchant, anonymous, count);
        await OpenApiFuzzer.CheckInvariantsAsync(merchant, report);
        await Task.Delay(500);   // the log's last lines are read from the process's output asynchronously
        report.ServerLog = ServerErrors(kp.Log);
        Console.WriteLine(report.Summary());
        Console.WriteLine($"fuzz: {report.Requests} requests in {clock.Elapsed.TotalSeconds:F0} s, {report.ServerErrors} 5xx, {report.Mismatches} schema mismatches, " +
                          $"invariants {(report.InvariantsPassed == true ? "passed" : "FAILED")}");
        return report.ServerErrors == 0 && report.Mismatches == 0 && report.InvariantsPassed == true ? 0 : 1;
    }

    /// <summary>The Error and Critical entries of KnowPay's JSON console log, with the request scope's path and id.</summary>
    static ServerErrorLog ServerErrors(string consoleLog)
    {
        var log = new ServerErrorLog();
        foreach (var line in consoleLog.Split('\n'))
        {
            if (!line.StartsWith('{')) continue;
            JsonNode? entry;
            try { entry = JsonNode.Parse(line); }
            catch (JsonException) { continue; }
            if ((string?)entry?["LogLevel"] is not ("Error" or "Critical")) continue;
            string? path = null, requestId = null;
            foreach (var scope in entry["Scopes"]?.AsArray() ?? [])
            {
                path ??= (string?)scope?["RequestPath"];
                requestId ??= (string?)scope?["RequestId"];
            }
            var at = DateTimeOffset.TryParse((string?)entry["Timestamp"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : DateTimeOffset.MinValue;
            log.Add(new ServerLogEntry(at, (string?)entry["Category"] ?? "?", path, requestId,
                (string?)entry["Message"] + ((string?)entry["Exception"] is { } e ? "\n" + e : "")));
        }
        return log;
    }
}
