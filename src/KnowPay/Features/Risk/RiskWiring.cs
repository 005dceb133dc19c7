using KnowPay.Infrastructure;

namespace KnowPay.Features.Risk;

public static class RiskWiring
{
    public static void AddRisk(WebApplicationBuilder builder)
    {
        builder.AddBoundOptions<RiskOptions>();
        builder.Services.AddSingleton<RiskPolicies>();
        builder.Services.AddSingleton<RiskEngine>();
        builder.Services.AddSingleton<IJob, RiskReviewTimeout>();
        builder.AddBoundOptions<RiskAnomalyOptions>();
        builder.Services.AddSingleton<Anomalies>();
        builder.Services.AddSingleton<IJob, AnomalyBaselines>();
    }

    public static void Map(RouteGroupBuilder v1)
    {
        RiskRulesApi.Map(v1);
        RiskListsApi.Map(v1);
        RiskSettingsApi.Map(v1);
        RiskReviews.Map(v1);
        EntitlementUsage.Map(v1);
        RiskBacktest.Map(v1);
    }
}
