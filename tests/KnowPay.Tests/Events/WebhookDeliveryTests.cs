using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Features.Webhooks;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Events;

/// <summary>Servers of their own (dispatcher driven by the test, or several on one database); real HTTP receivers.</summary>
[Collection("server")]
public sealed class WebhookDeliveryTests
{
    static Task<KnowPayServer> ServerAsync(Db db, bool dispatcher, string? connection = null, int pollMs = 1000, int? vacuumQueueEvery = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Webhooks:DispatcherEnabled"] = dispatcher ? "true" : "false",
            ["Webhooks:PollMilliseconds"] = pollMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (connection is not null) settings["ConnectionStrings:KnowPay"] = connection;
        if (vacuumQueueEvery is { } every) settings["Webhooks:VacuumQueueEvery"] = every.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return KnowPayServer.StartAsync(db, settings);
    }

    static string Connection(KnowPayServer server) => server.App.Configuration.GetConnectionString("KnowPay")!;

    static WebhookDispatcher Dispatcher(KnowPayServer server) => server.Services.GetRequiredService<WebhookDispatcher>();

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ReceiverDown_DeliveriesRetryWithBackoff_AndArriveOnceItIsBack(Db db)
    {
        await using var server = await ServerAsync(db, dispatcher: false);
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        await m.RegisterAsync(receiver);
        await receiver.DownAsync();
        var (orderId, _, _, _) = await m.PaidOrderAsync();
        // The confirmation queued its two events for the fan-out; the fan-out creates their deliveries and dequeues them.
        Assert.Equal(2, await server.QueryAsync(d => d.PendingFanOuts.CountAsync(x => x.MerchantId == m.MerchantId)));

        var t0 = DateTime.UtcNow;
        Assert.Equal(0, await Dispatcher(server).RunOnceAsync(t0, default));
        Assert.Equal(0, await server.QueryAsync(d => d.PendingFanOuts.CountAsync(x => x.MerchantId == m.MerchantId)));
        var deliveries = await server.QueryAsync(d => d.WebhookDeliveries.Where(x => x.MerchantId == m.MerchantId).ToListAsync());
        Assert.Equal(2, deliveries.Count);
        Assert.All(deliveries, x => Assert.Equal((WebhookDelivery.Pending, 1), (x.Status, x.Attempts)));
        Assert.All(deliveries, x => Assert.Equal(t0.AddSeconds(30), x.NextAttemptAt, TimeSpan.FromMilliseconds(1)));
        Assert.Equal(0, await Dispatcher(server).RunOnceAsync(t0.AddSeconds(10), default)); // not due: nothing sent
        Assert.Equal(0, await Dispatcher(server).RunOnceAsync(t0.AddSeconds(31), default)); // due, still down: 2nd attempt, next in 60 s
        Assert.All(await server.QueryAsync(d => d.WebhookDeliveries.Where(x => x.MerchantId == m.MerchantId).ToListAsync()),
            x => Assert.Equal((2, t0.AddSeconds(91).Ticks / 10), (x.Attempts, x.NextAttemptAt.Ticks / 10))); // PostgreSQL keeps microseconds

        await receiver.UpAsync();
        Assert.Equal(2, await Dispatcher(server).RunOnceAsync(t0.AddSeconds(92), default));
        var received = receiver.Received.ToList();
        Assert.Equal(["entitlement.granted", "order.paid"], received.Select(e => e.Type).Order());
        Assert.All(received, e => Assert.True(e.SignatureValid));
        Assert.Equal(orderId, (string?)received.Single(e => e.Type == "order.paid").Body["data"]!["id"]);
        Assert.Equal(0, await Dispatcher(server).RunOnceAsync(t0.AddDays(1), default)); // delivered once, never again
        Assert.Equal(2, receiver.Received.Count);
    }

    [SkippableFact]
    public async Task AlwaysFailingReceiver_EndsFailedAfterThreeDays_ThenRedeliverDeliversIt()
    {
        await using var server = await ServerAsync(Db.Sqlite, dispatcher: false);
        var m = await server!.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusCode = 500;
        await m.RegisterAsync(receiver, "order.paid");
        await m.PaidOrderAsync();
        var eventId = (string)(await m.GetOkAsync("/v1/events?type=order.paid"))["data"]![0]!["id"]!;

        var t = DateTime.UtcNow;
        await Dispatcher(server).RunOnceAsync(t, default);
        var runs = 0;
        while ((string?)(await m.GetOkAsync($"/v1/events/{eventId}/deliveries"))["data"]![0]!["status"] == "pending" && runs++ < 100)
        {
            await Dispatcher(server).RunOnceAsync(t, default);
            t = t.AddHours(1);
        }
        var delivery = (await m.GetOkAsync($"/v1/events/{eventId}/deliveries"))["data"]![0]!;
        Assert.Equal("failed", (string?)delivery["status"]);
        Assert.Equal(500, (int)delivery["last_status_code"]!);
        Assert.InRange((int)delivery["attempts"]!, 10, 25);
        Assert.InRange(t - DateTime.UtcNow, TimeSpan.FromHours(60), TimeSpan.FromHours(73));
        Console.WriteLine($"always-failing receiver: failed after {(int)delivery["attempts"]!} attempts, {(t - DateTime.UtcNow).TotalHours:F0} h");
        Assert.Empty(receiver.Received);

        receiver.StatusCode = 200;
        var redeliver = await m.PostAsync($"/v1/events/{eventId}/redeliver", new { });
        Assert.Equal(System.Net.HttpStatusCode.Accepted, redeliver.StatusCode);
        Assert.Equal(1, await Dispatcher(server).RunOnceAsync(DateTime.UtcNow, default));
        var received = Assert.Single(receiver.Received);
        Assert.Equal(eventId, received.EventId);
        Assert.True(received.SignatureValid);
        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/events/{eventId}/deliveries"))["data"]![0]!["status"]);
    }

    [SkippableFact]
    public async Task TwoServersOnOnePostgres_EveryEventDeliveredExactlyOnce_NeverConcurrentlyDuplicated()
    {
        await using var a = await ServerAsync(Db.Postgres, dispatcher: true, pollMs: 20);
        await using var b = await ServerAsync(Db.Postgres, dispatcher: true, connection: Connection(a), pollMs: 20);
        var m = await a.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.DelayMs = 20;
        await m.RegisterAsync(receiver);
        await Task.Delay(50);

        const int n = 300;
        await a.QueryAsync(async d =>
        {
            for (var i = 0; i < n; i++)
                Outbox.Add(d, m.MerchantId, "test.event", "obj_" + i, new { n = i }, DateTime.UtcNow);
            return await d.SaveChangesAsync();
        });
        // Besides both servers' background loops, hammer the claim from both nodes at once.
        using var stop = new CancellationTokenSource();
        var extra = Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
        {
            var dispatcher = Dispatcher(i % 2 == 0 ? a : b);
            while (!stop.IsCancellationRequested) await dispatcher.RunOnceAsync(DateTime.UtcNow, default);
        })).ToList();
        var received = await receiver.WaitForAsync(r => r.Select(e => e.EventId).Distinct().Count() == n, 60_000);
        await Task.Delay(500);
        stop.Cancel();
        await Task.WhenAll(extra);

        received = receiver.Received.ToList();
        Assert.Equal(n, received.Count);
        Assert.Equal(n, received.Select(e => e.EventId).Distinct().Count());
        Assert.Equal(1, receiver.MaxOverlap);
        Assert.All(received, e => Assert.True(e.SignatureValid));
        Assert.Equal(n, await a.QueryAsync(d => d.WebhookDeliveries.CountAsync(x => x.MerchantId == m.MerchantId && x.Status == WebhookDelivery.Succeeded && x.Attempts == 1)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CommittedChange_ServerStopsBeforeDispatch_ANewServerOnTheSameDatabaseDeliversIt(Db db)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        string connection;
        MerchantClient m;
        string orderId;
        await using (var first = await ServerAsync(db, dispatcher: false))
        {
            connection = Connection(first);
            m = await first.NewMerchantAsync();
            await m.RegisterAsync(receiver);
            (orderId, _, _, _) = await m.PaidOrderAsync();
        } // "crash": stopped with the events committed and not dispatched
        Assert.Empty(receiver.Received);

        await using var second = await ServerAsync(db, dispatcher: true, connection: connection, pollMs: 50);
        var received = await receiver.WaitForAsync(r => r.Count == 2);
        Assert.Equal(["entitlement.granted", "order.paid"], received.Select(e => e.Type).Order());
        Assert.All(received, e => Assert.True(e.SignatureValid));
        Assert.Equal(orderId, (string?)received.Single(e => e.Type == "order.paid").Body["data"]!["id"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RolledBackChange_ItsEventIsNeverListedNorDelivered(Db db)
    {
        await using var server = await ServerAsync(db, dispatcher: false);
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        await m.RegisterAsync(receiver);
        var (orderId, paymentId, _, _) = await m.PaidOrderAsync();
        Assert.Equal(2, await Dispatcher(server).RunOnceAsync(DateTime.UtcNow, default));

        // A refund-like change and its event in one unit of work that fails before commit.
        await server.QueryAsync(async d =>
        {
            await using var tx = await d.Database.BeginTransactionAsync();
            await d.Payments.Where(p => p.Id == paymentId).ExecuteUpdateAsync(s => s.SetProperty(p => p.RefundedAmount, 9900));
            Outbox.Add(d, m.MerchantId, "refund.succeeded", "re_rolledback", new { id = "re_rolledback" }, DateTime.UtcNow);
            await d.SaveChangesAsync();
            await tx.RollbackAsync();
            return 0;
        });
        Assert.Equal(0, await Dispatcher(server).RunOnceAsync(DateTime.UtcNow.AddMinutes(1), default));
        Assert.Equal(0, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["refunded_amount"]!);
        Assert.Empty((await m.GetOkAsync("/v1/events?type=refund.succeeded"))["data"]!.AsArray());
        Assert.Equal(2, receiver.Received.Count);
        Assert.DoesNotContain(receiver.Received, e => e.Type == "refund.succeeded");
        Assert.Equal(orderId, (string?)receiver.Received.Single(e => e.Type == "order.paid").Body["data"]!["id"]);
    }

    [SkippableFact]
    public async Task BusyFanOutQueue_IsVacuumedByTheDispatcher_AfterTheConfiguredNumberOfEvents()
    {
        await using var server = await ServerAsync(Db.Postgres, dispatcher: false, vacuumQueueEvery: 2);
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        await m.RegisterAsync(receiver);
        await m.PaidOrderAsync(); // queues order.paid and entitlement.granted
        Task<long> VacuumsAsync() => server.QueryAsync(d => d.Database
            .SqlQueryRaw<long>("SELECT pg_stat_get_vacuum_count('events_to_fan_out'::regclass) AS \"Value\"").SingleAsync());
        var before = await VacuumsAsync();

        Assert.Equal(2, await Dispatcher(server).RunOnceAsync(DateTime.UtcNow, default));

        // The two events were fanned out (delivered) and taken off the queue, and the queue was vacuumed on the way.
        Assert.Equal(0, await server.QueryAsync(d => d.PendingFanOuts.CountAsync()));
        Assert.Equal(["entitlement.granted", "order.paid"], receiver.Received.Select(e => e.Type).Order());
        Assert.Equal(before + 1, await VacuumsAsync());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task FanOutOfMoreThanABatch_APassSendsOneBatch_TheNextPassTheRest(Db db)
    {
        await using var server = await ServerAsync(db, dispatcher: false);
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        await m.RegisterAsync(receiver);
        await m.RegisterAsync(receiver); // two endpoints: 150 events make 300 deliveries in one fan-out
        var now = DateTime.UtcNow;
        await server.QueryAsync(d =>
        {
            for (var i = 0; i < 150; i++) Outbox.Add(d, m.MerchantId, "order.paid", $"ord_batch{i}", new { id = $"ord_batch{i}" }, now);
            return d.SaveChangesAsync();
        });

        Assert.Equal(200, await Dispatcher(server).RunOnceAsync(DateTime.UtcNow, default)); // one batch, the rest left due
        Assert.Equal(200, receiver.Received.Count);
        Assert.Equal(100, await Dispatcher(server).RunOnceAsync(DateTime.UtcNow, default));
        Assert.Equal(300, receiver.Received.Count);
        Assert.Equal(300, await server.QueryAsync(d => d.WebhookDeliveries.CountAsync(x => x.MerchantId == m.MerchantId && x.Status == WebhookDelivery.Succeeded)));
    }
}
