using KnowPay.Data;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace KnowPay.Infrastructure;

/// <summary>/health/ready: the database answers.</summary>
public sealed class DatabaseHealthCheck(KnowPayDb db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        await db.Database.CanConnectAsync(ct) ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("database unreachable");
}
