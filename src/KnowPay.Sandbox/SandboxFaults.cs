using System.Collections.Concurrent;

namespace KnowPay.Sandbox;

/// <summary>
/// Faults the simulated providers inject, globally or for one trade (keyed by the merchant's out_trade_no):
/// drop notifications, duplicate them (optionally ~1 s apart), delay them, answer API calls with 5xx, or stall
/// them past the caller's timeout (after acting, so that a retry must be idempotent), or answer a refund as still in
/// progress (after acting: the refund notification or a query must complete it). The Bill* faults change the trade's
/// rows on the provider's bill (<see cref="SandboxBills"/>): left off, the amount or fee off by a delta, in another
/// currency, booked as still in progress, its refunds booked on the next day, or an extra trade under another
/// out_trade_no beside it; a refund giving back a fee off by a delta. Set on a refund's out_refund_no, they change
/// that refund's row alone. Set under a bill's own key (<see cref="SandboxBills.FaultKey"/>), BillNotReady answers that
/// the bill is still being made and BillCorrupt serves a file that is not the one vouched for (WeChat Pay: the SHA1
/// does not match; PayPal: the file is cut short). SuccessRate below 1 declines that share of the buyers' payments
/// (<see cref="SandboxFaults.Declines"/>) the same way where a simulator asks its <see cref="FaultGate"/>: SandboxPay and Stripe,
/// Alipay (the trade closes unpaid), WeChat Pay (PAYERROR, not notified) and PayPal (the capture is DECLINED).
/// </summary>
public sealed record FaultSettings(
    bool DropNotifications = false,
    int DuplicateNotifications = 0,
    int DuplicateSpacingMs = 0,
    int NotificationDelayMs = 0,
    bool ApiError5xx = false,
    int ApiStallMs = 0,
    bool ReorderRefundBeforePayment = false,
    bool RefundAnswerPending = false,
    bool BillOmits = false,
    long BillAmountDelta = 0,
    long BillFeeDelta = 0,
    bool BillRefundNextDay = false,
    string? BillExtraTrade = null,
    string? BillCurrency = null,
    bool BillPending = false,
    bool BillNotReady = false,
    bool BillCorrupt = false,
    long BillRefundFeeDelta = 0,
    double SuccessRate = 1);

public sealed class SandboxFaults
{
    readonly ConcurrentDictionary<string, FaultSettings> perTrade = new();
    public FaultSettings Global { get; private set; } = new();

    public FaultSettings For(string? tradeKey) =>
        tradeKey is not null && perTrade.TryGetValue(tradeKey, out var f) ? f : Global;

    /// <summary>The faults set for exactly this key, or null (no global fallback).</summary>
    public FaultSettings? Only(string key) => perTrade.GetValueOrDefault(key);

    long attempts;

    /// <summary>
    /// Whether the buyer's next payment under <see cref="FaultSettings.SuccessRate"/> is declined: of n consecutive payments
    /// exactly ⌊n · (1 − rate)⌋ fail, spread evenly (not drawn at random), so a test knows the counts. Setting faults restarts the count.
    /// </summary>
    public bool Declines(string? tradeKey)
    {
        var failBasisPoints = (long)Math.Round((1 - Math.Clamp(For(tradeKey).SuccessRate, 0, 1)) * 10_000);
        if (failBasisPoints == 0) return false;
        var n = Interlocked.Increment(ref attempts);
        return n * failBasisPoints / 10_000 > (n - 1) * failBasisPoints / 10_000;
    }

    public void Set(string? tradeKey, FaultSettings settings)
    {
        Interlocked.Exchange(ref attempts, 0);
        if (string.IsNullOrEmpty(tradeKey)) Global = settings;
        else perTrade[tradeKey] = settings;
    }

    public void Clear()
    {
        Interlocked.Exchange(ref attempts, 0);
        perTrade.Clear();
        Global = new FaultSettings();
    }
}
