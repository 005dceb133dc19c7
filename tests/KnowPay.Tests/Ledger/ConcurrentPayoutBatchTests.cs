using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Ledger;

/// <summary>
/// Payout batches of one merchant racing on PostgreSQL: requests with one Idempotency-Key (same body and another body) and
/// with keys of their own, all at once. No answer is a 5xx, one key answers one batch, and every creator is paid exactly
/// its available balance once.
/// </summary>
[Collection("server")]
public sealed class ConcurrentPayoutBatchTests(Servers servers)
{
    [SkippableFact]
    public async Task ParallelBatches_WithSharedAndOwnKeys_AnswerWithoutServerErrors_AndPayEachCreatorOnce()
    {
        var server = await servers.Get(Db.Postgres);
        var m = await server.NewMerchantAsync();
        var creators = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (creatorId, productId) = await m.CourseAsync(7000, (9900, "CNY"));
            creators.Add(creatorId);
            await PaidAsync(m, productId, $"learner-{i}");
        }
        await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8));

        for (var round = 0; round < 3; round++)
        {
            var shared = "batch-shared-" + Guid.NewGuid().ToString("N");
            var requests = new List<(string Kind, Task<HttpResponseMessage> Answer)>();
            using var start = new ManualResetEventSlim();
            Task<HttpResponseMessage> Post(object body, string key) => Task.Run(() =>
            {
                start.Wait();
                return m.PostAsync("/v1/payouts/batches", body, key);
            });
            for (var i = 0; i < 12; i++) requests.Add(("same", Post(new { currency = "CNY", minimum_amount = 1 }, shared)));
            for (var i = 0; i < 6; i++) requests.Add(("reused", Post(new { currency = "CNY", minimum_amount = 2 }, shared)));
            for (var i = 0; i < 12; i++) requests.Add(("own", Post(new { currency = "CNY" }, "batch-own-" + Guid.NewGuid().ToString("N"))));
            // A key whose holder may be aborted by its client mid-request (the key is then released): the others that found
            // it held are answered 409 or, once it is free, execute a batch of their own.
            var abandoned = "batch-abandoned-" + Guid.NewGuid().ToString("N");
            var aborted = new List<Task>();
            for (var i = 0; i < 4; i++)
            {
                var delay = 2 + 4 * i;
                aborted.Add(Task.Run(async () =>
                {
                    start.Wait();
                    using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(delay));
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payouts/batches") { Content = System.Net.Http.Json.JsonContent.Create(new { currency = "CNY" }) };
                    request.Headers.Add("Idempotency-Key", abandoned);
                    try { (await m.Http.SendAsync(request, cancel.Token)).Dispose(); }
                    catch (OperationCanceledException) { }
                }));
            }
            for (var i = 0; i < 8; i++) requests.Add(("abandoned", Post(new { currency = "CNY" }, abandoned)));
            start.Set();
            await Task.WhenAll(aborted);

            var answers = new List<(string Kind, HttpStatusCode Status, JsonObject Body)>();
            foreach (var (kind, answer) in requests)
            {
                using var response = await answer;
                var text = await response.Content.ReadAsStringAsync();
                // Kestrel's own refusal (empty body, connection closed; the fuzzer counts these the same way) never reached KnowPay.
                if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.RequestTimeout && text.Length == 0 && response.Headers.ConnectionClose == true)
                    continue;
                Assert.True(text.Length > 0, $"{kind} → {(int)response.StatusCode} with an empty body ({response.Content.Headers.ContentType})");
                answers.Add((kind, response.StatusCode, Json.Parse(text)));
            }
            var serverErrors = answers.Where(a => (int)a.Status >= 500).ToList();
            Assert.True(serverErrors.Count == 0, string.Join("\n", serverErrors.Select(a => $"{a.Kind} → {(int)a.Status}: {a.Body.ToJsonString()}")));
            // One key, one batch: every 201 under the shared key is the same batch (the first one's or its replay).
            var sharedBatches = answers.Where(a => a.Kind is "same" or "reused" && a.Status == HttpStatusCode.Created).Select(a => (string?)a.Body["id"]).Distinct().ToList();
            Assert.True(sharedBatches.Count <= 1, "one key answered batches " + string.Join(", ", sharedBatches));
            foreach (var (kind, status, body) in answers.Where(a => a.Status != HttpStatusCode.Created))
            {
                Assert.True(status == HttpStatusCode.Conflict && kind != "own", $"{kind} → {(int)status}: {body.ToJsonString()}");
                Assert.Contains((string?)body["code"], new[] { "idempotency_request_in_progress", "idempotency_key_reused" });
            }
        }

        // Each creator was paid exactly its released balance (6,930), once.
        var payouts = await server.QueryAsync(d => d.Payouts.Where(p => p.MerchantId == m.MerchantId).ToListAsync());
        Assert.Equal(creators.Order(), payouts.Select(p => p.CreatorId).Order());
        Assert.All(payouts, p => Assert.Equal(6930, p.Amount));
        var check = await m.PostOkAsync("/v1/ledger/invariants/check", new { });
        Assert.True((bool)check["passed"]!, check.ToJsonString());
    }

    static async Task PaidAsync(MerchantClient m, string productId, string customer)
    {
        var order = await m.OrderAsync(productId, "CNY", customer);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
    }
}
