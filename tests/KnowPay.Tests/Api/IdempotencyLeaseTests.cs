using System.Net;
using System.Security.Cryptography;
using System.Text;
using KnowPay.Data;
using KnowPay.Tests.Events;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Api;

/// <summary>
/// A request that died (kill -9) holding its Idempotency-Key: within the lease (Idempotency:LeaseSeconds, 60 s here) a
/// retry is told to wait; after it a retry takes the key over and gets the died request's result, never a second one.
/// </summary>
[Collection("server")]
public sealed class IdempotencyLeaseTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundWhoseAnswerDiedWithItsRequest_IsInProgressWithinTheLease_ThenTheRetryGetsTheSameRefund(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, paymentId, _, _) = await m.PaidOrderAsync(9900, customer: "learner-lease-1");
        var path = $"/v1/payments/{paymentId}/refunds";
        var body = new { amount = 3000, reason = "requested_by_customer" };
        var first = await m.PostOkAsync(path, body, "refund-died");

        // As a crash between the refund's completion and the key's stored answer leaves it.
        await AnswerLostAsync(server, m.MerchantId, "refund-died", claimedAt: DateTime.UtcNow);
        var waiting = await m.PostAsync(path, body, "refund-died");
        Assert.Equal(HttpStatusCode.Conflict, waiting.StatusCode);
        Assert.Equal("idempotency_request_in_progress", (string?)Json.Parse(await waiting.Content.ReadAsStringAsync())["code"]);
        Assert.InRange(int.Parse(waiting.Headers.GetValues("Retry-After").Single()), 1, 60);

        await AnswerLostAsync(server, m.MerchantId, "refund-died", claimedAt: DateTime.UtcNow.AddSeconds(-61));
        var retry = await m.PostAsync(path, body, "refund-died");
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        var retried = Json.Parse(await retry.Content.ReadAsStringAsync());
        Assert.Equal((string?)first["id"], (string?)retried["id"]);
        Assert.Equal("succeeded", (string?)retried["status"]);

        var replay = await m.PostAsync(path, body, "refund-died");
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.True(replay.Headers.Contains("Idempotent-Replayed"));
        await AssertOneRefundAsync(server, m.MerchantId, paymentId, 3000);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundRecordedPendingBeforeItsRequestDied_TheRetryAfterTheLease_ResumesThatRefund(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, paymentId, _, _) = await m.PaidOrderAsync(9900, customer: "learner-lease-2");
        var path = $"/v1/payments/{paymentId}/refunds";
        const string json = """{"amount":2500,"reason":"requested_by_customer"}""";

        // What a crash right after the reservation commits leaves: the key claimed, the refund pending, the amount reserved,
        // the provider never called.
        var payment = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
        var refundId = KnowPay.Domain.Ids.New("re");
        await server.QueryAsync(async d =>
        {
            d.IdempotencyRecords.Add(new IdempotencyRecord
            {
                MerchantId = m.MerchantId, Key = "refund-pending", RequestHash = Hash(path, json), Path = path,
                CreatedAt = DateTime.UtcNow.AddSeconds(-90), ClaimedAt = DateTime.UtcNow.AddSeconds(-90),
            });
            d.Refunds.Add(new Refund
            {
                Id = refundId, MerchantId = m.MerchantId, PaymentId = paymentId, OrderId = payment.OrderId, Provider = payment.Provider,
                Amount = 2500, Currency = payment.Currency, Reason = "requested_by_customer", IdempotencyKey = "refund-pending",
                Status = KnowPay.Domain.RefundState.Pending, CreatedAt = DateTime.UtcNow.AddSeconds(-90),
            });
            await d.Payments.Where(p => p.Id == paymentId).ExecuteUpdateAsync(s => s.SetProperty(p => p.RefundedAmount, 2500));
            return await d.SaveChangesAsync();
        });

        var retry = await m.Http.SendAsync(RawPost(path, json, "refund-pending"));
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        var resumed = Json.Parse(await retry.Content.ReadAsStringAsync());
        Assert.Equal(refundId, (string?)resumed["id"]);
        Assert.Equal("succeeded", (string?)resumed["status"]);
        await AssertOneRefundAsync(server, m.MerchantId, paymentId, 2500);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task TwoRetriesRacingAfterTheLease_OneTakesTheKeyOver_AndThereIsOneRefund(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, paymentId, _, _) = await m.PaidOrderAsync(9900, customer: "learner-lease-3");
        var path = $"/v1/payments/{paymentId}/refunds";
        var body = new { amount = 4000 };
        var first = await m.PostOkAsync(path, body, "refund-race");
        await AnswerLostAsync(server, m.MerchantId, "refund-race", claimedAt: DateTime.UtcNow.AddSeconds(-120));

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => m.PostAsync(path, body, "refund-race")));
        Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, $"{(int)a.StatusCode}"));
        Assert.Contains(answers, a => a.StatusCode == HttpStatusCode.Created);
        foreach (var a in answers.Where(a => a.StatusCode == HttpStatusCode.Created))
            Assert.Equal((string?)first["id"], (string?)Json.Parse(await a.Content.ReadAsStringAsync())["id"]);
        foreach (var a in answers.Where(a => a.StatusCode == HttpStatusCode.Conflict))
            Assert.Equal("idempotency_request_in_progress", (string?)Json.Parse(await a.Content.ReadAsStringAsync())["code"]);
        await AssertOneRefundAsync(server, m.MerchantId, paymentId, 4000);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OrderWhoseRequestDied_IsInProgressWithinTheLease_ThenTheRetryCreatesItOnce(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        var json = $$"""{"customer_external_id":"u-lease","product_id":"{{productId}}","currency":"CNY"}""";

        // The order's answer commits with the order: a died request left only its claim.
        await server.QueryAsync(d =>
        {
            d.IdempotencyRecords.Add(new IdempotencyRecord
            {
                MerchantId = m.MerchantId, Key = "order-died", RequestHash = Hash("/v1/orders", json), Path = "/v1/orders",
                CreatedAt = DateTime.UtcNow, ClaimedAt = DateTime.UtcNow,
            });
            return d.SaveChangesAsync();
        });
        var waiting = await m.Http.SendAsync(RawPost("/v1/orders", json, "order-died"));
        Assert.Equal(HttpStatusCode.Conflict, waiting.StatusCode);
        Assert.Equal("idempotency_request_in_progress", (string?)Json.Parse(await waiting.Content.ReadAsStringAsync())["code"]);
        Assert.True(waiting.Headers.Contains("Retry-After"));
        Assert.Equal(0, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));

        await server.QueryAsync(d => d.IdempotencyRecords.Where(r => r.MerchantId == m.MerchantId && r.Key == "order-died")
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.ClaimedAt, DateTime.UtcNow.AddSeconds(-61))));
        var retry = await m.Http.SendAsync(RawPost("/v1/orders", json, "order-died"));
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        var replay = await m.Http.SendAsync(RawPost("/v1/orders", json, "order-died"));
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.True(replay.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(await retry.Content.ReadAsStringAsync(), await replay.Content.ReadAsStringAsync());
        Assert.Equal(1, await server.QueryAsync(d => d.Orders.CountAsync(o => o.MerchantId == m.MerchantId)));

        // Another body under the same key is still refused after the lease.
        await server.QueryAsync(d => d.IdempotencyRecords.Where(r => r.MerchantId == m.MerchantId && r.Key == "order-died")
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.CompletedAt, (DateTime?)null).SetProperty(r => r.ClaimedAt, DateTime.UtcNow.AddSeconds(-120))));
        var other = await m.PostAsync("/v1/orders", new { customer_external_id = "u-other", product_id = productId, currency = "CNY" }, "order-died");
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Equal("idempotency_key_reused", (string?)Json.Parse(await other.Content.ReadAsStringAsync())["code"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PostWithAnIdempotencyKeyOnAPathOver200Characters_IsAnsweredWithout500(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var path = $"/v1/payments/pay_{new string('x', 250)}/refunds";

        var first = await m.PostAsync(path, new { amount = 100 }, "long-path");
        Assert.Equal(HttpStatusCode.NotFound, first.StatusCode);
        var again = await m.PostAsync(path, new { amount = 100 }, "long-path");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));
        var stored = await server.QueryAsync(d => d.IdempotencyRecords.SingleAsync(r => r.MerchantId == m.MerchantId && r.Key == "long-path"));
        Assert.True(stored.Path.Length <= 200);
    }

    /// <summary>The key back in progress, claimed at <paramref name="claimedAt"/>, its stored answer gone.</summary>
    static Task<int> AnswerLostAsync(KnowPayServer server, string merchantId, string key, DateTime claimedAt) =>
        server.QueryAsync(d => d.IdempotencyRecords.Where(r => r.MerchantId == merchantId && r.Key == key).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.CompletedAt, (DateTime?)null).SetProperty(r => r.StatusCode, (int?)null)
            .SetProperty(r => r.ContentType, (string?)null).SetProperty(r => r.ResponseBody, (byte[]?)null)
            .SetProperty(r => r.ClaimedAt, claimedAt)));

    static async Task AssertOneRefundAsync(KnowPayServer server, string merchantId, string paymentId, long amount)
    {
        await Task.Delay(300); // the sandbox's refund notification, which must change nothing
        var refunds = await server.QueryAsync(d => d.Refunds.AsNoTracking().Where(r => r.PaymentId == paymentId).ToListAsync());
        var refund = Assert.Single(refunds);
        Assert.Equal(amount, refund.Amount);
        Assert.Equal(amount, await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.RefundedAmount).SingleAsync()));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == merchantId && j.SourceType == "refund" && j.SourceId == refund.Id)));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == merchantId && j.SourceType == "refund")));
    }

    /// <summary>What the middleware hashes: the method and path, then the body's bytes.</summary>
    static string Hash(string path, string json) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("POST " + path + "\n" + json)));

    static HttpRequestMessage RawPost(string path, string json, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }
}
