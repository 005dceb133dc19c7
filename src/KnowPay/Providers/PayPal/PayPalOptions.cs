using KnowPay.Infrastructure;

namespace KnowPay.Providers.PayPal;

/// <summary><c>Providers:PayPal:*</c>: ApiBaseUrl, ClientId, ClientSecret and WebhookId (ReportsBaseUrl optional), or none for the embedded simulator.</summary>
public sealed class PayPalOptions : ProviderOptions, IBoundOptions
{
    public static string Section => "Providers:PayPal";
    /// <summary>https://api-m.paypal.com or https://api-m.sandbox.paypal.com; empty = the embedded simulator.</summary>
    [HttpUrl] public string? ApiBaseUrl { get; set; }
    /// <summary>The REST app's OAuth2 client credentials.</summary>
    public string? ClientId { get; set; }
    public string? ClientSecret { get; set; }
    /// <summary>The id of the webhook subscribed to /v1/notify/paypal.</summary>
    public string? WebhookId { get; set; }
    /// <summary>
    /// An HTTP(S) mirror of the SFTP drop PayPal puts the daily settlement reports (STL-yyyymmdd.seq.ver.CSV) on; empty =
    /// the embedded simulator's, or no settlement report read.
    /// </summary>
    [HttpUrl] public string? ReportsBaseUrl { get; set; }
}
