using KnowPay.Infrastructure;

namespace KnowPay.Providers.Sandbox;

/// <summary><c>Providers:Sandbox:*</c>: SandboxPay outside the embedded sandbox needs ApiBaseUrl and Secret.</summary>
public sealed class SandboxPayOptions : ProviderOptions, IBoundOptions
{
    public static string Section => "Providers:Sandbox";
    /// <summary>Empty = the embedded simulator at /sandbox/sandboxpay.</summary>
    [HttpUrl] public string? ApiBaseUrl { get; set; }
    /// <summary>The shared HMAC secret; empty = generated at start for the embedded simulator.</summary>
    public string? Secret { get; set; }
}
