using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <summary>
/// GET /v1/mandates/{id}, and POST /v1/mandates/{id}/revoke: ends the agreement at the provider
/// (<see cref="IRecurringProvider.TerminateMandateAsync"/>), then applies the answer as any provider state
/// (<see cref="MandateUpdates"/>): revoked, mandate.revoked, no further charge under it.
/// </summary>
public static class Mandates
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/mandates/{id}", Get).RequireScope("billing:read");
        v1.MapPost("/mandates/{id}/revoke", Revoke).RequireScope("billing:write");
    }

    static async Task<Results<Ok<MandateView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var mandate = await db.Mandates.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id && m.MerchantId == merchant.Id, ct);
        return mandate is null ? Problems.NotFound("mandate", id) : TypedResults.Ok(MandateView.From(mandate));
    }

    static async Task<Results<Ok<MandateView>, ProblemHttpResult>> Revoke(string id, AuthenticatedMerchant merchant, KnowPayDb db,
        RecurringProviders providers, TimeProvider clock, ILogger<MandateUpdates> log, CancellationToken ct)
    {
        var mandate = await db.Mandates.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id && m.MerchantId == merchant.Id, ct);
        if (mandate is null) return Problems.NotFound("mandate", id);
        if (MandateTransitions.IsTerminal(mandate.Status)) return TypedResults.Ok(MandateView.From(mandate));
        if (!providers.TryGet(mandate.Provider, out var provider))
            return Problems.Conflict("provider_disabled", $"The provider '{mandate.Provider}' is not enabled on this server.");
        MandateState state;
        try
        {
            state = await provider.TerminateMandateAsync(mandate, "merchant", ct);
        }
        catch (ProviderException e)
        {
            log.LogWarning(e, "{Provider} did not end agreement {MandateId}", mandate.Provider, mandate.Id);
            return Problems.Of(StatusCodes.Status502BadGateway, "provider_error", $"{mandate.Provider} did not end the agreement: {e.Code}.");
        }
        if (state.Status == MandateStatus.Revoked)
            await MandateUpdates.ApplyAsync(db, mandate, state with { Reason = state.Reason ?? "merchant" }, clock.GetUtcNow().UtcDateTime, ct);
        var after = await db.Mandates.AsNoTracking().SingleAsync(m => m.Id == id, ct);
        return TypedResults.Ok(MandateView.From(after));
    }
}
