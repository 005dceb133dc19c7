using CsCheck;
using KnowPay.Domain;

namespace KnowPay.Tests.Fx;

public sealed class FxLedgerPropertyTests
{
    static readonly string[] Codes = ["CNY", "USD", "JPY", "KWD", "EUR", "UGX"];

    [Fact]
    public void ConvertSplitRefundPartially_BalancesPerCurrency_AndCreatesNoMoney() =>
        Gen.Select(Gen.Long[1, 10_000_000_000], Gen.Int[1, 99_999_999], Gen.Int[0, 500], Gen.Int[0, 10_000],
                Gen.Int[0, Codes.Length - 1], Gen.Int[0, Codes.Length - 1], Gen.Int[0, 1000].Array[0, 6], Gen.Bool)
            .Sample((price, rateMillionths, markupBps, creatorBps, from, to, refundWeights, refundTheRest) =>
            {
                if (from == to) return;
                var priced = new Money(price, Currency.Of(Codes[from]));
                var rate = FxMath.WithMarkup(rateMillionths / 1_000_000m, markupBps);
                Assert.True(FxMath.TryConvert(priced, Currency.Of(Codes[to]), rate, out var paid));
                if (paid.MinorUnits == 0) return;
                var fx = new Conversion(priced, paid);
                var split = RevenueSplit.For(price, creatorBps, ProviderFee.None);
                var fee = RevenueSplit.For(paid.MinorUnits, 0, new ProviderFee(290, 30)).Fee;
                var balances = new Dictionary<(string, string), long>();
                void Post(IReadOnlyList<Posting> journal)
                {
                    foreach (var g in journal.GroupBy(p => p.Currency)) Assert.Equal(0, g.Sum(p => p.Amount));
                    foreach (var p in journal) balances[(p.Account, p.Currency)] = balances.GetValueOrDefault((p.Account, p.Currency)) + p.Amount;
                }
                Post(FxPostings.PaymentConfirmed("stripe", "cre_1", fx, split, fee));

                // Refunds in the paid currency: the weights cut the paid amount into parts, then possibly the rest.
                long refunded = 0, pricedBack = 0, creatorBack = 0;
                var total = Math.Max(1, refundWeights.Sum());
                var parts = refundWeights.Select(w => paid.MinorUnits * w / total).ToList();
                if (refundTheRest) parts.Add(paid.MinorUnits - parts.Sum());
                foreach (var now in parts)
                {
                    if (now <= 0) continue;
                    var pricedPart = FxMath.Portion(price, refunded, now, paid.MinorUnits);
                    var creatorPart = RefundSplit.CreatorPart(pricedBack, pricedPart, creatorBps);
                    var pending = balances.GetValueOrDefault((Accounts.CreatorPending("cre_1", priced.Currency.Code), priced.Currency.Code));
                    Post(FxPostings.RefundSucceeded("stripe", "cre_1", fx, now, pricedPart, creatorPart, pending));
                    refunded += now; pricedBack += pricedPart; creatorBack += creatorPart;
                }

                var (p, q) = (paid.Currency.Code, priced.Currency.Code);
                // No money created: nothing goes back beyond what came in, in either currency.
                Assert.InRange(refunded, 0, paid.MinorUnits);
                Assert.InRange(pricedBack, 0, price);
                Assert.InRange(creatorBack, 0, split.Creator);
                Assert.Equal(paid.MinorUnits - refunded, balances[(Accounts.ProviderClearing("stripe", p), p)]);
                Assert.Equal(-(paid.MinorUnits - refunded), balances[(Accounts.Fx(q, p), p)]);
                Assert.Equal(price - pricedBack, balances.GetValueOrDefault((Accounts.Fx(q, p), q)));
                var creator = balances.GetValueOrDefault((Accounts.CreatorPending("cre_1", q), q)) + balances.GetValueOrDefault((Accounts.CreatorAvailable("cre_1", q), q));
                Assert.Equal(-(split.Creator - creatorBack), creator);
                // The sums are exact: every account together is zero per currency.
                foreach (var g in balances.GroupBy(b => b.Key.Item2)) Assert.Equal(0, g.Sum(b => b.Value));
                if (refunded == paid.MinorUnits)
                {
                    Assert.Equal(price, pricedBack);
                    Assert.Equal(split.Creator, creatorBack);
                }
            });

    [Fact]
    public void Markup_IsAppliedExactly() =>
        Assert.Equal(0.1385335m * 1.0150m, FxMath.WithMarkup(0.1385335m, 150));

    [Fact]
    public void Conversion_RoundsOnce_HalfAwayFromZero_ByTheTargetExponent()
    {
        Assert.True(FxMath.TryConvert(new Money(9900, Currency.Of("CNY")), Currency.Of("USD"), 0.14m, out var usd));
        Assert.Equal(1386, usd.MinorUnits);                          // 99.00 × 0.14 = 13.86
        Assert.True(FxMath.TryConvert(new Money(9900, Currency.Of("CNY")), Currency.Of("JPY"), 21.05m, out var jpy));
        Assert.Equal(2084, jpy.MinorUnits);                          // 99.00 × 21.05 = 2083.95 → 2084
        Assert.True(FxMath.TryConvert(new Money(1000, Currency.Of("USD")), Currency.Of("KWD"), 0.30705m, out var kwd));
        Assert.Equal(3071, kwd.MinorUnits);                          // 10.00 × 0.30705 = 3.0705 → 3.071
    }
}
