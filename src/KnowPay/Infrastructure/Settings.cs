using KnowPay.Features.Monitoring;

namespace KnowPay.Infrastructure;

// KnowPay's settings outside the providers (those are Providers/<Name>/<Name>Options.cs), one type per section, each
// bound and validated at start (BoundOptions). README's configuration section lists them all; a test keeps it so.

/// <summary><c>KnowPay:*</c>.</summary>
public sealed class KnowPayOptions : IBoundOptions
{
    public static string Section => "KnowPay";
    /// <summary>The base URL at which providers and buyers reach this server; empty = the first address it listens on.</summary>
    [HttpUrl] public string? PublicUrl { get; set; }
    /// <summary>Largest request body accepted.</summary>
    [Between(1024, 64 * 1024 * 1024)] public int MaxRequestBodyBytes { get; set; } = 64 * 1024;
}

/// <summary><c>Database:*</c>; the connection string is <c>ConnectionStrings:KnowPay</c>.</summary>
public sealed class DatabaseOptions : IBoundOptions
{
    public static string Section => "Database";
    /// <summary>sqlite or postgres.</summary>
    public string Provider { get; set; } = "sqlite";
}

/// <summary><c>Demo:*</c>: the demo merchant and products seeded at start.</summary>
public sealed class DemoOptions : IBoundOptions
{
    public static string Section => "Demo";
    public bool Seed { get; set; }
    /// <summary>The demo merchant's secret key; empty = <see cref="DemoSeed.DefaultApiKey"/>.</summary>
    public string? ApiKey { get; set; }
}

/// <summary><c>Jobs:*</c>: the background job runner and the pollers' waits.</summary>
public sealed class JobsOptions : IBoundOptions
{
    public static string Section => "Jobs";
    public bool Enabled { get; set; } = true;
    [Between(0.001, 3600)] public double IntervalSeconds { get; set; } = 5;
    /// <summary>A pending payment is queried at its provider after this long without news.</summary>
    [Between(0, 86400)] public int PollAfterSeconds { get; set; } = 60;
    /// <summary>A pending refund is queried at its provider after this long.</summary>
    [Between(0, 86400)] public int RefundPollAfterSeconds { get; set; } = 60;
    /// <summary>A duplicate payment whose refund failed is refunded again after this long.</summary>
    [Between(0, 30 * 86400)] public int DuplicateRefundRetrySeconds { get; set; } = 3600;
}

/// <summary><c>Idempotency:*</c>.</summary>
public sealed class IdempotencyOptions : IBoundOptions
{
    public static string Section => "Idempotency";
    /// <summary>How long an Idempotency-Key is remembered; the API promises at least 24 h.</summary>
    [Between(24, 24 * 365)] public int RetentionHours { get; set; } = 48;
    /// <summary>How long an attempt holds a key in progress; then a retry may take it over (the attempt is presumed dead).</summary>
    [Between(1, 86400)] public int LeaseSeconds { get; set; } = 60;
}

/// <summary><c>Webhooks:*</c>: delivery of events to the platform's endpoints.</summary>
public sealed class WebhooksOptions : IBoundOptions
{
    public static string Section => "Webhooks";
    [Between(1, 300)] public int TimeoutSeconds { get; set; } = 10;
    [Between(0.001, 24 * 365)] public double RetryForHours { get; set; } = 72;
    [Between(0.001, 86400)] public double RetryBaseSeconds { get; set; } = 30;
    [Between(1, 86400)] public int LeaseSeconds { get; set; } = 60;
    public bool DispatcherEnabled { get; set; } = true;
    [Between(1, 600_000)] public int PollMilliseconds { get; set; } = 1000;
    /// <summary>PostgreSQL: the fan-out queue is vacuumed after this many events taken off it.</summary>
    [Between(1, 100_000_000)] public int VacuumQueueEvery { get; set; } = 20_000;
    /// <summary>Webhooks may go to loopback, private and link-local addresses (a local receiver in tests); off, an SSRF guard.</summary>
    public bool AllowPrivateNetworks { get; set; }
    /// <summary>Webhook URLs must be https; unset = outside Development only.</summary>
    public bool? RequireHttps { get; set; }

    /// <summary>A delivery is retried until this long after its event (or its redelivery).</summary>
    public TimeSpan RetryFor => TimeSpan.FromHours(RetryForHours);
}

/// <summary><c>Ledger:*</c>: the creators' hold.</summary>
public sealed class LedgerOptions : IBoundOptions
{
    public static string Section => "Ledger";
    [Between(0, 365)] public double HoldDays { get; set; } = 7;
    [Between(0, 86400)] public double ReleaseEverySeconds { get; set; } = 300;
    [Between(0, 3650)] public double ReleaseLookbackDays { get; set; } = 60;
}

/// <summary><c>Money:*</c>: limits on amounts.</summary>
public sealed class MoneyOptions : IBoundOptions
{
    public static string Section => "Money";
    /// <summary>The largest price, order, refund or payout, in major units of any currency (10,000,000.00 CNY by default).</summary>
    [Between(1, KnowPay.Domain.AmountLimit.CeilingMajorUnits)] public long MaxAmountMajorUnits { get; set; } = KnowPay.Domain.AmountLimit.DefaultMaxMajorUnits;

    public KnowPay.Domain.AmountLimit Limit => new(MaxAmountMajorUnits);
}

/// <summary><c>Payouts:*</c>.</summary>
public sealed class PayoutsOptions : IBoundOptions
{
    public static string Section => "Payouts";
    [Between(0, 86400)] public double ResendAfterSeconds { get; set; } = 60;
}

/// <summary><c>Alerts:*</c>; without <c>Alerts:Rules</c>, <see cref="AlertRule.Defaults"/> apply.</summary>
public sealed class AlertsOptions : IBoundOptions
{
    public static string Section => "Alerts";
    public bool Enabled { get; set; } = true;
    [Between(0, 86400)] public double EvaluateEverySeconds { get; set; } = 30;
    public List<AlertRule>? Rules { get; set; }
}

/// <summary><c>Checkout:*</c>.</summary>
public sealed class CheckoutOptions : IBoundOptions
{
    public static string Section => "Checkout";
    /// <summary>The checkout links' HMAC key, the same on every node; empty = a key generated once under <c>DataProtection:KeysPath</c>.</summary>
    public string? SigningKey { get; set; }
}

/// <summary><c>DataProtection:*</c> (named so as not to shadow ASP.NET's own DataProtectionOptions).</summary>
public sealed class KeyStorageOptions : IBoundOptions
{
    public static string Section => "DataProtection";
    /// <summary>Where the Data Protection keys (and the generated checkout key) are kept, sealed with the master key; empty = data/keys.</summary>
    public string? KeysPath { get; set; }

    public string KeysDirectory => KeysPath is { Length: > 0 } path ? path : Path.Combine("data", "keys");
}

/// <summary><c>Secrets:*</c>: the master key that encrypts secrets at rest (<see cref="SecretBox"/>).</summary>
public sealed class SecretsOptions : IBoundOptions
{
    public static string Section => "Secrets";
    /// <summary>Base64 of 32 random bytes; empty = <see cref="MasterKeyFile"/>, else (outside Production only) a key generated once under <c>DataProtection:KeysPath</c>.</summary>
    public string? MasterKey { get; set; }
    /// <summary>A file holding the master key in base64, kept outside the data folder.</summary>
    public string? MasterKeyFile { get; set; }
    /// <summary>Master keys rotated out: still open what they sealed, which is re-sealed under the active key at start.</summary>
    public List<string>? PreviousMasterKeys { get; set; }
}

/// <summary><c>Telemetry:*</c>.</summary>
public sealed class TelemetryOptions : IBoundOptions
{
    public static string Section => "Telemetry";
    /// <summary>OTLP collector for traces; empty = <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, else no trace export.</summary>
    [HttpUrl] public string? OtlpEndpoint { get; set; }
}
