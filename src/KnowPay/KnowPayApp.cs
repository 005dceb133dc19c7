using System.Security.Cryptography;
using KnowPay.Features.Catalog;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using KnowPay.Features.Monitoring;
using KnowPay.Features.Orders;
using KnowPay.Features.Payments;
using KnowPay.Features.Refunds;
using KnowPay.Features.Webhooks;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.Sandbox;
using KnowPay.Providers.WeChatPay;
using KnowPay.Providers.PayPal;
using KnowPay.Providers.Stripe;
using KnowPay.Sandbox;
using Scalar.AspNetCore;

namespace KnowPay;

/// <summary>Composition of the KnowPay server: services, middleware and every endpoint. Tests and the benchmark build it the same way.</summary>
public static partial class KnowPayApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        var config = builder.Configuration;

        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = config.GetValue("KnowPay:MaxRequestBodyBytes", 64 * 1024));
        builder.Services.ConfigureHttpJsonOptions(o => KnowPayJson.Configure(o.SerializerOptions));
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<PublicUrl>();
        builder.Services.AddSingleton<AwaitedPayments>();
        builder.AddKnowPayDatabase();
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);

        builder.Services.AddSingleton<IJob, PaymentPoller>();
        builder.Services.AddSingleton<IJob, OrderExpiry>();
        builder.Services.AddSingleton<IJob, IdempotencyKeyExpiry>();
        builder.Services.AddSingleton<IJob, RefundPoller>();
        builder.Services.AddSingleton<IJob, AlertEvaluator>();
        builder.Services.AddSingleton<IJob, DuplicatePaymentRefunds>();
        builder.Services.AddHostedService<JobRunner>();
        builder.Services.AddSingleton<WebhookDispatcher>();
        builder.Services.AddHostedService<WebhookDispatcherService>();
        builder.Services.AddHttpClient(WebhookDispatcher.HttpClientName,
            c => c.Timeout = TimeSpan.FromSeconds(config.GetValue("Webhooks:TimeoutSeconds", 10)));
        WebhookAddressPolicy.AddWebhookAddressPolicy(builder);

        AddProviders(builder);
        builder.Services.AddLedger();
        builder.AddKnowPayTelemetry();
        builder.AddKnowPayPages();
        builder.AddKnowPaySecurityHeaders();
        builder.AddKnowPayRateLimits();

        var app = builder.Build();
        app.Lifetime.ApplicationStarted.Register(() => app.Services.GetService<SandboxWiring>()?.Apply());
        app.UseKnowPaySecurityHeaders();
        app.UseKnowPayProblems();
        app.UseKnowPayTelemetry();
        app.UseApiKeyAuthentication();
        app.UseKnowPayRateLimits();
        app.UseIdempotencyKeys();

        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapScalarApiReference("/docs", o => o.WithTitle("KnowPay API").WithOpenApiRoutePattern("/openapi/{documentName}.json").DisableDefaultFonts());
        app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapGet("/", () => Results.Redirect("/docs")).ExcludeFromDescription();

        var v1 = app.MapGroup("/v1");
        Creators.Map(v1);
        Customers.Map(v1);
        Products.Map(v1);
        CreateOrder.Map(v1);
        GetOrder.Map(v1);
        ListOrders.Map(v1);
        CreatePayment.Map(v1);
        GetPayment.Map(v1);
        CreateRefund.Map(v1);
        GetRefunds.Map(v1);
        CustomerEntitlements.Map(v1);
        ListEvents.Map(v1);
        Redeliver.Map(v1);
        WebhookEndpoints.Map(v1);

        var notify = v1.MapGroup("/notify");
        SandboxPayNotify.Map(notify);
        LedgerModule.MapLedger(v1, notify);
        AlipayNotify.Map(notify);
        WeChatPayNotify.Map(notify);
        StripeNotify.Map(notify);
        PayPalNotify.Map(notify);

        app.MapKnowPayPages();
        if (app.Services.GetService<SandboxOptions>() is not null) app.MapKnowPaySandbox();
        return app;
    }

    /// <summary>
    /// Registers each provider whose settings are complete; an incomplete one is disabled with a log line.
    /// With <c>Sandbox:Enabled</c> (default in Development) the embedded simulators run and every provider whose
    /// keys are not configured is wired to them with keys generated at start, so nothing needs configuring.
    /// </summary>
    static void AddProviders(WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var services = builder.Services;
        var sandboxEnabled = config.GetValue("Sandbox:Enabled", builder.Environment.IsDevelopment());
        var sandboxOptions = new SandboxOptions
        {
            TimeCompression = config.GetValue("Sandbox:TimeCompression", 1.0), MaxTrades = config.GetValue("Sandbox:MaxTrades", 20_000),
        };
        if (sandboxEnabled)
        {
            services.AddKnowPaySandbox(sandboxOptions);
            services.AddSingleton<SandboxWiring>();
        }
        services.AddScoped<PaymentProviders>();
        services.AddScoped<IRefundUpdates, RefundUpdates>();
        var disabled = new List<string>();

        // SandboxPay, the generic test provider.
        var sp = config.GetSection("Providers:Sandbox");
        if (sandboxEnabled || (sp["ApiBaseUrl"] is { Length: > 0 } && sp["Secret"] is { Length: > 0 }))
        {
            var secret = sp["Secret"] is { Length: > 0 } s ? s : Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            sandboxOptions.SandboxPaySecret = secret;
            services.AddSingleton(provider => new SandboxPaySettings(
                sp["ApiBaseUrl"] is { Length: > 0 } url ? url : provider.GetRequiredService<PublicUrl>().Combine("/sandbox/sandboxpay"),
                secret, PaymentProviders.FeeFrom(sp)));
            AddProviderClient(services, SandboxPayProvider.HttpClientName);
            services.AddScoped<IPaymentProvider>(provider => new SandboxPayProvider(
                provider.GetRequiredService<IHttpClientFactory>().CreateClient(SandboxPayProvider.HttpClientName),
                provider.GetRequiredService<SandboxPaySettings>(), provider.GetRequiredService<TimeProvider>()));
        }
        else disabled.Add("sandbox (Providers:Sandbox:ApiBaseUrl and Secret are not set)");

        AddChinaProviders(builder, sandboxEnabled ? sandboxOptions : null, disabled);
        StripeProvider.Register(builder, sandboxEnabled, sandboxOptions, disabled);
        PayPalProvider.Register(builder, sandboxEnabled, sandboxOptions, disabled);

        services.AddSingleton(new DisabledProviders(disabled));
    }

    /// <summary>
    /// Provider HTTP: per-attempt and total timeouts, retries on transient failures. Only used for calls the provider treats
    /// idempotently. No HttpClientFactory request logging (two log scopes per call on the hot path): every provider call is
    /// timed by <c>knowpay.provider.call.duration</c> and every failure is logged by the adapter.
    /// </summary>
    public static void AddProviderClient(IServiceCollection services, string name) =>
        services.AddHttpClient(name).RemoveAllLoggers().AddStandardResilienceHandler(o =>
        {
            o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(5);
            o.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(20);
            o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(30);
            o.Retry.MaxRetryAttempts = 2;
            o.Retry.Delay = TimeSpan.FromMilliseconds(200);
        });
}

public sealed record DisabledProviders(IReadOnlyList<string> Reasons);

/// <summary>Points the embedded sandbox's public URL at this server once it listens.</summary>
sealed class SandboxWiring(SandboxOptions options, PublicUrl publicUrl)
{
    public void Apply() => options.PublicBaseUrl = () => publicUrl.Combine(options.BasePath);
}
