using KnowPay.Features.Payments;
using KnowPay.Providers;

namespace KnowPay.Tests.Providers;

/// <summary>A provider's paid statement carries the amount only when the provider stated both amount and currency.</summary>
public sealed class PaidFactTests
{
    [Theory]
    [InlineData(9900L, "CNY", true)]
    [InlineData(null, "CNY", false)]
    [InlineData(9900L, null, false)]
    [InlineData(null, null, false)]
    public void From_ATradeState_StatesTheAmountOnlyWhenBothPartsAreKnown(long? amount, string? currency, bool stated)
    {
        var fact = PaidFact.From("sandbox", "pay_1", new ProviderTradeState(TradeStatus.Paid, "T1", amount, currency), "query");

        Assert.Equal(stated ? new ReportedAmount(amount!.Value, currency!) : null, fact.Amount);
        Assert.Equal(("sandbox", "pay_1", "T1", "query"), (fact.Provider, fact.PaymentId, fact.ProviderTradeNo, fact.Via));
    }
}
