using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Risk;

/// <summary>Per creator payout limits from the risk settings, enforced on payout batches, on both databases.</summary>
[Collection("server")]
public sealed class CreatorPayoutLimitTests(Servers servers)
{
    static async Task PaidAsync(MerchantClient m, string productId, string customer)
    {
        var order = await m.OrderAsync(productId, "CNY", customer);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
    }

    static async Task SettingsAsync(MerchantClient m, object body)
    {
        var response = await m.Http.PutAsync("/v1/risk/settings", System.Net.Http.Json.JsonContent.Create(body));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    static async Task<JsonObject> RefusedAsync(MerchantClient m, string limit, long value, string creatorId)
    {
        var response = await m.PostAsync("/v1/payouts/batches", new { currency = "CNY" });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {text}");
        var problem = Json.Parse(text);
        Assert.Equal("limit_" + limit, (string?)problem["code"]);
        Assert.Equal(limit, (string?)problem["limit"]);
        Assert.Equal(value, (long)problem["limit_value"]!);
        Assert.Equal(creatorId, (string?)problem["creator_id"]);
        return problem;
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PayoutsOverACreatorLimit_Are422NamingTheLimit_AndWriteNothing(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        await PaidAsync(m, productId, "learner-1");
        await PaidAsync(m, productId, "learner-2");
        await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8));
        async Task<long> AvailableAsync() => (long)(await m.GetOkAsync($"/v1/creators/{creatorId}/balances"))["balances"]!.AsArray()
            .Single(b => (string?)b!["currency"] == "CNY")!["available"]!;
        Task<int> PayoutsAsync() => server.QueryAsync(d => d.Payouts.CountAsync(p => p.MerchantId == m.MerchantId));
        var available = await AvailableAsync();
        Assert.Equal(13860, available);

        // One payout of 138.60 CNY over a single payout max of 100.00: refused, nothing written.
        await SettingsAsync(m, new { creator_payout_max = 10000 });
        await RefusedAsync(m, "creator_payout_max", 10000, creatorId);
        Assert.Equal(0, await PayoutsAsync());
        Assert.Equal(available, await AvailableAsync());
        var settings = await m.GetOkAsync("/v1/risk/settings");
        Assert.Equal(10000, (long)settings["creator_payout_max"]!);

        // Within both limits the batch pays; the next 138.60 the same day would pass 200.00 a day.
        await SettingsAsync(m, new { creator_payout_max = 20000, creator_daily_payout_amount = 20000 });
        var batch = await m.PostOkAsync("/v1/payouts/batches", new { currency = "CNY" });
        Assert.Equal(13860, (long)batch["payouts"]!.AsArray().Single()!["amount"]!);
        await PaidAsync(m, productId, "learner-3");
        await PaidAsync(m, productId, "learner-4");
        await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8));
        var before = await AvailableAsync();
        Assert.Equal(13860, before);
        await RefusedAsync(m, "creator_daily_payout_amount", 20000, creatorId);
        Assert.Equal(1, await PayoutsAsync());
        Assert.Equal(before, await AvailableAsync());

        // A bad limit is a 400; without the daily limit the same batch pays.
        var bad = await m.Http.PutAsync("/v1/risk/settings", System.Net.Http.Json.JsonContent.Create(new { creator_daily_payout_amount = 0 }));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        await SettingsAsync(m, new { creator_payout_max = 20000 });
        Assert.Single((await m.PostOkAsync("/v1/payouts/batches", new { currency = "CNY" }))["payouts"]!.AsArray());
        Assert.Equal(2, await PayoutsAsync());
    }
}
