using System.Text.Json;

namespace KnowPay.Infrastructure;

/// <summary>Reading a provider's JSON with the expected types: a value of another type or range is a malformed message.</summary>
public static class ProviderJson
{
    /// <summary>True for what System.Text.Json throws when a node is read as the wrong type (<c>(long?)node</c> on a string, on 1.5, on 1e30).</summary>
    public static bool IsWrongShape(Exception e) =>
        e is JsonException or FormatException or OverflowException ||
        e is InvalidOperationException && e.Source == typeof(JsonSerializer).Assembly.GetName().Name;
}
