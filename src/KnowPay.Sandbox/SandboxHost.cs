using KnowPay.Sandbox.Alipay;
using KnowPay.Sandbox.Ecb;
using KnowPay.Sandbox.SandboxPay;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Sandbox.PayPal;
using KnowPay.Sandbox.Stripe;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

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
            faults.Set(body.Trade, body.Settings);
            return Results.NoContent();
        });
        sandbox.MapDelete("/faults", (SandboxFaults faults) =>
        {
            faults.Clear();
            return Results.NoContent();
        });
    }

    /// <summary>
    /// The body of POST /faults: <c>trade</c> beside the fields of <see cref="FaultSettings"/> (snake_case, flat), read
    /// into that record itself so that a new fault is declared once; a body that is not a JSON object answers 400.
    /// </summary>
    public sealed record FaultRequest(string? Trade, FaultSettings Settings)
    {
        public static async ValueTask<FaultRequest?> BindAsync(HttpContext context)
        {
            var json = context.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
            try
            {
                if (await context.Request.ReadFromJsonAsync<JsonObject>(json) is not { } body) return null;
                var trade = body["trade"]?.GetValue<string>();
                body.Remove("trade");
                return new FaultRequest(trade, body.Deserialize<FaultSettings>(json) ?? new FaultSettings());
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                return null;
            }
        }
    }
}
