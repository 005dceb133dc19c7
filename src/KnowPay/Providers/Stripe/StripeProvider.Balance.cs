using System.Globalization;
using System.Text.Json.Nodes;

namespace KnowPay.Providers.Stripe;

public sealed partial class StripeProvider
{
    /// <summary>
    /// The balance transactions created in [<paramref name="from"/>, <paramref name="until"/>) (GET /v1/balance_transactions
    /// with <c>created[gte]</c>/<c>created[lt]</c>, page by page with <c>starting_after</c>), each with its source charge or
    /// refund expanded (<c>expand[]=data.source</c>) so that our payment and refund ids are read from their metadata.
    /// </summary>
    public async IAsyncEnumerable<JsonObject> BalanceTransactionsAsync(DateTime from, DateTime until,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var range = string.Create(CultureInfo.InvariantCulture,
            $"/v1/balance_transactions?created[gte]={new DateTimeOffset(from).ToUnixTimeSeconds()}&created[lt]={new DateTimeOffset(until).ToUnixTimeSeconds()}&limit=100&expand[]=data.source");
        for (string? after = null; ;)
        {
            var page = await SendAsync(HttpMethod.Get, range + (after is null ? "" : "&starting_after=" + Uri.EscapeDataString(after)), null, null, ct);
            var data = (page?["data"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
            foreach (var transaction in data) yield return transaction;
            if (page?["has_more"]?.GetValue<bool>() != true || data.Count == 0 || (after = (string?)data[^1]["id"]) is null) yield break;
        }
    }
}
