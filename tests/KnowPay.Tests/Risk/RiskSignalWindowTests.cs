using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Risk;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Risk;

/// <summary>
/// The signal statement against the signals' definitions: a random history of one customer's, one device's and one IP's
/// decisions (every stage and action, payments failed or not, cards, from minutes to 100 days old, other customers on the
/// same device and IP, another merchant's rows) is written straight through the DbContext, and every velocity, refund, card
/// and device signal the statement reads must equal what plain C# counts over the same rows. Both databases.
/// </summary>
[Collection("server")]
public sealed class RiskSignalWindowTests(Servers servers)
{
    static readonly DateTime Now = new(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc);

    sealed record Row(string Id, string MerchantId, RiskStage Stage, RiskAction Action, string CustomerId, string? Ip, string? Device,
        long Amount, DateTime At, PaymentStatus? Payment, string? Card);

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task EverySignal_EqualsItsDefinitionCountedInCode(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var other = await server.NewMerchantAsync();
        var rng = new Random(2204);
        string[] customers = ["cus_win_a", "cus_win_b", "cus_win_c"];
        string[] cards = ["fp_win_1", "fp_win_2", "fp_win_3", "fp_win_4"];
        // Ages in seconds that straddle every window: 10 min, 1 h, 24 h and 90 days.
        int[] ages = [30, 599, 601, 1800, 3599, 3601, 7200, 86_399, 86_401, 200_000, 89 * 86_400, 91 * 86_400];
        var rows = Enumerable.Range(0, 400).Select(i =>
        {
            var age = rng.Next(3) == 0 ? ages[rng.Next(ages.Length)] : rng.Next(100 * 86_400);
            var paid = rng.Next(3) switch { 0 => (PaymentStatus?)null, 1 => PaymentStatus.Failed, _ => PaymentStatus.Succeeded };
            return new Row($"rdc_win_{db}_{i}", i % 17 == 0 ? other.MerchantId : m.MerchantId, (RiskStage)rng.Next(3), (RiskAction)rng.Next(3),
                customers[rng.Next(customers.Length)], rng.Next(4) == 0 ? null : rng.Next(2) == 0 ? "203.0.113.9" : "198.51.100.7",
                rng.Next(4) == 0 ? null : rng.Next(2) == 0 ? "dev-win-1" : "dev-win-2", 100 + rng.Next(50_000), Now.AddSeconds(-age).AddMilliseconds(-rng.Next(1000)),
                paid, paid is null || rng.Next(3) == 0 ? null : cards[rng.Next(cards.Length)]);
        }).ToList();
        Assert.Equal(3, rows.Select(r => r.Stage).Distinct().Count());
        await server.QueryAsync(async d =>
        {
            foreach (var r in rows)
            {
                d.RiskDecisions.Add(new RiskDecision
                {
                    Id = r.Id, MerchantId = r.MerchantId, Stage = r.Stage, OrderId = "ord_" + r.Id, PaymentId = r.Payment is null ? null : "pay_" + r.Id,
                    CustomerId = r.CustomerId, Ip = r.Ip, DeviceId = r.Device, Amount = r.Amount, Currency = "CNY", Action = r.Action, Score = 1,
                    Reasons = "[]", RuleHits = "[]", Signals = "{}", CreatedAt = r.At,
                });
                if (r.Payment is { } status)
                    d.Payments.Add(new Payment
                    {
                        Id = "pay_" + r.Id, MerchantId = r.MerchantId, OrderId = "ord_" + r.Id, Provider = "stripe", Method = "card", Status = status,
                        Amount = r.Amount, Currency = "CNY", CardFingerprint = r.Card, CreatedAt = r.At,
                    });
            }
            return await d.SaveChangesAsync();
        });

        var (customer, ip, device) = ("cus_win_a", "203.0.113.9", "dev-win-1");
        var subject = new RiskSubject(m.MerchantId, RiskStage.Order, "ord_win_new", customer, null, "prod_win", 990, "CNY", "stripe",
            new RiskContextInput(ip, device, null, null, null));
        var read = await server.QueryAsync(d => RiskSignalsQuery.ReadAsync(d, subject, Now, CancellationToken.None));
        Assert.Empty(read.Unavailable);

        var mine = rows.Where(r => r.MerchantId == m.MerchantId).ToList();
        var windows = new[] { ("10m", TimeSpan.FromMinutes(10)), ("1h", TimeSpan.FromHours(1)), ("24h", TimeSpan.FromHours(24)) };
        var expected = new Dictionary<string, long>();
        foreach (var (who, of) in new (string, Func<Row, bool>)[] { ("customer", r => r.CustomerId == customer), ("ip", r => r.Ip == ip), ("device", r => r.Device == device) })
            foreach (var (w, span) in windows)
            {
                var within = mine.Where(r => of(r) && r.At >= Now - span).ToList();
                var orders = within.Where(r => r.Stage == RiskStage.Order && r.Action != RiskAction.Block).ToList();
                expected[$"orders_per_{who}_{w}"] = orders.Count;
                expected[$"amount_per_{who}_{w}"] = orders.Sum(r => r.Amount);
                if (who != "device") expected[$"failed_attempts_per_{who}_{w}"] = within.Count(r => r.Payment == PaymentStatus.Failed);
                if (who == "customer") expected[$"card_count_for_customer_{w}"] = within.Where(r => r.Card is not null).Select(r => r.Card).Distinct().Count();
            }
        expected["refunds_per_customer_90d"] = mine.Count(r => r.CustomerId == customer && r.Stage == RiskStage.Refund && r.At >= Now.AddDays(-90));
        expected["distinct_customers_per_device_24h"] = mine.Where(r => r.Device == device && r.At >= Now.AddHours(-24)).Select(r => r.CustomerId).Distinct().Count();
        var card = mine.Where(r => r.CustomerId == customer && r.Card is not null && r.At >= Now.AddHours(-24)).MaxBy(r => r.At)!.Card!;
        foreach (var (w, span) in windows)
        {
            var onCard = mine.Where(r => r.Card == card && r.At >= Now - span).ToList();
            expected[$"payments_per_card_{w}"] = onCard.Count;
            expected[$"amount_per_card_{w}"] = onCard.Sum(r => r.Amount);
        }

        // The seed reaches every branch: nothing compared here is zero by construction.
        Assert.All(expected, e => Assert.True(e.Value > 0, $"the seed leaves {e.Key} at 0"));
        Assert.Equal(card, read.Signals["card_fingerprint"]);
        Assert.Equal(expected.OrderBy(e => e.Key), expected.Keys.Order().Select(k => KeyValuePair.Create(k, (long)read.Signals[k]!)));
    }
}
