using System.Net;
using System.Text;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Refunds;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Tests.Events;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KnowPay.Tests.Refunds;

[Collection("server")]
public sealed class RefundTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundFlow_PartialThenRest_ReversesLedger_RevokesAccess_AndDeliversSignedEvents(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        await m.RegisterAsync(receiver, "refund.succeeded", "entitlement.revoked");
        var (orderId, paymentId, creatorId, productId) = await m.PaidOrderAsync(9900, customer: "learner-r1");
        var customerId = (string)(await m.GetOkAsync($"/v1/orders/{orderId}"))["customer_id"]!;

        var partial = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 3000, reason = "requested_by_customer" }, "refund-1");
        Assert.Equal("succeeded", (string?)partial["status"]);
        Assert.True((bool)(await m.GetOkAsync($"/v1/customers/{customerId}/entitlements/{productId}"))["active"]!, "a partial refund keeps access");

        var rest = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { reason = "requested_by_customer" });
        Assert.Equal(6900, (long)rest["amount"]!);
        Assert.Equal("succeeded", (string?)rest["status"]);
        var check = await m.GetOkAsync($"/v1/customers/{customerId}/entitlements/{productId}");
        Assert.False((bool)check["active"]!);
        Assert.False((bool)(await m.GetOkAsync($"/v1/customers/learner-r1/entitlements/{productId}"))["active"]!, "the platform's own user id works too");

        var again = await m.PostAsync($"/v1/payments/{paymentId}/refunds", new { amount = 1 });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("refund_exceeds_captured", (string?)Json.Parse(await again.Content.ReadAsStringAsync())["code"]);
        Assert.Equal(9900, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["refunded_amount"]!);
        Assert.Equal(2, (await m.GetOkAsync($"/v1/payments/{paymentId}/refunds"))["data"]!.AsArray().Count);
        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/refunds/{partial["id"]}"))["status"]);

        // The sandbox also notifies each refund: the duplicates change nothing.
        await Task.Delay(500);
        var journals = await server.QueryAsync(d => d.Journals.Include(j => j.Entries)
            .Where(j => j.MerchantId == m.MerchantId && j.SourceType == "refund").OrderBy(j => j.SourceId).ToListAsync());
        Assert.Equal(2, journals.Count);
        Assert.Equal(new Dictionary<string, long>
        {
            ["provider:sandbox:clearing:CNY"] = -3000, [$"creator:{creatorId}:pending:CNY"] = 2100, ["platform:revenue:CNY"] = 900,
        }, journals.Single(j => j.SourceId == (string)partial["id"]!).Entries.ToDictionary(e => e.Account, e => e.Amount));
        Assert.Equal(new Dictionary<string, long>
        {
            ["provider:sandbox:clearing:CNY"] = -6900, [$"creator:{creatorId}:pending:CNY"] = 4830, ["platform:revenue:CNY"] = 2070,
        }, journals.Single(j => j.SourceId == (string)rest["id"]!).Entries.ToDictionary(e => e.Account, e => e.Amount));
        var balances = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId)
            .GroupBy(e => e.Account).Select(g => new { g.Key, Sum = g.Sum(e => e.Amount) }).ToDictionaryAsync(x => x.Key, x => x.Sum));
        Assert.Equal(0, balances["provider:sandbox:clearing:CNY"]);
        Assert.Equal(0, balances[$"creator:{creatorId}:pending:CNY"]);
        Assert.Equal(0, balances["platform:revenue:CNY"]);

        var received = await receiver.WaitForAsync(r => r.Count(e => e.Type == "refund.succeeded") == 2 && r.Any(e => e.Type == "entitlement.revoked"));
        Assert.All(received, e => Assert.True(e.SignatureValid, $"signature of {e.Type} {e.EventId}"));
        var revoked = received.Single(e => e.Type == "entitlement.revoked");
        Assert.Equal(productId, (string?)revoked.Body["data"]!["product_id"]);
        Assert.False((bool)revoked.Body["data"]!["active"]!);
        Assert.NotNull(revoked.Body["created_at"]);
        Assert.Equal((string?)rest["id"], received.Where(e => e.Type == "refund.succeeded").Select(e => (string?)e.Body["data"]!["id"]).Max());
        var events = await m.GetOkAsync("/v1/events?type=refund.succeeded");
        Assert.Equal(2, events["data"]!.AsArray().Count);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task TwentyConcurrentPartialRefunds_SumAboveCaptured_AcceptedNeverExceedCaptured_RestRefused(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, paymentId, _, _) = await m.PaidOrderAsync(9900, customer: "learner-r2");

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => m.PostAsync($"/v1/payments/{paymentId}/refunds", new { amount = 700 })));
        var accepted = responses.Count(r => r.StatusCode == HttpStatusCode.Created);
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Equal("refund_exceeds_captured", (string?)Json.Parse(await refused.Content.ReadAsStringAsync())["code"]);
        }
        Assert.Equal(14, accepted); // 14 × 700 = 9800 ≤ 9900 < 15 × 700
        var succeeded = await server.QueryAsync(d => d.Refunds.Where(r => r.PaymentId == paymentId && r.Status == RefundState.Succeeded).SumAsync(r => r.Amount));
        Assert.Equal(9800, succeeded);
        Assert.Equal(14, await server.QueryAsync(d => d.Refunds.CountAsync(r => r.PaymentId == paymentId)));
        Assert.Equal(9800, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["refunded_amount"]!);
        var clearing = await server.QueryAsync(d => d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId && e.Account == "provider:sandbox:clearing:CNY")
            .SumAsync(e => e.Amount));
        Assert.Equal(100, clearing);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundThatNeverReachedTheProvider_StaysPendingUntilQueried_ThenFailsAndReleasesTheAmount(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, paymentId, _, _) = await m.PaidOrderAsync(9900, customer: "learner-r3");
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        faults.Set(paymentId, new FaultSettings(ApiError5xx: true));

        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 5000 });
        Assert.Equal("pending", (string?)refund["status"]); // a 5xx may have applied: not failed yet
        Assert.Equal(5000, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["refunded_amount"]!);
        faults.Set(paymentId, new FaultSettings());

        await server.RunJobAsync("refund_poller", DateTime.UtcNow); // not due yet
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/refunds/{refund["id"]}"))["status"]);
        await server.RunJobAsync("refund_poller", DateTime.UtcNow.AddMinutes(2));
        var failed = await m.GetOkAsync($"/v1/refunds/{refund["id"]}");
        Assert.Equal("failed", (string?)failed["status"]);
        Assert.Equal("refund_not_found", (string?)failed["failure_reason"]);
        Assert.Equal(0, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["refunded_amount"]!);
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "refund.failed")));
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "refund")));

        var full = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { });
        Assert.Equal(9900, (long)full["amount"]!);
        Assert.Equal("succeeded", (string?)full["status"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PendingRefund_AnswerNotificationsAndQueriesRacing_CompleteItExactlyOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, paymentId, _, _) = await m.PaidOrderAsync(9900, customer: "learner-r4");
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        faults.Set(paymentId, new FaultSettings(ApiError5xx: true));
        var refundId = (string)(await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 9900 }))["id"]!;
        faults.Set(paymentId, new FaultSettings(DuplicateNotifications: 3));

        async Task ViaScope(Func<IServiceProvider, Task> action)
        {
            await using var scope = server.Services.CreateAsyncScope();
            await action(scope.ServiceProvider);
        }
        var payment = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
        // The provider now applies it (and sends its own, duplicated, notifications over HTTP); its answer, more
        // notifications and the poller's queries then race to complete the refund.
        ProviderRefundResult answer = null!;
        await ViaScope(async sp => answer = await sp.GetRequiredService<PaymentProviders>()["sandbox"]
            .RefundAsync(new ProviderRefund(payment, refundId, 9900, null), default));
        Assert.Equal(RefundStatus.Succeeded, answer.Status);
        var racers = new List<Task>
        {
            ViaScope(sp => RefundCompletion.ApplyAsync(sp.GetRequiredService<KnowPayDb>(), refundId, answer, "answer", TimeProvider.System, NullLogger.Instance, default)),
        };
        for (var i = 0; i < 6; i++)
            racers.Add(ViaScope(sp => sp.GetRequiredService<IRefundUpdates>().ApplyAsync("sandbox", refundId, answer, default)));
        for (var i = 0; i < 3; i++)
            racers.Add(server.RunJobAsync("refund_poller", DateTime.UtcNow.AddMinutes(2)));
        await Task.WhenAll(racers);
        await Task.Delay(1000); // the sandbox's notifications land

        Assert.Equal("succeeded", (string?)(await m.GetOkAsync($"/v1/refunds/{refundId}"))["status"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == "refund")));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "refund.succeeded")));
        Assert.Equal(1, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "entitlement.revoked")));
        Assert.Equal(0, await server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == "refund.failed")));
        Assert.Equal(9900, (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["refunded_amount"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task EntitlementCheck_IsOneFastIndexedQuery_AndAnswersForUnknownCustomersWithoutAccess(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (orderId, _, _, productId) = await m.PaidOrderAsync(9900, customer: "learner-r5");
        var customerId = (string)(await m.GetOkAsync($"/v1/orders/{orderId}"))["customer_id"]!;
        var list = await m.GetOkAsync($"/v1/customers/{customerId}/entitlements");
        Assert.Single(list["data"]!.AsArray());
        Assert.False((bool)(await m.GetOkAsync($"/v1/customers/cus_nobody/entitlements/{productId}"))["active"]!);
        var other = await server.NewMerchantAsync();
        Assert.False((bool)(await other.GetOkAsync($"/v1/customers/{customerId}/entitlements/{productId}"))["active"]!);

        for (var i = 0; i < 20; i++) await m.GetOkAsync($"/v1/customers/{customerId}/entitlements/{productId}");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        const int n = 200;
        for (var i = 0; i < n; i++) Assert.True((bool)(await m.GetOkAsync($"/v1/customers/{customerId}/entitlements/{productId}"))["active"]!);
        var perCall = watch.Elapsed.TotalMilliseconds / n;
        Console.WriteLine($"entitlement check ({db}): {perCall:F2} ms per call over real HTTP, sequential");
        Assert.True(perCall < 50, $"{perCall} ms per check");
    }
}
