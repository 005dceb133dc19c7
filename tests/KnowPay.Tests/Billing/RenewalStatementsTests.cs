using System.Collections.Concurrent;
using System.Diagnostics;
using KnowPay.Domain;
using KnowPay.Features.Billing;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;
using static KnowPay.Tests.Billing.BillingTestKit;

namespace KnowPay.Tests.Billing;

/// <summary>
/// The renewal engine's round trips on PostgreSQL, counted from Npgsql's activities on the test's database: a claimed batch is
/// read in a few statements, its invoices and first attempts are written in one transaction for the batch, and each renewal
/// charges and confirms without re-reading.
/// </summary>
[Collection("server")]
public sealed class RenewalStatementsTests(ITestOutputHelper output)
{
    static readonly DateTime T0 = new(2028, 1, 31, 10, 0, 0, DateTimeKind.Utc);
    const int Subscriptions = 4;

    [SkippableFact]
    public async Task Renewal_OnPostgres_TakesAtMostFiveStatementsPerSubscription()
    {
        await using var server = await KnowPayServer.StartAsync(Db.Postgres);
        var m = await server.NewMerchantAsync();
        var price = await PriceAsync(m, 3000);
        var clock = await ClockAsync(m, T0);
        var subs = new List<string>();
        for (var i = 0; i < Subscriptions; i++) subs.Add((await SubscribeAsync(m, clock, price, T0)).Id);
        var renewal = await server.QueryAsync(d => d.Subscriptions.Where(x => subs.Contains(x.Id)).MaxAsync(x => x.CurrentPeriodEnd));

        var database = new NpgsqlConnectionStringBuilder(server.App.Configuration["ConnectionStrings:KnowPay"]).Database;
        var statements = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                // This server's database only; the outbox's fan-out and webhook delivery run on their own schedule.
                if (!a.TagObjects.Any(t => t.Value as string == database)) return;
                var text = (a.GetTagItem("db.query.text") ?? a.GetTagItem("db.statement")) as string;
                if (text is null || text.Contains("events_to_fan_out", StringComparison.Ordinal) || text.Contains("webhook_", StringComparison.Ordinal)) return;
                statements.Enqueue(text);
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var scope = server.App.Services.CreateAsyncScope();
        var renewed = await Renewals.RunAsync(BillingServices.From(scope.ServiceProvider), renewal, clock, CancellationToken.None);
        listener.Dispose();

        foreach (var s in statements) output.WriteLine(s.ReplaceLineEndings(" "));
        Assert.Equal(Subscriptions, renewed);
        var paid = await server.QueryAsync(d => d.Invoices.CountAsync(i => subs.Contains(i.SubscriptionId) && i.Status == InvoiceStatus.Paid));
        Assert.Equal(2 * Subscriptions, paid);
        // The listener saw the renewals (each confirms its payment at least): with nothing counted any budget would pass.
        Assert.True(statements.Count >= Subscriptions, $"{statements.Count} statements seen for {Subscriptions} renewals");
        // Includes SandboxPay's notification of the same payment in this process: it takes the running confirmation's outcome,
        // or finds the payment confirmed in one read; it never runs the locking guard a second time. Seen: the batch's 8 and
        // the paid renewals' 2 as one group (guard, locked read), and for a notification that comes before the engine holds
        // its answer, its own read, guard and locked read: 10 for 4 (16–20 with one confirmation per renewal, 27–28 before
        // one confirmation per payment per node). The writes insert fan-out rows, so they are not counted here.
        Assert.True(statements.Count <= 5 * Subscriptions, $"{statements.Count} statements for {Subscriptions} renewals");
    }
}
