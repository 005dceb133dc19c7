using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.PayPal;
using KnowPay.Providers.Sandbox;
using KnowPay.Providers.Stripe;
using KnowPay.Providers.WeChatPay;

namespace KnowPay.Providers;

/// <summary>What every provider's options have besides its credentials: <c>Providers:&lt;Name&gt;:FeeBps|FeeFixed|TimeoutMs</c>.</summary>
public abstract class ProviderOptions
{
    /// <summary>The provider's fee booked per payment: basis points of the amount, plus a fixed part in minor units.</summary>
    [Between(0, 10_000)] public int FeeBps { get; set; }
    [Between(0, 1_000_000_000)] public long FeeFixed { get; set; }
    /// <summary>Per-attempt timeout of a call to the provider.</summary>
    [Between(100, 60_000)] public int TimeoutMs { get; set; } = ProviderProtocol.DefaultTimeoutMs;

    public ProviderFee Fee => new(FeeBps, FeeFixed);
}

/// <summary>The providers whose settings are incomplete, each with the reason; the start banner logs them.</summary>
public sealed record DisabledProviders(IReadOnlyList<string> Reasons);

/// <summary>
/// What each provider's <c>Register(ProviderWiring)</c> works with, so that every provider is wired the same way:
/// it binds its options, takes its keys from them or — unconfigured, with the sandbox on — from <see cref="Sandbox"/>,
/// and then either <see cref="Add{TSettings}"/>s itself or is <see cref="Disable"/>d with a reason.
/// </summary>
public sealed class ProviderWiring(WebApplicationBuilder builder, SandboxWiring? sandbox)
{
    readonly List<string> disabled = [];

    public IServiceCollection Services => builder.Services;

    /// <summary>The embedded sandbox, or null when it does not run.</summary>
    public SandboxWiring? Sandbox => sandbox;

    public IReadOnlyList<string> Disabled => disabled;

    public T Options<T>() where T : ProviderOptions, IBoundOptions, new() => builder.AddBoundOptions<T>();

    public void Disable(string provider, string reason) => disabled.Add($"{provider} ({reason})");

    /// <summary>Registers an enabled provider: its settings (resolved once the public URL is known), its HttpClient and its adapter.</summary>
    public void Add<TSettings>(string httpClientName, ProviderOptions options, Func<PublicUrl, TSettings> settings,
        Func<IServiceProvider, HttpClient, TSettings, IPaymentProvider> adapter) where TSettings : class
    {
        Services.AddSingleton(sp => settings(sp.GetRequiredService<PublicUrl>()));
        Services.AddProviderHttpClient(httpClientName, TimeSpan.FromMilliseconds(options.TimeoutMs));
        Services.AddScoped(sp => adapter(sp, sp.GetRequiredService<IHttpClientFactory>().CreateClient(httpClientName), sp.GetRequiredService<TSettings>()));
    }

    /// <summary>A setting counts as given when it is not empty.</summary>
    public static string? Given(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>
    /// Registers each provider whose settings are complete; an incomplete one is disabled with a reason. With
    /// <c>Sandbox:Enabled</c> every provider whose keys are not configured is wired to the embedded simulators.
    /// </summary>
    public static void AddPaymentProviders(WebApplicationBuilder builder)
    {
        var wiring = new ProviderWiring(builder, SandboxWiring.AddIfEnabled(builder));
        builder.Services.AddScoped<PaymentProviders>();
        builder.Services.AddScoped<RecurringProviders>();
        SandboxPayProvider.Register(wiring);
        AlipayProvider.Register(wiring);
        WeChatPayProvider.Register(wiring);
        StripeProvider.Register(wiring);
        PayPalProvider.Register(wiring);
        // The simulators bill the fees KnowPay books, so that a clean sandbox day reconciles without fee differences.
        if (wiring.Sandbox is { } sandbox)
            foreach (var (name, options) in new (string, ProviderOptions)[]
            {
                ("sandbox", wiring.Options<SandboxPayOptions>()), ("alipay", wiring.Options<AlipayOptions>()), ("wechatpay", wiring.Options<WeChatPayOptions>()),
                ("stripe", wiring.Options<StripeOptions>()), ("paypal", wiring.Options<PayPalOptions>()),
            })
                sandbox.Fee(name, options.Fee);
        builder.Services.AddSingleton(new DisabledProviders(wiring.Disabled));
    }
}
