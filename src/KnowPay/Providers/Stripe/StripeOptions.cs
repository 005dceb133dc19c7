using KnowPay.Infrastructure;

namespace KnowPay.Providers.Stripe;

/// <summary><c>Providers:Stripe:*</c>: SecretKey and WebhookSecret together, or neither for the embedded simulator.</summary>
public sealed class StripeOptions : ProviderOptions, IBoundOptions
{
    public static string Section => "Providers:Stripe";
    /// <summary>Empty = the embedded simulator with the sandbox on, else https://api.stripe.com.</summary>
    [HttpUrl] public string? ApiBaseUrl { get; set; }
    /// <summary>sk_live_… / sk_test_…, sent as Authorization: Bearer.</summary>
    public string? SecretKey { get; set; }
    /// <summary>The webhook endpoint's whsec_… signing secret.</summary>
    public string? WebhookSecret { get; set; }
    /// <summary>The account's currency (ISO 4217): a charge in another is converted by Stripe, and its settlement read from the balance transaction; empty = not read.</summary>
    [System.ComponentModel.DataAnnotations.RegularExpression("^[A-Za-z]{3}$")] public string? AccountCurrency { get; set; }
}
