using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Security;

/// <summary>Nodes started together on one empty PostgreSQL database all come up: the migration is serialised between them.</summary>
public sealed class ConcurrentStartTests
{
    [SkippableFact]
    public async Task TwoNodes_StartingTogetherOnAnEmptyPostgresDatabase_BothStartAndAreReady()
    {
        var connection = await PostgresServer.NewDatabaseAsync();
        if (connection is null) return;
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:KnowPay"] = connection };
        var starts = Enumerable.Range(0, 2).Select(_ => Task.Run(() => KnowPayServer.StartAsync(Db.Postgres, settings))).ToList();
        try
        {
            await Task.WhenAll(starts);
        }
        catch
        {
            // Stop the node that did start, then report the failure.
            foreach (var start in starts.Where(s => s.IsCompletedSuccessfully)) if (await start is { } node) await node.DisposeAsync();
            throw;
        }
        var nodes = (await Task.WhenAll(starts)).Select(n => n!).ToList();
        try
        {
            foreach (var node in nodes)
            {
                using var ready = await node.Anonymous.GetAsync("/health/ready");
                Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
            }
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }
}
