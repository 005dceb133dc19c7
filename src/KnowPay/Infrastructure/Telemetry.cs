using System.Diagnostics;
using KnowPay.Features.Monitoring;
using Microsoft.Extensions.Http;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace KnowPay.Infrastructure;

/// <summary>
/// The one OpenTelemetry setup: traces and metrics for HTTP server and client, PostgreSQL (Npgsql), provider calls
/// (every "provider-*" HttpClient) and the business meter <see cref="KnowPayMetrics"/>. Metrics are scraped at
/// <c>/metrics</c> (Prometheus text); traces go to an OTLP collector when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or
/// <c>Telemetry:OtlpEndpoint</c> is set.
/// </summary>
public static class Telemetry
{
    public static void AddKnowPayTelemetry(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var otlp = builder.AddBoundOptions<TelemetryOptions>().OtlpEndpoint is { Length: > 0 } e ? e : config["OTEL_EXPORTER_OTLP_ENDPOINT"];
        builder.Services.AddSingleton<OutboxBacklogProbe>();
        builder.Services.AddSingleton<IOutboxBacklog, Features.Webhooks.WebhookBacklog>();
        builder.Services.ConfigureAll<HttpClientFactoryOptions>(o => o.HttpMessageHandlerBuilderActions.Add(b =>
        {
            if (b.Name?.StartsWith("provider-", StringComparison.Ordinal) == true) b.AdditionalHandlers.Insert(0, new ProviderCallMetrics(b.Name["provider-".Length..]));
        }));
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("knowpay"))
            .WithMetrics(m => m
                .AddMeter(KnowPayMetrics.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddNpgsqlInstrumentation()
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        if (!string.IsNullOrEmpty(otlp))
            otel.WithTracing(t =>
            {
                t.AddSource(KnowPayMetrics.MeterName)
                    .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/metrics") && !http.Request.Path.StartsWithSegments("/dashboard/stream"))
                    .AddHttpClientInstrumentation()
                    .AddNpgsql()
                    .AddOtlpExporter(o => o.Endpoint = new Uri(otlp));
            });
    }

    /// <summary>/metrics, and timing of provider notifications (handling latency by provider and status).</summary>
    public static void UseKnowPayTelemetry(this WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() => KnowPayMetrics.UseOutboxBacklog(app.Services.GetRequiredService<OutboxBacklogProbe>()));
        app.Lifetime.ApplicationStopping.Register(() => KnowPayMetrics.ReleaseOutboxBacklog(app.Services.GetRequiredService<OutboxBacklogProbe>()));
        app.Use(async (http, next) =>
        {
            if (!http.Request.Path.StartsWithSegments("/v1/notify", out var rest))
            {
                await next();
                return;
            }
            var started = Stopwatch.GetTimestamp();
            try
            {
                await next();
            }
            finally
            {
                KnowPayMetrics.NotificationHandled(rest.Value?.Trim('/') ?? "", http.Response.StatusCode, Stopwatch.GetElapsedTime(started));
            }
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
    }

    /// <summary>Times each provider HTTP call as the caller sees it (outermost handler: retries included).</summary>
    sealed class ProviderCallMetrics(string provider) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var started = Stopwatch.GetTimestamp();
            using var activity = KnowPayMetrics.Source.StartActivity($"provider {provider}", ActivityKind.Client);
            activity?.SetTag("knowpay.provider", provider);
            try
            {
                var response = await base.SendAsync(request, ct);
                KnowPayMetrics.ProviderCall(provider, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture), Stopwatch.GetElapsedTime(started));
                return response;
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                KnowPayMetrics.ProviderCall(provider, ex is OperationCanceledException ? "timeout" : "unreachable", Stopwatch.GetElapsedTime(started));
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                throw;
            }
        }
    }
}
