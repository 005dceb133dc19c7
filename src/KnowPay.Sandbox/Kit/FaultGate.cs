
namespace KnowPay.Sandbox;

/// <summary>
/// The API faults of <see cref="SandboxFaults"/> as every simulator applies them: a failing trade gets the provider's own
/// 5xx before anything is done; a stalled one is answered late after acting, so the caller's retry meets work already
/// done and must be idempotent.
/// </summary>
public sealed class FaultGate(SandboxFaults faults)
{
    /// <summary>Acts for the trade unless its calls fail; stalls the answer after acting.</summary>
    public Task<IResult> PassAsync(string? tradeKey, Func<IResult> unavailable, Func<IResult> act) =>
        PassOrReplayAsync(tradeKey, unavailable, () => (act(), true));

    /// <summary>As <see cref="PassAsync"/>, for an idempotent API: a replayed answer (nothing acted) is not stalled.</summary>
    public async Task<IResult> PassOrReplayAsync(string? tradeKey, Func<IResult> unavailable, Func<(IResult Answer, bool Acted)> act)
    {
        var fault = faults.For(tradeKey);
        if (fault.ApiError5xx) return unavailable();
        var (answer, acted) = act();
        if (acted && fault.ApiStallMs > 0) await Task.Delay(fault.ApiStallMs);
        return answer;
    }

    /// <summary>Whether the trade's calls fail: all a read that is never stalled checks.</summary>
    public bool Failing(string? tradeKey) => faults.For(tradeKey).ApiError5xx;

    /// <summary>Whether the buyer's payment is declined (<see cref="FaultSettings.SuccessRate"/>); each call counts as one payment.</summary>
    public bool Declines(string? tradeKey) => faults.Declines(tradeKey);

    /// <summary>Whether a refund is answered as still in progress (after acting: its notification or a query completes it).</summary>
    public bool AnswersRefundPending(string? tradeKey) => faults.For(tradeKey).RefundAnswerPending;
}
