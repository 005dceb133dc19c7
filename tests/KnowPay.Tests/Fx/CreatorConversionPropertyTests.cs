using CsCheck;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Fx;

namespace KnowPay.Tests.Fx;

/// <summary>The creator's share credited in its payout currency, through the journals the app posts (<see cref="FxLedger"/>).</summary>
public sealed class CreatorConversionPropertyTests
{
    static readonly string[] Codes = ["CNY", "USD", "JPY", "KWD", "EUR", "UGX"];

    [Fact]
    public void ConvertCreditRefundPartially_BalancesPerCurrency_ReversesAtTheLockedRate_AndCreatesNoMoney() =>
        Gen.Select(Gen.Long[1, 10_000_000_000], Gen.Int[1, 99_999_999], Gen.Int[0, 10_000], Gen.Int[0, Codes.Length - 1], Gen.Int[0, Codes.Length - 1],
                Gen.Int[0, Codes.Length - 1], Gen.Int[0, 1000].Array[0, 6], Gen.Bool)
            .Sample((price, rateMillionths, creatorBps, priceIn, paidIn, payoutIn, refundWeights, refundTheRest) =>
            {
                if (payoutIn == priceIn) return;
                var (q, p, c) = (Codes[priceIn], Codes[paidIn], Codes[payoutIn]);
                // The learner pays in the price's currency, or (another code) at a locked quote of its own.
                long paid = price;
                decimal? orderRate = null;
                if (p != q)
                {
                    orderRate = rateMillionths / 1_000_000m;
                    Assert.True(FxMath.TryConvert(new Money(price, Currency.Of(q)), Currency.Of(p), orderRate.Value, out var converted));
                    if (converted.MinorUnits == 0) return;
                    paid = converted.MinorUnits;
                }
                // The creator's rate: the order's quote when paid in the creator's currency, else its own.
                var creatorRate = c == p && orderRate is { } r ? r : (rateMillionths % 7_919 + 1) / 1_000m;
                var order = new Order
                {
                    Id = "ord_1", MerchantId = "mer_1", CustomerId = "cus_1", ProductId = "prd_1", PriceId = "pri_1", CreatorId = "cre_1",
                    Amount = paid, Currency = p, CreatorShareBps = creatorBps,
                    FxFrom = p != q ? q : null, FxFromAmount = p != q ? price : null, FxRate = orderRate,
                    CreatorCurrency = c, CreatorFxRate = creatorRate,
                };
                var payment = new Payment { Id = "pay_1", MerchantId = "mer_1", OrderId = "ord_1", Provider = "stripe", Method = "card", Amount = paid, Currency = p };
                var creator = FxLedger.CreatorConversionOf(order, payment);
                Assert.NotNull(creator);
                var share = RevenueSplit.For(price, creatorBps, ProviderFee.None).Creator;
                Assert.True(FxMath.TryConvert(new Money(share, Currency.Of(q)), Currency.Of(c), creatorRate, out var credited));
                Assert.Equal((share, credited.MinorUnits), (creator.Share.MinorUnits, creator.Converted.MinorUnits));   // rounded once

                var balances = new Dictionary<(string, string), long>();
                void Post(IReadOnlyList<Posting> journal)
                {
                    foreach (var g in journal.GroupBy(x => x.Currency)) Assert.Equal(0, g.Sum(x => x.Amount));
                    Assert.DoesNotContain(journal, x => x.Account.StartsWith("creator:", StringComparison.Ordinal) && x.Currency != c);
                    foreach (var x in journal) balances[(x.Account, x.Currency)] = balances.GetValueOrDefault((x.Account, x.Currency)) + x.Amount;
                }
                Post(FxLedger.PaymentConfirmed(payment, order, new ProviderFee(290, 30)));
                long Creator() => balances.GetValueOrDefault((Accounts.CreatorPending("cre_1", c), c)) + balances.GetValueOrDefault((Accounts.CreatorAvailable("cre_1", c), c));
                Assert.Equal(-credited.MinorUnits, Creator());

                long refunded = 0, pricedBack = 0, shareBack = 0;
                var total = Math.Max(1, refundWeights.Sum());
                var parts = refundWeights.Select(w => paid * w / total).ToList();
                if (refundTheRest) parts.Add(paid - parts.Sum());
                foreach (var now in parts)
                {
                    if (now <= 0) continue;
                    var fx = FxLedger.Of(order, payment);
                    var (pricedPart, creatorPart) = fx is null ? (now, RefundSplit.CreatorPart(refunded, now, creatorBps)) : FxLedger.RefundParts(fx, refunded, now, creatorBps);
                    var pending = balances.GetValueOrDefault((Accounts.CreatorPending("cre_1", c), c));
                    var postings = fx is null ? Postings.RefundSucceeded("stripe", "cre_1", p, now, creatorPart, pending)
                        : FxPostings.RefundSucceeded("stripe", "cre_1", fx, now, pricedPart, creatorPart, pending);
                    Post(FxLedger.CreatorRefunded(creator, order, payment, refunded, creatorPart, postings, pending));
                    refunded += now; pricedBack += pricedPart; shareBack += creatorPart;
                }

                // Every account together is zero per currency; the creator is owed the rest of its credit at the locked rate, never more.
                foreach (var g in balances.GroupBy(b => b.Key.Item2)) Assert.Equal(0, g.Sum(b => b.Value));
                var creatorBack = credited.MinorUnits + Creator();
                Assert.InRange(creatorBack, 0, credited.MinorUnits);
                Assert.Equal(creator.PartOf(0, shareBack), creatorBack);
                Assert.Equal(-shareBack + share, -balances.GetValueOrDefault((Accounts.Fx(c, q), q)));
                if (refunded == paid)
                {
                    Assert.Equal((price, share, credited.MinorUnits), (pricedBack, shareBack, creatorBack));
                    Assert.Equal(0, balances.GetValueOrDefault((Accounts.Fx(c, q), q)));
                    Assert.Equal(0, balances.GetValueOrDefault((Accounts.Fx(c, q), c)));
                }
            });
}
