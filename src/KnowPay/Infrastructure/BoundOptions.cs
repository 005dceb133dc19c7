using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

/// <summary>An options type bound to one configuration section: its settings are <c>Section:Property</c>.</summary>
public interface IBoundOptions
{
    static abstract string Section { get; }
}

public static class BoundOptions
{
    /// <summary>
    /// Binds <typeparamref name="T"/> to its section for <see cref="IOptions{T}"/>, validated at start, and returns the
    /// bound value for what is decided while the app is built. A bad setting stops the build with its name in the message.
    /// </summary>
    public static T AddBoundOptions<T>(this WebApplicationBuilder builder) where T : class, IBoundOptions, new()
    {
        var section = builder.Configuration.GetSection(T.Section);
        if (!builder.Services.Any(d => d.ServiceType == typeof(IValidateOptions<T>) && d.ImplementationType == typeof(SectionValidator<T>)))
        {
            builder.Services.AddOptions<T>().Bind(section).ValidateOnStart();
            builder.Services.AddSingleton<IValidateOptions<T>, SectionValidator<T>>();
        }
        var value = section.Get<T>() ?? new T();
        if (new SectionValidator<T>().Validate(null, value) is { Failed: true } result)
            throw new OptionsValidationException(T.Section, typeof(T), result.Failures);
        return value;
    }
}

/// <summary>Every section of KnowPay's own settings (the providers bind theirs when they are wired).</summary>
public static class KnowPaySettings
{
    public static void AddKnowPayOptions(this WebApplicationBuilder builder)
    {
        builder.AddBoundOptions<KnowPayOptions>();
        builder.AddBoundOptions<DatabaseOptions>();
        builder.AddBoundOptions<DemoOptions>();
        builder.AddBoundOptions<JobsOptions>();
        builder.AddBoundOptions<IdempotencyOptions>();
        builder.AddBoundOptions<WebhooksOptions>();
        builder.AddBoundOptions<LedgerOptions>();
        builder.AddBoundOptions<Features.Ledger.LedgerCloseOptions>();
        builder.AddBoundOptions<PayoutsOptions>();
        builder.AddBoundOptions<MoneyOptions>();
        builder.AddBoundOptions<AlertsOptions>();
        builder.AddBoundOptions<CheckoutOptions>();
        builder.AddBoundOptions<KeyStorageOptions>();
        builder.AddBoundOptions<SecretsOptions>();
        builder.AddBoundOptions<TelemetryOptions>();
        builder.AddBoundOptions<Features.Billing.BillingOptions>();
        builder.AddBoundOptions<Features.Fx.FxOptions>();
    }
}

/// <summary>Checks each property's validation attributes, naming the setting (<c>Section:Property</c>) in every message.</summary>
sealed class SectionValidator<T> : IValidateOptions<T> where T : class, IBoundOptions
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var failures = new List<string>();
        foreach (var property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var context = new ValidationContext(options) { MemberName = property.Name, DisplayName = $"{T.Section}:{property.Name}" };
            var value = property.GetValue(options);
            foreach (var attribute in property.GetCustomAttributes<ValidationAttribute>())
                if (attribute.GetValidationResult(value, context) is { ErrorMessage: { } message }) failures.Add(message);
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>A number setting's allowed range: "Section:Name must be between min and max".</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class BetweenAttribute : RangeAttribute
{
    public BetweenAttribute(double minimum, double maximum) : base(minimum, maximum) =>
        ErrorMessage = "{0} must be between {1} and {2}";
}

/// <summary>An optional URL setting: empty, or an absolute http(s) URL.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class HttpUrlAttribute : ValidationAttribute
{
    public HttpUrlAttribute() => ErrorMessage = "{0} must be an absolute http(s) URL";

    public override bool IsValid(object? value) =>
        value is not string { Length: > 0 } text
        || Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";
}
