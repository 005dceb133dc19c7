using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Risk;

/// <summary>
/// The backtest over a merchant's history: 5,000 orders with their order decisions (and some payment-stage decisions,
/// another merchant's decisions and later refunds) are written straight through the DbContext; what the candidate rules
/// would have done is computed here, in plain C#, from the seeded values, and must equal the API's answer exactly.
/// </summary>
[Collection("server")]
public sealed class RiskBacktestHistoryTests(Servers servers)
{
    const int Orders = 5_000;
    static readonly DateTime Start = new(2026, 6, 1, 0, 0, 0, DateTimeKind.Utc);
    static readonly string[] Trusted = ["hist-7", "hist-11", "hist-13"];

    /// <summary>One historical order as its decision saw it.</summary>
    sealed record Past(int Index, string OrderId, string External, long Amount, long AgeDays, long OrdersPerCustomer24h, long FailedPerIp1h,
        long CustomersPerDevice24h, RiskAction Stored, bool Refunded)
    {
        public DateTime At => Start.AddMinutes(Index);
    }

    /// <summary>The candidate rules below, decided by hand: allow rules first, then block, then review; thresholds are out of reach.</summary>
    static RiskAction Expected(Past p) =>
        Trusted.Contains(p.External) ? RiskAction.Allow
        : p.FailedPerIp1h > 5 ? RiskAction.Block
        : p.Amount > 20_000 && p.AgeDays < 1 ? RiskAction.Block
        : p.OrdersPerCustomer24h >= 3 || p.CustomersPerDevice24h > 2 ? RiskAction.Review
        : RiskAction.Allow;

    static readonly object[] CandidateRules =
    [
        new { id = "busy", rule = "review if :orders_per_customer_24h: >= 3 or :distinct_customers_per_device_24h: > 2" },
        new { id = "card_testing_1h", rule = "block if :failed_attempts_per_ip_1h: > 5" },
        new { id = "big_new_accounts", rule = "block if :amount: > 20000 and :account_age_days: < 1" },
        new { id = "trusted", rule = "allow if :customer_external_id: in @trusted_users" },
    ];

    static List<Past> History()
    {
        var rng = new Random(22);
        long[] amounts = [990, 4900, 9900, 25_000, 60_000];
        return Enumerable.Range(0, Orders).Select(i => new Past(i, $"ord_bth_{i}", $"hist-{rng.Next(40)}", amounts[rng.Next(amounts.Length)],
            rng.Next(4) == 0 ? 0 : rng.Next(1, 400), rng.Next(6), rng.Next(4) == 0 ? rng.Next(6, 12) : rng.Next(6), rng.Next(5),
            i % 37 == 0 ? RiskAction.Block : i % 10 == 0 ? RiskAction.Review : RiskAction.Allow, i % 7 == 0)).ToList();
    }

    static RiskDecision Decision(string merchantId, Past p, RiskStage stage, string idPrefix) => new()
    {
        Id = $"{idPrefix}_{p.Index}", MerchantId = merchantId, Stage = stage, OrderId = p.OrderId, CustomerId = "cus_" + p.External,
        Amount = p.Amount, Currency = "CNY", Action = p.Stored, Score = 5, Reasons = "[]", RuleHits = "[]", CreatedAt = p.At,
        Signals = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["amount"] = p.Amount, ["currency"] = "CNY", ["stage"] = stage.ToString().ToLowerInvariant(), ["customer_external_id"] = p.External,
            ["account_age_days"] = p.AgeDays, ["orders_per_customer_24h"] = p.OrdersPerCustomer24h,
            ["failed_attempts_per_ip_1h"] = p.FailedPerIp1h, ["distinct_customers_per_device_24h"] = p.CustomersPerDevice24h,
        }),
    };

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Backtest_OnFiveThousandSeededOrders_CountsExactlyWhatTheRulesDecideByHand(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var history = History();
        await server.QueryAsync(async d =>
        {
            d.ChangeTracker.AutoDetectChangesEnabled = false;
            foreach (var p in history)
            {
                d.Orders.Add(new Order
                {
                    Id = p.OrderId, MerchantId = m.MerchantId, CustomerId = "cus_" + p.External, ProductId = productId, PriceId = "price_bth",
                    CreatorId = creatorId, Amount = p.Amount, Currency = "CNY", CreatorShareBps = 7000,
                    Status = p.Stored == RiskAction.Block ? OrderStatus.Canceled : OrderStatus.Paid, CreatedAt = p.At, ExpiresAt = p.At.AddMinutes(30),
                    PaidAt = p.Stored == RiskAction.Block ? null : p.At.AddMinutes(1),
                });
                d.RiskDecisions.Add(Decision(m.MerchantId, p, RiskStage.Order, "rdc_bth"));
                // Not order decisions, or not this merchant's: the backtest must leave them out.
                if (p.Index % 5 == 0) d.RiskDecisions.Add(Decision(m.MerchantId, p, RiskStage.Payment, "rdc_bthp"));
                if (p.Index % 25 == 0) d.RiskDecisions.Add(Decision(other.MerchantId, p, RiskStage.Order, "rdc_btho"));
                if (p.Refunded && p.Stored != RiskAction.Block)
                    d.Refunds.Add(new Refund
                    {
                        Id = $"re_bth_{p.Index}", MerchantId = m.MerchantId, PaymentId = $"pay_bth_{p.Index}", OrderId = p.OrderId, Provider = "sandbox",
                        Amount = p.Amount, Currency = "CNY", Status = RefundState.Succeeded, CreatedAt = p.At.AddDays(1), CompletedAt = p.At.AddDays(1),
                    });
            }
            return await d.SaveChangesAsync();
        });
        Assert.True((await m.Http.PutAsync("/v1/risk/lists/trusted_users", System.Net.Http.Json.JsonContent.Create(new { values = Trusted }))).IsSuccessStatusCode);
        // Scores stay far below 99 with these signals: only the rules decide.
        Assert.True((await m.Http.PutAsync("/v1/risk/settings", System.Net.Http.Json.JsonContent.Create(new { review_threshold = 99, block_threshold = 99 }))).IsSuccessStatusCode);

        // [from, to): the decision at minute 500 is in, the one at minute 4,500 is out.
        var (from, to) = (Start.AddMinutes(500), Start.AddMinutes(4_500));
        var window = history.Where(p => p.At >= from && p.At < to).ToList();
        Assert.Equal(4_000, window.Count);
        var result = await m.PostOkAsync("/v1/risk/backtest", new { rules = CandidateRules, from, to });

        Assert.Equal(window.Count, (int)result["decisions"]!);
        foreach (var (action, field) in new[] { (RiskAction.Block, "blocked"), (RiskAction.Review, "reviewed"), (RiskAction.Allow, "allowed") })
        {
            var expected = window.Where(p => Expected(p) == action).ToList();
            Assert.True(expected.Count > 100, $"the seed gives {field} only {expected.Count} orders"); // every branch is exercised
            var actual = result[field]!;
            Assert.Equal(expected.Count, (int)actual["count"]!);
            Assert.Equal(expected.Sum(p => p.Amount), (long)actual["amount"]!);
            Assert.Equal(expected.Count(p => p.Refunded && p.Stored != RiskAction.Block), (int)actual["later_refunded"]!);
        }
        Assert.Equal(window.Count(p => Expected(p) != p.Stored), (int)result["changed"]!);
        Assert.Contains(window, p => Trusted.Contains(p.External) && p.FailedPerIp1h > 5); // allow beats block somewhere
    }
}
