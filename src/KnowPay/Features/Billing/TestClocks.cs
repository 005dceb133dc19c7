using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

public sealed record TestClockRequest([property: Required] DateTime? FrozenTime, [property: ColumnLength(200)] string? Name = null);

/// <summary>
/// Test clocks (sandbox mode only), as Stripe's: POST /v1/test_clocks {frozen_time}, GET /v1/test_clocks/{id}, and
/// POST /v1/test_clocks/{id}/advance {frozen_time}, which runs the renewal engine for the clock's subscriptions at each
/// instant something falls due up to the new time — renewals, retries, trial ends, expiries, in order — and answers when
/// done. The real clock never moves; the real renewal job leaves the clock's subscriptions alone.
/// </summary>
public static class TestClocks
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/test_clocks", Create).RequireScope("billing:write");
        v1.MapGet("/test_clocks/{id}", Get).RequireScope("billing:read");
        v1.MapPost("/test_clocks/{id}/advance", Advance).RequireScope("billing:write");
    }

    public static bool Available(IServiceProvider services) => services.GetService<KnowPay.Sandbox.SandboxOptions>() is not null;

    public static ProblemHttpResult Unavailable => Problems.Conflict("test_clocks_unavailable", "Test clocks exist only in sandbox mode (Sandbox:Enabled).");

    /// <summary>Years 2000–2199: far enough from DateTime's ends that a subscription's periods and trials stay representable.</summary>
    static bool InRange(DateTime time) => time.ToUniversalTime().Year is >= 2000 and < 2200;

    static readonly ProblemHttpResult FrozenTimeInvalid =
        Problems.Invalid("frozen_time_invalid", "frozen_time", "frozen_time is required: an ISO 8601 time in the years 2000–2199.");

    /// <summary>The subscription's now: its test clock's frozen time, else the real time.</summary>
    public static async Task<DateTime> NowAsync(KnowPayDb db, string? testClockId, DateTime realNow, CancellationToken ct) =>
        testClockId is null ? realNow : await db.TestClocks.Where(c => c.Id == testClockId).Select(c => c.FrozenTime).SingleAsync(ct);

    static async Task<Results<Created<TestClockView>, ProblemHttpResult>> Create(TestClockRequest body, AuthenticatedMerchant merchant,
        IServiceProvider services, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        if (!Available(services)) return Unavailable;
        if (body.FrozenTime is not { } frozen || !InRange(frozen)) return FrozenTimeInvalid;
        var testClock = new TestClock
        {
            Id = Ids.New("clock"), MerchantId = merchant.Id, FrozenTime = frozen.ToUniversalTime(), Status = "ready", Name = body.Name,
            CreatedAt = clock.GetUtcNow().UtcDateTime,
        };
        db.TestClocks.Add(testClock);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/v1/test_clocks/{testClock.Id}", TestClockView.From(testClock));
    }

    static async Task<Results<Ok<TestClockView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var testClock = await db.TestClocks.AsNoTracking().SingleOrDefaultAsync(c => c.Id == id && c.MerchantId == merchant.Id, ct);
        return testClock is null ? Problems.NotFound("test_clock", id) : TypedResults.Ok(TestClockView.From(testClock));
    }

    static async Task<Results<Ok<TestClockView>, ProblemHttpResult>> Advance(string id, TestClockRequest body, AuthenticatedMerchant merchant,
        IServiceProvider services, CancellationToken ct)
    {
        if (!Available(services)) return Unavailable;
        var s = BillingServices.From(services);
        var db = s.Db;
        var testClock = await db.TestClocks.AsNoTracking().SingleOrDefaultAsync(c => c.Id == id && c.MerchantId == merchant.Id, ct);
        if (testClock is null) return Problems.NotFound("test_clock", id);
        if (body.FrozenTime is not { } requested || !InRange(requested)) return FrozenTimeInvalid;
        var target = requested.ToUniversalTime();
        if (target < testClock.FrozenTime)
            return Problems.Invalid("test_clock_backwards", "frozen_time", $"A test clock only moves forward: it is at {testClock.FrozenTime:O}.");
        // One advance at a time per clock: the conditional update is the arbiter.
        if (await db.TestClocks.Where(c => c.Id == id && c.Status == "ready").ExecuteUpdateAsync(u => u.SetProperty(c => c.Status, "advancing"), ct) == 0)
            return Problems.Conflict("test_clock_advancing", $"Test clock '{id}' is being advanced by another request.");
        try
        {
            var settleUntil = s.RealNow + SettleLimit;
            (DateTime At, DateTime Until) skipped = default;
            // Each instant something is due, in order; a step's own follow-up (a retry, the next renewal) is found by the next turn.
            for (var turn = 0; turn < 10_000; turn++)
            {
                var next = await db.Subscriptions.Where(x => x.TestClockId == id && x.NextActionAt != null && x.NextActionAt <= target)
                    .OrderBy(x => x.NextActionAt).Select(x => x.NextActionAt).FirstOrDefaultAsync(CancellationToken.None);
                if (next is not { } at) break;
                at = at < testClock.FrozenTime ? testClock.FrozenTime : at;
                await db.TestClocks.Where(c => c.Id == id).ExecuteUpdateAsync(u => u.SetProperty(c => c.FrozenTime, at), CancellationToken.None);
                var ran = await Renewals.RunAsync(s, at, id, CancellationToken.None);
                await SettleAsync(s, id, at, settleUntil);
                if (ran == 0 && await DueLeftAsync(db, id, at, s.RealNow) is { } unclaimed)
                {
                    // The claim skips a row another transaction holds locked (PostgreSQL's SKIP LOCKED): the provider's
                    // notification confirming the charge just made. Unclaimed due work is tried again while that commits.
                    if (skipped.At != at) skipped = (at, s.RealNow + LockedRowWait);
                    if (unclaimed && db.IsPostgres && s.RealNow < skipped.Until)
                    {
                        await Task.Delay(20);
                        continue;
                    }
                    // Said, because the clock still moves to the target: the operator should know what it left behind.
                    s.Log.LogWarning("Test clock {TestClockId} left work due at {At:O} undone (a charge waiting at its provider, or a renewal " +
                                     "that failed and keeps its claim until the lease ends); moving to {Target:O}", id, at, target);
                    break;
                }
            }
        }
        finally
        {
            await db.TestClocks.Where(c => c.Id == id).ExecuteUpdateAsync(u => u
                .SetProperty(c => c.FrozenTime, target).SetProperty(c => c.Status, "ready"), CancellationToken.None);
        }
        var after = await db.TestClocks.AsNoTracking().SingleAsync(c => c.Id == id, ct);
        return TypedResults.Ok(TestClockView.From(after));
    }

    /// <summary>The real time an advance waits, in all, for asynchronous charges (WeChat Pay's deductions) to settle.</summary>
    static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Waits (real time, at most until <paramref name="until"/>) while a charge made at <paramref name="at"/> for the clock's
    /// subscriptions is pending at the provider: a deduction accepted now and settled by its notification belongs to this
    /// instant, so the clock moves on only after it. A charge deferred to a later attempt (invoice next_payment_attempt after
    /// <paramref name="at"/>) is not waited for; past the limit the engine's pending recheck settles it.
    /// </summary>
    static async Task SettleAsync(BillingServices s, string id, DateTime at, DateTime until)
    {
        var db = s.Db;
        while (s.RealNow < until && await db.Invoices.AnyAsync(i => i.Status == InvoiceStatus.Open && i.AttemptPaymentId != null
                   && (i.NextAttemptAt == null || i.NextAttemptAt <= at)
                   && db.Subscriptions.Any(x => x.Id == i.SubscriptionId && x.TestClockId == id)
                   && db.Payments.Any(p => p.Id == i.AttemptPaymentId && p.Status == PaymentStatus.Pending)))
            await Task.Delay(50);
    }

    /// <summary>The real time an advance retries, at one instant, due work the claim skipped because its row was locked.</summary>
    static readonly TimeSpan LockedRowWait = TimeSpan.FromSeconds(2);

    /// <summary>
    /// What a run left due at <paramref name="at"/>: null when nothing, true when some of it has no renewal's claim on it
    /// (skipped, not failed), false when every row is claimed (a renewal that failed keeps its claim until the lease ends).
    /// </summary>
    static Task<bool?> DueLeftAsync(KnowPayDb db, string id, DateTime at, DateTime realNow) =>
        db.Subscriptions.Where(x => x.TestClockId == id && x.NextActionAt != null && x.NextActionAt <= at)
            .Select(x => (bool?)(x.ClaimedUntil == null || x.ClaimedUntil < realNow)).OrderByDescending(unclaimed => unclaimed).FirstOrDefaultAsync();
}
