using KnowPay.Sandbox.Alipay;
using KnowPay.Sandbox.Ecb;
using KnowPay.Sandbox.SandboxPay;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Sandbox.PayPal;
using KnowPay.Sandbox.Stripe;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Sandbox;

/// <summary>Mounts the provider simulators in a host. They talk to the merchant over HTTP only.</summary>
public static class SandboxHost
{
    public static IServiceCollection AddKnowPaySandbox(this IServiceCollection services, SandboxOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(sp => new SandboxClock(options.TimeCompression, sp.GetService<TimeProvider>()));
        services.AddSingleton<SandboxFaults>();
        services.AddSingleton<FaultGate>();
        services.AddSingleton<SandboxBills>();
        services.AddSingleton<SandboxRequestLog>();
        services.AddSingleton<SandboxNotifier>();
        services.AddSingleton<SandboxPayWire>();
        services.AddSingleton<SandboxPaySimulator>();
        services.AddSingleton<SandboxPayTransfers>();
        services.AddSingleton<AlipaySimulator>();
        services.AddSingleton<WeChatPaySimulator>();
        services.AddSingleton<StripeSimulator>();
        services.AddSingleton<PayPalSimulator>();
        services.AddHttpClient("sandbox-notifier", c => c.Timeout = TimeSpan.FromSeconds(10)).RemoveAllLoggers();
        return services;
    }

    public static void MapKnowPaySandbox(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<SandboxOptions>();
        var sandbox = app.MapGroup(options.BasePath).ExcludeFromDescription();
        var requests = app.ServiceProvider.GetRequiredService<SandboxRequestLog>();
        sandbox.AddEndpointFilter(async (context, next) =>
        {
            requests.Record(context.HttpContext.Request);
            return await next(context);
        });
        app.ServiceProvider.GetRequiredService<SandboxPaySimulator>().Map(sandbox);
        app.ServiceProvider.GetRequiredService<SandboxPayTransfers>().Map(sandbox);
        if (options.AlipayPrivateKeyPem.Length > 0) app.ServiceProvider.GetRequiredService<AlipaySimulator>().Map(sandbox);
        if (options.WeChatPlatformPrivateKeyPem.Length > 0) app.ServiceProvider.GetRequiredService<WeChatPaySimulator>().Map(sandbox);
        app.ServiceProvider.GetRequiredService<StripeSimulator>().Map(sandbox);
        app.ServiceProvider.GetRequiredService<PayPalSimulator>().Map(sandbox);
        sandbox.MapGet("/ecb/eurofxref-daily.xml", (SandboxClock clock) => Results.Text(EcbReferenceRates.Daily(clock.Now), "text/xml"));

        // Fault injection: POST {trade?, drop_notifications, duplicate_notifications, …, success_rate}; DELETE clears all.
        sandbox.MapPost("/faults", (FaultRequest body, SandboxFaults faults) =>
        {
            faults.Set(body.Trade, new FaultSettings(body.DropNotifications, body.DuplicateNotifications, body.DuplicateSpacingMs,
                body.NotificationDelayMs, body.ApiError5xx, body.ApiStallMs, body.ReorderRefundBeforePayment, body.RefundAnswerPending,
                body.BillOmits, body.BillAmountDelta, body.BillFeeDelta, body.BillRefundNextDay, body.BillExtraTrade, body.BillCurrency, body.BillPending,
                body.BillNotReady, body.BillCorrupt, body.BillRefundFeeDelta, body.SuccessRate));
            return Results.NoContent();
        });
        sandbox.MapDelete("/faults", (SandboxFaults faults) =>
        {
            faults.Clear();
            return Results.NoContent();
        });
    }

    public sealed record FaultRequest(
        string? Trade, bool DropNotifications, int DuplicateNotifications, int DuplicateSpacingMs, int NotificationDelayMs,
        bool ApiError5xx, int ApiStallMs, bool ReorderRefundBeforePayment, bool RefundAnswerPending = false,
        bool BillOmits = false, long BillAmountDelta = 0, long BillFeeDelta = 0, bool BillRefundNextDay = false, string? BillExtraTrade = null,
        string? BillCurrency = null, bool BillPending = false, bool BillNotReady = false, bool BillCorrupt = false, long BillRefundFeeDelta = 0, double SuccessRate = 1);
}
