using KnowPay.Features.Payouts;
using KnowPay.Infrastructure;
using KnowPay.Providers.Sandbox;

namespace KnowPay.Features.Ledger;

/// <summary>The ledger's and payouts' services, jobs and endpoints, wired from <see cref="KnowPayApp"/>.</summary>
public static class LedgerModule
{
    /// <summary>Call after the payment providers are registered: a payout rail exists for each provider that can transfer.</summary>
    public static void AddLedger(this IServiceCollection services)
    {
        services.AddSingleton<IJob, HoldRelease>();
        services.AddSingleton<IJob, PayoutSync>();
        services.AddScoped<PayoutRails>();
        if (services.Any(d => d.ServiceType == typeof(SandboxPaySettings)))
        {
            KnowPayApp.AddProviderClient(services, SandboxPayTransferClient.HttpClientName);
            services.AddScoped<IPayoutRail>(sp => new SandboxPayTransferClient(
                sp.GetRequiredService<IHttpClientFactory>().CreateClient(SandboxPayTransferClient.HttpClientName),
                sp.GetRequiredService<SandboxPaySettings>(), sp.GetRequiredService<PublicUrl>(), sp.GetRequiredService<TimeProvider>()));
        }
    }

    public static void MapLedger(RouteGroupBuilder v1, IEndpointRouteBuilder notify)
    {
        CreatorLedger.Map(v1);
        LedgerReports.Map(v1);
        LedgerInvariants.Map(v1);
        CreatePayoutBatch.Map(v1);
        PayoutQueries.Map(v1);
        if (notify.ServiceProvider.GetRequiredService<IServiceProviderIsService>().IsService(typeof(SandboxPaySettings)))
            SandboxPayTransferNotify.Map(notify);
    }
}
