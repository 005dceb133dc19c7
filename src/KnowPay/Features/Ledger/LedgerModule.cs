using KnowPay.Features.Payouts;
using KnowPay.Infrastructure;
using KnowPay.Providers.Sandbox;

namespace KnowPay.Features.Ledger;

/// <summary>The ledger's and payouts' services, jobs and endpoints, wired from <see cref="KnowPayApp"/>.</summary>
public static class LedgerModule
{
    /// <summary>The payout rails (<see cref="IPayoutRail"/>) are registered by the providers that can transfer.</summary>
    public static void AddLedger(this IServiceCollection services)
    {
        services.AddSingleton<IJob, HoldRelease>();
        services.AddSingleton<IJob, PayoutSync>();
        services.AddSingleton<IJob, LedgerCloseJob>();
        services.AddScoped<PayoutRails>();
    }

    public static void MapLedger(RouteGroupBuilder v1, IEndpointRouteBuilder notify)
    {
        CreatorLedger.Map(v1);
        LedgerReports.Map(v1);
        LedgerInvariants.Map(v1);
        DailyClose.Map(v1);
        AdjustmentJournals.Map(v1);
        CreatePayoutBatch.Map(v1);
        PayoutQueries.Map(v1);
        if (notify.ServiceProvider.GetRequiredService<IServiceProviderIsService>().IsService(typeof(SandboxPaySettings)))
            SandboxPayTransferNotify.Map(notify);
    }
}
