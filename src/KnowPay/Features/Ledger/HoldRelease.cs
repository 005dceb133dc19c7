using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Ledger;

/// <summary>
/// Moves each payment's creator share from pending to available once the refund window (<c>Ledger:HoldDays</c>,
/// default 7) has passed since the payment succeeded: one "hold_release" journal per payment, whose unique
/// (merchant, source type, source id) is the arbiter when several nodes run the job at once. The amount is what the
/// payment still owes the creator after its refunds, capped at the creator's pending balance (see <see cref="Holds.Releasable"/>);
/// a fully refunded payment posts an empty journal, which marks it done. Only payments that succeeded within
/// <c>Ledger:ReleaseLookbackDays</c> (default 60) before the cut-off are scanned.
/// </summary>
public sealed class HoldRelease(IServiceScopeFactory scopes, IOptions<LedgerOptions> ledger, ILogger<HoldRelease> log) : IJob
{
    public const string SourceType = "hold_release";
    public string Name => "hold_release";
    /// <summary><c>Ledger:ReleaseEverySeconds</c> (default 300): holds last days, and each run scans the payments of the
    /// look-back window, so it need not run on every 5 s tick.</summary>
    public TimeSpan Every => TimeSpan.FromSeconds(ledger.Value.ReleaseEverySeconds);

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        var cutoff = now - TimeSpan.FromDays(ledger.Value.HoldDays);
        var since = cutoff - TimeSpan.FromDays(ledger.Value.ReleaseLookbackDays);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var due = await db.Payments.AsNoTracking()
            .Where(p => p.CreatedAt >= since && p.SucceededAt != null && p.SucceededAt <= cutoff &&
                        !db.Journals.Any(j => j.MerchantId == p.MerchantId && j.SourceType == SourceType && j.SourceId == p.Id))
            .Join(db.Orders, p => p.OrderId, o => o.Id, (p, o) => new { p.Id, p.MerchantId, p.Amount, p.RefundedAmount, p.Currency, o.CreatorId, o.CreatorShareBps, o.FxFrom, o.FxFromAmount, o.CreatorCurrency, o.CreatorFxRate })
            .OrderBy(x => x.Id).Take(500).ToListAsync(ct);
        var released = 0;
        foreach (var p in due)
        {
            // One payment (one merchant's ledger) that cannot be released never holds back the others.
            try
            {
                // A converted price holds the creator's share in the price's currency: the captured and refunded amounts at the locked rate.
                var (currency, captured, refunded) = p.FxFrom is { } from && from != p.Currency && p.FxFromAmount is { } priced
                    ? (from, priced, FxMath.Portion(priced, 0, Math.Min(p.RefundedAmount, p.Amount), p.Amount))
                    : (p.Currency, p.Amount, p.RefundedAmount);
                // A creator paid in another currency holds the share converted at the order's locked rate, less its refunded parts.
                var creator = Fx.FxLedger.CreatorConversionOf(p.CreatorCurrency, p.CreatorFxRate, new Money(captured, Currency.Of(currency)), p.CreatorShareBps);
                if (creator is not null) currency = creator.Converted.Currency.Code;
                var pending = await LedgerBalances.AccountBalanceAsync(db, p.MerchantId, Accounts.CreatorPending(p.CreatorId, currency), ct);
                var amount = creator is null ? Holds.Releasable(captured, refunded, p.CreatorShareBps, pending)
                    : Math.Max(0, Math.Min(creator.Converted.MinorUnits - creator.PartOf(0, RefundSplit.CreatorPart(0, Math.Min(refunded, captured), p.CreatorShareBps)), -pending));
                db.Journals.Add(Journals.Build(p.MerchantId, SourceType, p.Id, $"Hold released for payment {p.Id}",
                    Postings.HoldReleased(p.CreatorId, currency, amount), now, paymentId: p.Id));
                await db.SaveChangesAsync(ct);
                released++;
            }
            catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
            {
                log.LogDebug("Hold of payment {PaymentId} was released by another node", p.Id);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Hold of payment {PaymentId} of merchant {MerchantId} could not be released; the others go on", p.Id, p.MerchantId);
                Monitoring.KnowPayMetrics.JobItemFailed(Name, p.MerchantId);
            }
            finally
            {
                db.ChangeTracker.Clear();
            }
        }
        return released;
    }
}
