using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Ledger;
using KnowPay.Features.Refunds;
using KnowPay.Providers;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KnowPay.Tests.Ledger;

/// <summary>Issue 18, defect 1: amounts are limited, ledger sums cannot overflow into a 500, and one merchant's ledger never stalls a job.</summary>
[Collection("server")]
public sealed class AmountLimitApiTests(Servers servers)
{
    const long Huge = 4_611_686_018_427_387_903;   // long.MaxValue / 2: the largest price accepted before the limit

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PricesAndPayoutMinimumsAboveTheLimit_Answer400AmountTooLarge_AndTheLimitItselfIsAccepted(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var creator = await m.PostOkAsync("/v1/creators", new { name = "Creator" });
        var creatorId = (string)creator["id"]!;

        var tooLarge = await m.PostAsync("/v1/products", Product(creatorId, Huge));
        await AssertAmountTooLargeAsync(tooLarge, "1000000000");
        await AssertAmountTooLargeAsync(await m.PostAsync("/v1/products", Product(creatorId, 1_000_000_001)), "10000000.00 CNY");

        var atLimit = await m.PostOkAsync("/v1/products", Product(creatorId, 1_000_000_000));
        Assert.Equal(1_000_000_000, (long)atLimit["prices"]![0]!["amount"]!);
        var yen = await m.PostOkAsync("/v1/products", Product(creatorId, 10_000_000, "JPY"));
        await AssertAmountTooLargeAsync(await m.PostAsync($"/v1/products/{(string)yen["id"]!}",
            new { prices = new[] { new { amount = 10_000_001, currency = "JPY" } } }), "10000000 JPY");

        await AssertAmountTooLargeAsync(await m.PostAsync("/v1/payouts/batches", new { currency = "CNY", minimum_amount = Huge }), "1000000000");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundOfLongMaxValue_AfterAPartialRefund_Answers400WithACode_AndTheReservationCannotOverflow(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var paymentId = await PaidAsync(m, productId, "learner-1");
        await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 1000 });

        var refused = await m.PostAsync($"/v1/payments/{paymentId}/refunds", new { amount = long.MaxValue });
        await AssertAmountTooLargeAsync(refused, "1000000000");

        // Below the API's limit check, the reservation itself compares without adding: refunded + long.MaxValue never reaches SQL.
        await using var scope = server.Services.CreateAsyncScope();
        var data = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        Assert.True(scope.ServiceProvider.GetRequiredService<PaymentProviders>().TryGet("sandbox", out var provider));
        var payment = await data.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId);
        Assert.Null(await CreateRefund.StartAsync(data, provider, payment, long.MaxValue, null, TimeProvider.System, NullLogger.Instance));
        Assert.Equal(1000, (await data.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId)).RefundedAmount);
        Assert.Equal(8900, (long)(await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { }))["amount"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ALegacyLedgerBeyondALong_AnswersAClearError_FailsTheInvariants_AndHoldReleaseStillReleasesOtherMerchants(Db db)
    {
        // Its own server: the legacy rows would otherwise stay in every later test's hold_release run.
        await using var server = await KnowPayServer.StartAsync(db);
        var legacy = await server.NewMerchantAsync();
        var (legacyCreator, legacyProduct) = await legacy.CourseAsync(7000, (9900, "CNY"));
        var legacyPayment = await PaidAsync(legacy, legacyProduct, "learner-1");
        // Three paid orders at the largest price once accepted, written as they were before the limit existed.
        await server.QueryAsync(async data =>
        {
            for (var i = 0; i < 3; i++)
                data.Journals.Add(Journals.Build(legacy.MerchantId, "payment_confirmed", "pay_legacy_" + i, "legacy payment",
                [
                    new Posting(Accounts.ProviderClearing("sandbox", "CNY"), "CNY", Huge),
                    new Posting(Accounts.CreatorPending(legacyCreator, "CNY"), "CNY", -Huge),
                ], DateTime.UtcNow));
            return await data.SaveChangesAsync();
        });

        var other = await server.NewMerchantAsync();
        var (otherCreator, otherProduct) = await other.CourseAsync(7000, (9900, "CNY"));
        await PaidAsync(other, otherProduct, "learner-2");

        foreach (var path in new[] { "/v1/ledger/trial-balance", $"/v1/creators/{legacyCreator}/balances", $"/v1/creators/{legacyCreator}/statement" })
        {
            var response = await legacy.Http.GetAsync(path);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Conflict, $"GET {path} → {(int)response.StatusCode}: {text}");
            Assert.Equal("ledger_sum_out_of_range", (string?)Json.Parse(text)["code"]);
        }
        var payout = await legacy.PostAsync("/v1/payouts/batches", new { currency = "CNY" });
        Assert.Equal(HttpStatusCode.Conflict, payout.StatusCode);
        Assert.Equal("ledger_sum_out_of_range", (string?)Json.Parse(await payout.Content.ReadAsStringAsync())["code"]);

        var invariants = await legacy.PostOkAsync("/v1/ledger/invariants/check", new { });
        Assert.False((bool)invariants["passed"]!);
        var inRange = invariants["checks"]!.AsArray().Single(c => (string?)c!["name"] == "balances_in_range")!;
        Assert.False((bool)inRange["passed"]!);
        Assert.Contains(legacyCreator, (string?)inRange["failures"]![0]);

        // hold_release: the legacy merchant's payment cannot be released (its pending balance is beyond a long); the other's is.
        Assert.Equal(1, await server.RunJobAsync("hold_release", DateTime.UtcNow.AddDays(8)));
        var balances = await other.GetOkAsync($"/v1/creators/{otherCreator}/balances");
        Assert.Equal(6930, (long)balances["balances"]![0]!["available"]!);
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.SourceType == "hold_release" && j.SourceId == legacyPayment)));

        var otherInvariants = await other.PostOkAsync("/v1/ledger/invariants/check", new { });
        Assert.True((bool)otherInvariants["passed"]!, otherInvariants.ToJsonString());
    }

    static object Product(string creatorId, long amount, string currency = "CNY") => new
    {
        creator_id = creatorId, name = "Course", kind = "course", creator_share_bps = 7000,
        prices = new[] { new { amount, currency } },
    };

    static async Task AssertAmountTooLargeAsync(HttpResponseMessage response, string limitInDetail)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        var problem = Json.Parse(text);
        Assert.Equal("amount_too_large", (string?)problem["code"]);
        Assert.Contains(limitInDetail, (string?)problem["detail"]);
    }

    static async Task<string> PaidAsync(MerchantClient m, string productId, string customer)
    {
        var order = await m.OrderAsync(productId, "CNY", customer);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        return (string)payment["id"]!;
    }
}
