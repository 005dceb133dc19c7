using System.Net.Http.Headers;
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
        await using var kp = await KnowPayProcess.StartAsync(root, "postgres", connection);
        using var merchant = new HttpClient { BaseAddress = new Uri(kp.BaseUrl) };
        merchant.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using var anonymous = new HttpClient { BaseAddress = new Uri(kp.BaseUrl) };

        var fuzzer = await OpenApiFuzzer.LoadAsync(merchant);
        await fuzzer.SeedAsync(merchant, anonymous);
        Console.WriteLine($"fuzzing {fuzzer.Operations.Count} operations of {kp.BaseUrl} on PostgreSQL with {count} requests…");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = await fuzzer.RunAsync(merchant, anonymous, count);
        await OpenApiFuzzer.CheckInvariantsAsync(merchant, report);
        Console.WriteLine(report.Summary());
        Console.WriteLine($"fuzz: {report.Requests} requests in {clock.Elapsed.TotalSeconds:F0} s, {report.ServerErrors} 5xx, {report.Mismatches} schema mismatches, " +
                          $"invariants {(report.InvariantsPassed == true ? "passed" : "FAILED")}");
        return report.ServerErrors == 0 && report.Mismatches == 0 && report.InvariantsPassed == true ? 0 : 1;
    }
}
