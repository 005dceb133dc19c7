using KnowPay.Features.Audit;
using KnowPay.Features.Keys;
using KnowPay.Features.Catalog;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Features.Ledger;
using KnowPay.Features.Monitoring;
using KnowPay.Features.Orders;
using KnowPay.Features.Payments;
using KnowPay.Features.Reconciliation;
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
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KnowPay;

/// <summary>Composition of the KnowPay server: services, middleware and every endpoint. Tests and the benchmark build it the same way.</summary>
public static class KnowPayApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        builder.AddKnowPayOptions();
        var maxRequestBodyBytes = builder.AddBoundOptions<KnowPayOptions>().MaxRequestBodyBytes;
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = maxRequestBodyBytes);
        builder.Services.ConfigureHttpJsonOptions(o => KnowPayJson.Configure(o.SerializerOptions));
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddProblemDetails();
        builder.Services.AddKnowPayOpenApi();
        builder.Services.TryAddSingleton(TimeProvider.System);   // a test may have put its clock in first
        builder.Services.AddSingleton<PublicUrl>();
        builder.Services.AddSingleton<AwaitedPayments>();
        builder.AddKnowPayDatabase();
        builder.AddKnowPaySecrets();
        builder.AddAuditTrail();
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);

        builder.Services.AddSingleton<IJob, PaymentPoller>();
        builder.Services.AddSingleton<IJob, OrderExpiry>();
        builder.Services.AddSingleton<IJob, IdempotencyKeyExpiry>();
        builder.Services.AddSingleton<IJob, RefundPoller>();
        builder.Services.AddSingleton<IJob, AlertEvaluator>();
        builder.Services.AddSingleton<IJob, DuplicatePaymentRefunds>();
        builder.Services.AddSingleton<IJob, KnowPay.Features.Billing.Renewals>();
        KnowPay.Features.Risk.RiskWiring.AddRisk(builder);
        builder.Services.AddSingleton<KnowPay.Features.Fx.FxSourceUrl>();
        builder.Services.AddSingleton<KnowPay.Features.Fx.IFxRateSource, KnowPay.Features.Fx.EcbRateSource>();
        builder.Services.AddSingleton<IJob, KnowPay.Features.Fx.FxRateRefresh>();
        builder.Services.AddHttpClient(KnowPay.Features.Fx.EcbRateSource.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddHostedService<JobRunner>();
        builder.Services.AddSingleton<WebhookDispatcher>();
        builder.Services.AddHostedService<WebhookDispatcherService>();
        var webhookTimeout = TimeSpan.FromSeconds(builder.AddBoundOptions<WebhooksOptions>().TimeoutSeconds);
        // Every delivery connects through the address policy: the address checked is the address connected to.
        builder.Services.AddHttpClient(WebhookDispatcher.HttpClientName, c => c.Timeout = webhookTimeout)
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<WebhookAddressPolicy>().CreateHandler());
        WebhookAddressPolicy.AddWebhookAddressPolicy(builder);

        builder.Services.AddScoped<IRefundUpdates, RefundUpdates>();
        builder.Services.AddScoped<IMandateUpdates, KnowPay.Features.Billing.MandateUpdates>();
        builder.AddReconciliation();
        ProviderWiring.AddPaymentProviders(builder);
        builder.Services.AddLedger();
        builder.AddKnowPayTelemetry();
        builder.AddKnowPayPages();
        builder.AddKnowPaySecurityHeaders();
        builder.AddKnowPayRateLimits();
        builder.Services.AddSingleton<ApiKeyCache>();

        var app = builder.Build();
        app.Lifetime.ApplicationStarted.Register(() => app.Services.GetService<SandboxWiring>()?.Apply(app.Services.GetRequiredService<PublicUrl>()));
        app.UseKnowPaySecurityHeaders();
        app.UseKnowPayProblems();
        app.UseKnowPayTelemetry();
        app.UseApiKeyAuthentication();
        app.UseAuditTrail();
        app.UseKnowPayRateLimits();
        app.UseIdempotencyKeys();
        app.UseKnowPayPageCultures();

        app.MapKnowPayApiReference();
        app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapGet("/", () => Results.Redirect("/docs")).ExcludeFromDescription();

        var v1 = app.MapGroup("/v1").RefuseUnsafeText();
        Creators.Map(v1);
        Customers.Map(v1);
        Products.Map(v1);
        ListProducts.Map(v1);
        ArchiveProduct.Map(v1);
        CreateOrder.Map(v1);
        GetOrder.Map(v1);
        ListOrders.Map(v1);
        CreatePayment.Map(v1);
        GetPayment.Map(v1);
        ListPayments.Map(v1);
        CreateRefund.Map(v1);
        GetRefunds.Map(v1);
        ListRefunds.Map(v1);
        CustomerEntitlements.Map(v1);
        ListEvents.Map(v1);
        Redeliver.Map(v1);
        WebhookEndpoints.Map(v1);
        ApiKeyEndpoints.Map(v1);
        ListAuditEvents.Map(v1);
        KnowPay.Features.Billing.BillingEndpoints.Map(v1);
        ReconciliationRuns.Map(v1);
        KnowPay.Features.Risk.RiskWiring.Map(v1);
        KnowPay.Features.Fx.FxEndpoints.Map(v1);

        var notify = v1.MapGroup("/notify");
        notify.MapNotification(new SandboxPayNotify());
        LedgerModule.MapLedger(v1, notify);
        notify.MapNotification(new AlipayNotify());
        notify.MapNotification(new WeChatPayNotify());
        notify.MapNotification(new StripeNotify());
        notify.MapNotification(new PayPalNotify());

        app.MapKnowPayPages();
        if (app.Services.GetService<SandboxOptions>() is not null) app.MapKnowPaySandbox();
        return app;
    }
}
