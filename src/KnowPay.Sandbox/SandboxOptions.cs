namespace KnowPay.Sandbox;

/// <summary>
/// The embedded simulators' settings (<c>Sandbox:*</c>). Keys are the PROVIDER's side: the sandbox verifies what the
/// merchant signs with the merchant's public key and signs with its own private key, exactly as the real gateways.
/// </summary>
public sealed class SandboxOptions
{
    /// <summary>Where the sandbox is mounted in the host, e.g. "/sandbox".</summary>
    public string BasePath { get; set; } = "/sandbox";
    /// <summary>Absolute base URL of the sandbox as buyers and merchants reach it (e.g. http://localhost:5080/sandbox), resolved lazily.</summary>
    public Func<string> PublicBaseUrl { get; set; } = () => "http://localhost/sandbox";
    /// <summary>Retry delays are divided by this (e.g. 3600 turns an hour into a second).</summary>
    public double TimeCompression { get; set; } = 1;
    /// <summary>SandboxPay's shared HMAC secret.</summary>
    public string SandboxPaySecret { get; set; } = "";
}
