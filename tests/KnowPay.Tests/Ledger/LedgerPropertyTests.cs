using CsCheck;
using KnowPay.Domain;

namespace KnowPay.Tests.Ledger;

/// <summary>
/// A pure simulation of the ledger driven only by the domain's posting rules: random sequences of payments, partial
/// refunds, hold releases, payouts, payout settlements and failures, in CNY, USD, JPY (no minor unit) and KWD (three).
/// </summary>
public sealed class LedgerPropertyTests
{
    static readonly string[] Currencies = ["CNY", "USD", "JPY", "KWD"];
    static readonly string[] Creators = ["cre_a", "cre_b", "cre_c"];
    static readonly (string Name, ProviderFee Fee)[] Providers = [("sandbox", new ProviderFee(60, 0)), ("stripe", new ProviderFee(290, 30))];

    sealed record SimPayment(string Provider, string Creator, string Currency, long Amount, int Bps, RevenueSplit Split)
    {
        public long Refunded { get; set; }
        public long CreatorRefunded { get; set; }
        public bool Released { get; set; }
    }

    sealed record SimPayout(string Creator, string Currency, long Amount, string Provider)
    {
        public bool Open { get; set; } = true;
    }

    sealed class Sim
    {
        public readonly List<IReadOnlyList<Posting>> Journals = [];
        public readonly Dictionary<string, long> Balances = new();
        public readonly List<SimPayment> Payments = [];
        public readonly List<SimPayout> Payouts = [];
        public readonly Dictionary<string, long> PaidOut = new();
        public readonly HashSet<string> AvailableWentPositiveByRefund = [];

        public long Balance(string account) => Balances.GetValueOrDefault(account);

        public void Post(IReadOnlyList<Posting> journal)
        {
            foreach (var g in journal.GroupBy(p => p.Currency))
                Assert.True(g.Sum(p => p.Amount) == 0, $"journal does not balance in {g.Key}");
            Journals.Add(journal);
            foreach (var p in journal) Balances[p.Account] = Balance(p.Account) + p.Amount;
        }
    }

    static readonly Gen<(int Kind, int A, int B, int C)> Op = Gen.Select(Gen.Int[0, 5], Gen.Int[0, 1_000_000], Gen.Int[0, 1_000_000], Gen.Int[0, 1_000_000]);

    [Fact]
    public void RandomMoneyEvents_EveryJournalBalances_TrialBalanceIsZero_SplitsSumToCaptured_AndNoMoneyAppearsOrVanishes()
    {
        Op.Array[1, 80].Sample(ops =>
        {
            var sim = new Sim();
            foreach (var (kind, a, b, c) in ops) Apply(sim, kind, a, b, c);
            AssertInvariants(sim);
        }, iter: 2_000);
    }

    static void Apply(Sim sim, int kind, int a, int b, int c)
    {
        switch (kind)
        {
            case 0 or 1:   // payments are the most frequent event
            {
                var currency = Currencies[a % Currencies.Length];
                var (provider, fee) = Providers[c % Providers.Length];
                var amount = 1 + (long)b % 200_000;
                var bps = c % 10_001;
                var creator = Creators[(a / 7) % Creators.Length];
                var split = RevenueSplit.For(amount, bps, fee);
                Assert.Equal(amount, split.Creator + split.Platform + split.Fee);
                sim.Post(Postings.PaymentConfirmed(provider, creator, new Money(amount, Currency.Of(currency)), split));
                sim.Payments.Add(new SimPayment(provider, creator, currency, amount, bps, split));
                break;
            }
            case 2:   // a partial (or full) refund
            {
                if (sim.Payments.Count == 0) return;
                var p = sim.Payments[a % sim.Payments.Count];
                var refundable = p.Amount - p.Refunded;
                if (refundable == 0) return;
                var refund = 1 + b % refundable;
                var creatorPart = RefundSplit.CreatorPart(p.Refunded, refund, p.Bps);
                var pending = sim.Balance(Accounts.CreatorPending(p.Creator, p.Currency));
                var journal = Postings.RefundSucceeded(p.Provider, p.Creator, p.Currency, refund, creatorPart, pending);
                sim.Post(journal);
                p.Refunded += refund;
                p.CreatorRefunded += creatorPart;
                if (sim.Balance(Accounts.CreatorAvailable(p.Creator, p.Currency)) > 0) sim.AvailableWentPositiveByRefund.Add(Accounts.CreatorAvailable(p.Creator, p.Currency));
                break;
            }
            case 3:   // the refund window of one payment ends
            {
                if (sim.Payments.Count == 0) return;
                var p = sim.Payments[a % sim.Payments.Count];
                if (p.Released) return;
                var amount = Holds.Releasable(p.Amount, p.Refunded, p.Bps, sim.Balance(Accounts.CreatorPending(p.Creator, p.Currency)));
                Assert.True(amount <= p.Split.Creator - p.CreatorRefunded, "released more than the payment still owes the creator");
                sim.Post(Postings.HoldReleased(p.Creator, p.Currency, amount));
                p.Released = true;
                break;
            }
            case 4:   // a payout batch for one creator and currency (minimum from the op)
            {
                var creator = Creators[a % Creators.Length];
                var currency = Currencies[b % Currencies.Length];
                var amount = Holds.Payable(sim.Balance(Accounts.CreatorAvailable(creator, currency)), 1 + c % 5_000);
                if (amount == 0) return;
                sim.Post(Postings.PayoutStarted(creator, currency, amount));
                sim.Payouts.Add(new SimPayout(creator, currency, amount, Providers[c % Providers.Length].Name));
                Assert.True(sim.Balance(Accounts.CreatorAvailable(creator, currency)) == 0, "a payout pays the whole available balance");
                break;
            }
            case 5:   // the provider answers one open payout: paid or failed
            {
                var open = sim.Payouts.Where(p => p.Open).ToList();
                if (open.Count == 0) return;
                var payout = open[a % open.Count];
                if (b % 3 != 0)
                {
                    sim.Post(Postings.PayoutPaid(payout.Provider, payout.Currency, payout.Amount));
                    sim.PaidOut[payout.Currency] = sim.PaidOut.GetValueOrDefault(payout.Currency) + payout.Amount;
                }
                else sim.Post(Postings.PayoutFailed(payout.Creator, payout.Currency, payout.Amount));
                payout.Open = false;
                break;
            }
        }
        foreach (var creator in Creators)
        foreach (var currency in Currencies)
        {
            Assert.True(sim.Balance(Accounts.CreatorPending(creator, currency)) <= 0, "pending never turns into a debt");
            var available = Accounts.CreatorAvailable(creator, currency);
            Assert.True(sim.Balance(available) <= 0 || sim.AvailableWentPositiveByRefund.Contains(available), "available goes negative only through a refund");
        }
    }

    static void AssertInvariants(Sim sim)
    {
        // Trial balance: zero in every currency.
        foreach (var g in sim.Balances.GroupBy(kv => kv.Key.Split(':')[^1]))
            Assert.True(g.Sum(kv => kv.Value) == 0, $"trial balance in {g.Key} is {g.Sum(kv => kv.Value)}");

        foreach (var currency in Currencies)
        {
            var payments = sim.Payments.Where(p => p.Currency == currency).ToList();
            var captured = payments.Sum(p => p.Amount);
            var refunded = payments.Sum(p => p.Refunded);
            var paidOut = sim.PaidOut.GetValueOrDefault(currency);
            var inTransit = sim.Payouts.Where(p => p.Open && p.Currency == currency).Sum(p => p.Amount);

            // The providers hold what was captured, less refunds and what they paid creators on our behalf.
            var clearing = Providers.Sum(p => sim.Balance(Accounts.ProviderClearing(p.Name, currency)));
            Assert.Equal(captured - refunded - paidOut, clearing);
            // Creators are owed their shares less their refund parts less what reached them or is on its way.
            var creatorsOwed = -Creators.Sum(c => sim.Balance(Accounts.CreatorPending(c, currency)) + sim.Balance(Accounts.CreatorAvailable(c, currency)));
            Assert.Equal(payments.Sum(p => p.Split.Creator - p.CreatorRefunded) - paidOut - inTransit, creatorsOwed);
            Assert.Equal(-inTransit, sim.Balance(Accounts.PayoutsInTransit(currency)));
            // Platform and fees keep the rest; the platform bears refunds beyond the creator's part, and keeps bearing the fee.
            var platformAndFees = -(sim.Balance(Accounts.PlatformRevenue(currency)) + Providers.Sum(p => sim.Balance(Accounts.ProviderFees(p.Name, currency))));
            Assert.Equal(payments.Sum(p => p.Split.Platform + p.Split.Fee - (p.Refunded - p.CreatorRefunded)), platformAndFees);
            // Nothing else exists: every unit of money captured is accounted for by these holders.
            Assert.Equal(captured, clearing + refunded + paidOut);
        }
    }

    [Theory]
    [InlineData(1, 7000, "JPY")]
    [InlineData(3, 3333, "JPY")]
    [InlineData(2000, 7000, "JPY")]
    [InlineData(9900, 7000, "CNY")]
    [InlineData(1, 10000, "CNY")]
    [InlineData(1001, 1, "KWD")]
    public void PartialRefundsInAnyNumberOfParts_ReturnExactlyTheCreatorShare_AndReleaseNothingMore(long amount, int bps, string currency)
    {
        var split = RevenueSplit.For(amount, bps, new ProviderFee(60, 0));
        long refunded = 0, creatorBack = 0;
        while (refunded < amount)
        {
            var part = Math.Max(1, (amount - refunded) / 3);
            creatorBack += RefundSplit.CreatorPart(refunded, part, bps);
            refunded += part;
        }
        Assert.Equal(split.Creator, creatorBack);
        Assert.Equal(0, Holds.Releasable(amount, refunded, bps, -1_000_000));
        Assert.True(Currency.Of(currency).Code == currency);
    }
}
