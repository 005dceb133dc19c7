using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Ledger;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Payouts;

public sealed record CreatePayoutBatchRequest([property: Required] string? Currency, long? MinimumAmount, string? Provider);

public sealed record PayoutBatchView(string Id, string Object, string Currency, long MinimumAmount, string Provider, IReadOnlyList<PayoutView> Payouts);

/// <summary>
/// POST /v1/payouts/batches {currency, minimum_amount, provider?}: pays every creator whose available balance in the
/// currency is at least minimum_amount (default 1). Each payout row and its "payout" journal (creator available →
/// payouts in transit) commit together; then the transfer is sent and its answer applied. Two batches racing for one
/// creator cannot both pay it: the payout's (merchant, creator, currency, sequence) is unique, and the sequence is read
/// before the balance, so whoever reads the balance after a rival's payout also reads its sequence and collides.
/// </summary>
public static class CreatePayoutBatch
{
    public static void Map(RouteGroupBuilder v1) =>
        v1.MapPost("/payouts/batches", Handle).RequireScope("payouts:write").Produces(StatusCodes.Status422UnprocessableEntity); // limit_creator_*

    static async Task<Results<Created<PayoutBatchView>, ProblemHttpResult>> Handle(
        CreatePayoutBatchRequest body, AuthenticatedMerchant merchant, KnowPayDb db, PayoutRails rails, TimeProvider clock,
        ILoggerFactory logs, IOptions<MoneyOptions> money, CancellationToken ct)
    {
        if (!Currency.TryFind(body.Currency, out var currency))
            return Problems.Invalid("currency_unsupported", "currency", $"'{body.Currency}' is not an ISO 4217 currency.");
        var minimum = body.MinimumAmount ?? 1;
        if (minimum < 1) return Problems.Invalid("amount_invalid", "minimum_amount", "minimum_amount must be at least 1 (minor units).");
        var limit = money.Value.Limit;
        if (!limit.Allows(minimum, currency)) return Problems.Invalid("amount_too_large", "minimum_amount", limit.Describe(currency));
        var providerName = body.Provider ?? "sandbox";
        if (!rails.TryGet(providerName, out var rail))
            return Problems.Invalid("provider_unsupported", "provider", $"'{providerName}' cannot pay out here; enabled: {string.Join(", ", rails.Names)}.");

        var log = logs.CreateLogger(nameof(CreatePayoutBatch));
        var batchId = Ids.New("pob");
        var code = currency.Code;
        var suffix = $":available:{code}";
        var candidates = (await LedgerBalances.ByAccountAsync(db, merchant.Id, "creator:", ct))
            .Where(a => a.Account.EndsWith(suffix, StringComparison.Ordinal) && Holds.Payable(a.Balance, minimum) > 0)
            .Select(a => (CreatorId: a.Account.Split(':')[1], Amount: Math.Min(Holds.Payable(a.Balance, minimum), limit.MaxMinorUnits(currency)))).ToList();
        if (await CreatorLimitExceededAsync(db, merchant.Id, code, candidates, clock.GetUtcNow().UtcDateTime, ct) is { } refused) return refused;

        var created = new List<Payout>();
        foreach (var (creatorId, _) in candidates)
        {
            if (await StartAsync(db, merchant.Id, batchId, creatorId, code, minimum, limit.MaxMinorUnits(currency), rail.Name, clock.GetUtcNow().UtcDateTime, ct) is { } payout)
                created.Add(payout);
        }
        foreach (var payout in created)
            await PayoutSettlement.SendAsync(db, rail, payout, clock.GetUtcNow().UtcDateTime, log, ct);

        var ids = created.Select(p => p.Id).ToList();
        var views = (await db.Payouts.AsNoTracking().Where(p => ids.Contains(p.Id)).ToListAsync(ct))
            .OrderBy(p => p.Id, StringComparer.Ordinal).Select(PayoutView.From).ToList();
        return TypedResults.Created($"/v1/payouts?batch_id={batchId}", new PayoutBatchView(batchId, "payout_batch", code, minimum, rail.Name, views));
    }

    /// <summary>
    /// The merchant's per-creator payout limits (risk settings), checked for every payout of the batch before any is written:
    /// one creator over a limit refuses the whole batch with 422 <c>limit_&lt;name&gt;</c>, naming the limit and the creator.
    /// </summary>
    static async Task<ProblemHttpResult?> CreatorLimitExceededAsync(KnowPayDb db, string merchantId, string currency,
        List<(string CreatorId, long Amount)> payouts, DateTime now, CancellationToken ct)
    {
        var limits = await db.RiskPolicies.AsNoTracking().Where(p => p.MerchantId == merchantId)
            .Select(p => new CreatorPayoutLimits(p.CreatorPayoutMax, p.CreatorDailyPayoutAmount)).SingleOrDefaultAsync(ct);
        if (limits is null or { PayoutMax: null, DailyAmount: null } || payouts.Count == 0) return null;
        var since = now.AddHours(-24);
        var creators = payouts.Select(p => p.CreatorId).ToList();
        var paidOut = limits.DailyAmount is null ? [] : await db.Payouts.AsNoTracking()
            .Where(p => p.MerchantId == merchantId && p.Currency == currency && p.CreatedAt >= since && p.Status != PayoutStatus.Failed && creators.Contains(p.CreatorId))
            .GroupBy(p => p.CreatorId).Select(g => new { CreatorId = g.Key, Amount = g.Sum(p => p.Amount) }).ToDictionaryAsync(g => g.CreatorId, g => g.Amount, ct);
        foreach (var (creatorId, amount) in payouts)
        {
            if (limits.Check(amount, paidOut.GetValueOrDefault(creatorId)) is not { } exceeded) continue;
            var problem = Problems.Of(StatusCodes.Status422UnprocessableEntity, exceeded.Code,
                $"The payout of {amount} {currency} to creator '{creatorId}' exceeds the merchant's limit {exceeded.Limit} ({exceeded.Value}).");
            problem.ProblemDetails.Extensions["limit"] = exceeded.Limit;
            problem.ProblemDetails.Extensions["limit_value"] = exceeded.Value;
            problem.ProblemDetails.Extensions["creator_id"] = creatorId;
            return problem;
        }
        return null;
    }

    /// <summary>
    /// Creates one payout with its journal, or returns null when the creator has nothing to pay or a rival batch won.
    /// A payout carries at most <paramref name="maximum"/>; the rest stays available for the next batch.
    /// </summary>
    public static async Task<Payout?> StartAsync(KnowPayDb db, string merchantId, string batchId, string creatorId, string currency, long minimum,
        long maximum, string provider, DateTime now, CancellationToken ct)
    {
        // Order matters: the sequence first, then the balance (see the class summary).
        var sequence = await db.Payouts.Where(p => p.MerchantId == merchantId && p.CreatorId == creatorId && p.Currency == currency)
            .MaxAsync(p => (int?)p.Sequence, ct) ?? 0;
        var available = await LedgerBalances.AccountBalanceAsync(db, merchantId, Accounts.CreatorAvailable(creatorId, currency), ct);
        var amount = Math.Min(Holds.Payable(available, minimum), maximum);
        if (amount == 0) return null;
        var payout = new Payout
        {
            Id = Ids.New("po"), MerchantId = merchantId, CreatorId = creatorId, BatchId = batchId, Provider = provider, Amount = amount,
            Currency = currency, Sequence = sequence + 1, Status = PayoutStatus.Pending, CreatedAt = now, LastSentAt = now,
        };
        db.Payouts.Add(payout);
        db.Journals.Add(Journals.Build(merchantId, "payout", payout.Id, $"Payout {payout.Id} to {creatorId}",
            Postings.PayoutStarted(creatorId, currency, amount), now));
        try
        {
            await db.SaveChangesAsync(ct);   // one transaction: the payout row and its journal
            return payout;
        }
        catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
        {
            return null;
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }
}
