using System.Net;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Api;

[Collection("server")]
public sealed class IdempotencyTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SameKeySameBody_ReplaysTheFirstResponse_AndCreatesOneOrder(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var body = new { customer_external_id = "u1", product_id = productId, currency = "CNY" };

        var first = await m.PostAsync("/v1/orders", body, "order-1");
        var second = await m.PostAsync("/v1/orders", body, "order-1");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.True(second.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OrderWithPayment_StoresItsAnswerInTheSameCommit_AndTheReplayIsByteForByteTheSame(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var body = new { customer_external_id = "u1", product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr" } };

        var first = await m.PostAsync("/v1/orders", body, "order-with-payment");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        var stored = await server.QueryAsync(d => d.IdempotencyRecords.SingleAsync(r => r.MerchantId == m.MerchantId && r.Key == "order-with-payment"));
        Assert.Equal(201, stored.StatusCode);
        Assert.NotNull(stored.CompletedAt);
        Assert.Equal(firstBody, stored.ResponseBody);

        var replay = await m.PostAsync("/v1/orders", body, "order-with-payment");
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(firstBody, await replay.Content.ReadAsByteArrayAsync());
        Assert.Equal(first.Content.Headers.ContentType, replay.Content.Headers.ContentType);
        Assert.Equal($"/v1/orders/{Json.Parse(System.Text.Encoding.UTF8.GetString(firstBody))["id"]}", first.Headers.Location?.ToString());
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SameKeyOtherBody_Is409_AndWritesNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        await m.PostOkAsync("/v1/orders", new { customer_external_id = "u1", product_id = productId, currency = "CNY" }, "order-2");
        var other = await m.PostAsync("/v1/orders", new { customer_external_id = "u2", product_id = productId, currency = "CNY" }, "order-2");
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Equal("idempotency_key_reused", (string?)Json.Parse(await other.Content.ReadAsStringAsync())["code"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));

        // Keys are per merchant: another merchant may use the same key.
        var n = await server.NewMerchantAsync();
        var (_, otherProduct) = await n.CourseAsync();
        await n.PostOkAsync("/v1/orders", new { customer_external_id = "u1", product_id = otherProduct, currency = "CNY" }, "order-2");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SameKeyInFlightTwiceAtOnce_OneExecutes_TheOtherGets409OrTheReplay(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var order = await m.OrderAsync(productId);
        // Starting a payment calls the provider over HTTP, so the first request is in flight long enough to race.
        server.Services.GetRequiredService<KnowPay.Sandbox.SandboxFaults>().Set(null, new KnowPay.Sandbox.FaultSettings(ApiStallMs: 400));
        try
        {
            var calls = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ =>
                m.PostAsync($"/v1/orders/{order["id"]}/payments", new { provider = "sandbox", method = "qr" }, "pay-once")));
            var statuses = calls.Select(c => (int)c.StatusCode).Order().ToArray();
            Assert.Equal([201, 409], statuses);
            var conflict = calls.Single(c => c.StatusCode == HttpStatusCode.Conflict);
            Assert.Equal("idempotency_request_in_progress", (string?)Json.Parse(await conflict.Content.ReadAsStringAsync())["code"]);
        }
        finally
        {
            server.Services.GetRequiredService<KnowPay.Sandbox.SandboxFaults>().Clear();
        }
        Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));
        var replay = await m.PostAsync($"/v1/orders/{order["id"]}/payments", new { provider = "sandbox", method = "qr" }, "pay-once");
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OrderWithPayment_SameKeyTwiceAtOnce_OneOrderOnePayment_TheOtherGets409InProgress(Db db)
    {
        // POST /v1/orders claims its key in the same round trip as its catalog read (not in the middleware): the same race.
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var body = new { customer_external_id = "u1", product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr" } };
        server.Services.GetRequiredService<KnowPay.Sandbox.SandboxFaults>().Set(null, new KnowPay.Sandbox.FaultSettings(ApiStallMs: 400));
        HttpResponseMessage[] calls;
        try
        {
            calls = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => m.PostAsync("/v1/orders", body, "order-once")));
        }
        finally
        {
            server.Services.GetRequiredService<KnowPay.Sandbox.SandboxFaults>().Clear();
        }
        Assert.Equal([201, 409], calls.Select(c => (int)c.StatusCode).Order().ToArray());
        var conflict = calls.Single(c => c.StatusCode == HttpStatusCode.Conflict);
        Assert.Equal("idempotency_request_in_progress", (string?)Json.Parse(await conflict.Content.ReadAsStringAsync())["code"]);
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
        Assert.Equal(1, await server.QueryAsync(d => d.Payments.CountAsync(p => p.MerchantId == m.MerchantId)));

        var created = await calls.Single(c => c.StatusCode == HttpStatusCode.Created).Content.ReadAsStringAsync();
        var replay = await m.PostAsync("/v1/orders", body, "order-once");
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal(created, await replay.Content.ReadAsStringAsync());
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
    }

    [SkippableFact]
    public async Task Sqlite_TheClaimsFastCommit_LeavesNoConnectionNonDurable()
    {
        // POST /v1/orders' claim commits with synchronous = NORMAL (it becomes durable with the order's own commit); every
        // connection KnowPay opens must commit durably again (FULL = 2), also one that a claim batch left at NORMAL.
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var body = new { customer_external_id = "u1", product_id = productId, currency = "CNY", payment = new { provider = "sandbox", method = "qr" } };
        Assert.Equal(HttpStatusCode.Created, (await m.PostAsync("/v1/orders", body, "durable")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await m.PostAsync("/v1/orders", body, "durable")).StatusCode); // the replay stops after the claim
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));

        var (before, reopened) = await server.QueryAsync(async d =>
        {
            async Task<long> Pragma(string sql)
            {
                await using var command = d.Database.GetDbConnection().CreateCommand();
                command.CommandText = sql;
                return await command.ExecuteScalarAsync() is long level ? level : -1;
            }
            await d.Database.OpenConnectionAsync();
            var level = await Pragma("PRAGMA synchronous");
            await Pragma("PRAGMA synchronous = NORMAL"); // as a claim batch stopped between its two pragmas would leave it
            await d.Database.CloseConnectionAsync();
            await d.Database.OpenConnectionAsync(); // the same pooled connection
            var again = await Pragma("PRAGMA synchronous");
            await d.Database.CloseConnectionAsync();
            return (level, again);
        });
        Assert.Equal(2, before);
        Assert.Equal(2, reopened);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OrderRefusedBeforeItsKeyWasClaimed_TheRefusalIsStored_AndReplayed(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var bad = new { customer_external_id = "u1", product_id = productId, currency = "XXY" };

        var first = await m.PostAsync("/v1/orders", bad, "bad-order");
        Assert.Equal(HttpStatusCode.BadRequest, first.StatusCode);
        var firstBody = await first.Content.ReadAsStringAsync();
        Assert.Equal("currency_unsupported", (string?)Json.Parse(firstBody)["code"]);
        var stored = await server.QueryAsync(d => d.IdempotencyRecords.SingleAsync(r => r.MerchantId == m.MerchantId && r.Key == "bad-order"));
        Assert.Equal(400, stored.StatusCode);

        var again = await m.PostAsync("/v1/orders", bad, "bad-order");
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(firstBody, await again.Content.ReadAsStringAsync());

        var other = await m.PostAsync("/v1/orders", new { customer_external_id = "u1", product_id = productId, currency = "CNY" }, "bad-order");
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Equal("idempotency_key_reused", (string?)Json.Parse(await other.Content.ReadAsStringAsync())["code"]);
        Assert.Equal(0, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));
    }
}

[Collection("server")]
public sealed class IdempotencyRetentionTests(Servers servers)
{
    [SkippableFact]
    public async Task Keys_AreKeptForAtLeast24Hours_ThenForgotten()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var body = new { customer_external_id = "u1", product_id = productId, currency = "CNY" };
        await m.PostOkAsync("/v1/orders", body, "kept-key");

        await server.RunJobAsync("idempotency_key_expiry", DateTime.UtcNow.AddHours(25));
        Assert.Equal(1, await server.QueryAsync(d => d.IdempotencyRecords.CountAsync(r => r.MerchantId == m.MerchantId)));
        await server.RunJobAsync("idempotency_key_expiry", DateTime.UtcNow.AddHours(49));
        Assert.Equal(0, await server.QueryAsync(d => d.IdempotencyRecords.CountAsync(r => r.MerchantId == m.MerchantId)));
    }
}
