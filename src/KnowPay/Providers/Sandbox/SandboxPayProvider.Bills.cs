using System.Globalization;

namespace KnowPay.Providers.Sandbox;

public sealed partial class SandboxPayProvider
{
    /// <summary>SandboxPay's bill of a UTC day (GET /v1/bills/{yyyy-MM-dd}): CSV text, its signature verified like every answer's.</summary>
    public async Task<string> BillAsync(DateOnly day, CancellationToken ct) =>
        await SendTextAsync(HttpMethod.Get, "/v1/bills/" + day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), null, ct)
            ?? throw new ProviderException(Name, "empty_response", "no bill in the answer");
}
