using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

/// <summary>Settings <c>RateLimits:*</c>; 0 turns a limit off. The defaults stop guessing, not traffic: a busy platform's
/// single key and the benchmark stay well under <see cref="PerKeyPerSecond"/>.</summary>
public sealed class RateLimitOptions : IBoundOptions
{
    public static string Section => "RateLimits";
    /// <summary>Requests per second per API key.</summary>
    [Between(0, 10_000_000)] public int PerKeyPerSecond { get; set; } = 10_000;
    /// <summary>Requests with an invalid API key per minute per client IP; past it every request from the IP gets 429.</summary>
    [Between(0, 10_000_000)] public int FailedAuthPerMinute { get; set; } = 20;
    /// <summary>Refused dashboard sign-ins per minute per client IP; past it every sign-in from the IP gets 429.</summary>
    [Between(0, 10_000_000)] public int FailedDashboardLoginsPerMinute { get; set; } = 10;
}

/// <summary>
/// Counts failures (wrong API keys, wrong dashboard keys) per client IP in a fixed one-minute window. Once the window's
/// budget is spent, the IP is refused before its credentials are even checked, so a guesser learns nothing until the
/// window ends.
/// </summary>
public sealed class FailedAttempts(int perMinute) : IDisposable
{
    readonly PartitionedRateLimiter<string> limiter = PartitionedRateLimiter.Create<string, string>(ip => perMinute <= 0
        ? RateLimitPartition.GetNoLimiter(ip)
        : RateLimitPartition.GetFixedWindowLimiter(ip, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = true,
        }));

    /// <summary>How long the client must wait, or null when it may try.</summary>
    public TimeSpan? Blocked(HttpContext http)
    {
        using var lease = limiter.AttemptAcquire(Client(http), 0);
        return lease.IsAcquired ? null : lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
    }

    public void Record(HttpContext http)
    {
        using var lease = limiter.AttemptAcquire(Client(http), 1);
    }

    static string Client(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    public void Dispose() => limiter.Dispose();
}

/// <summary>The two failure counters, one per way to present a key.</summary>
public sealed class AbuseLimits(IOptions<RateLimitOptions> options) : IDisposable
{
    public FailedAttempts ApiKeys { get; } = new(options.Value.FailedAuthPerMinute);
    public FailedAttempts DashboardLogins { get; } = new(options.Value.FailedDashboardLoginsPerMinute);

    public void Dispose()
    {
        ApiKeys.Dispose();
        DashboardLogins.Dispose();
    }
}

public static class RateLimits
{
    public static void AddKnowPayRateLimits(this WebApplicationBuilder builder)
    {
        builder.AddBoundOptions<RateLimitOptions>();
        builder.Services.AddSingleton<AbuseLimits>();
        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>>((o, limits) =>
        {
            var perKey = limits.Value.PerKeyPerSecond;
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
                perKey > 0 && http.Items[typeof(AuthenticatedMerchant)] is AuthenticatedMerchant { KeyId: { } keyId }
                    ? RateLimitPartition.GetFixedWindowLimiter(keyId, _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = perKey, Window = TimeSpan.FromSeconds(1), QueueLimit = 0, AutoReplenishment = true,
                    })
                    : RateLimitPartition.GetNoLimiter(""));
            o.OnRejected = (context, _) => new ValueTask(WriteAsync(context.HttpContext,
                context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1)));
        });
    }

    /// <summary>After API key authentication: the per-key limit, and the dashboard sign-in failure counter.</summary>
    public static void UseKnowPayRateLimits(this WebApplication app)
    {
        app.UseRateLimiter();
        var logins = app.Services.GetRequiredService<AbuseLimits>().DashboardLogins;
        app.Use(async (http, next) =>
        {
            if (!HttpMethods.IsPost(http.Request.Method) || !http.Request.Path.Equals("/dashboard/login", StringComparison.OrdinalIgnoreCase))
            {
                await next();
                return;
            }
            if (logins.Blocked(http) is { } wait)
            {
                await WriteAsync(http, wait);
                return;
            }
            await next();
            if (http.Response.StatusCode == StatusCodes.Status401Unauthorized) logins.Record(http);
        });
    }

    /// <summary>429 with Retry-After (whole seconds, at least 1) and the <c>rate_limited</c> problem.</summary>
    public static Task WriteAsync(HttpContext http, TimeSpan retryAfter)
    {
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Problems.ForStatus(StatusCodes.Status429TooManyRequests).ExecuteAsync(http);
    }
}
