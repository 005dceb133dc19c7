using System.Security.Cryptography;
using System.Text;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.WeChatPay;

namespace KnowPay.Features.Reconciliation;

/// <summary>A day's bill as fetched: its lines, or not ready yet (try later). An empty day is a bill with no lines.</summary>
public abstract record BillFetch
{
    public sealed record Ready(IReadOnlyList<BillLine> Lines, string Checksum) : BillFetch;
    public sealed record NotReady(string Reason) : BillFetch;
}

/// <summary>Downloads and parses one provider's bill for one of its days, through the provider's adapter.</summary>
public sealed class BillSources(PaymentProviders providers, IHttpClientFactory http)
{
    /// <summary>The providers whose bills KnowPay reads; each bills by the day in China Standard Time.</summary>
    public static readonly IReadOnlySet<string> Billed = new HashSet<string>(StringComparer.Ordinal) { "alipay", "wechatpay" };

    public IEnumerable<string> Enabled => providers.Names.Where(Billed.Contains);

    /// <summary>The provider's day of an instant (its bills are cut at its midnight: UTC+8 for Alipay and WeChat Pay).</summary>
    public static DateOnly DayOf(string provider, DateTime utc) => DateOnly.FromDateTime(utc + ProviderProtocol.ChinaStandardTimeOffset);

    /// <summary>The UTC instants [from, until) of a provider's day.</summary>
    public static (DateTime From, DateTime Until) Window(string provider, DateOnly day)
    {
        var from = DateTime.SpecifyKind(day.ToDateTime(TimeOnly.MinValue) - ProviderProtocol.ChinaStandardTimeOffset, DateTimeKind.Utc);
        return (from, from.AddDays(1));
    }

    /// <exception cref="BillFormatException">The bill does not parse.</exception>
    /// <exception cref="ProviderException">The provider refused or did not answer.</exception>
    public async Task<BillFetch> FetchAsync(string provider, DateOnly day, CancellationToken ct)
    {
        switch (providers[provider])
        {
            case AlipayProvider alipay:
            {
                var url = await alipay.DownloadBillUrlAsync(day, ct);
                using var client = http.CreateClient();
                using var response = await client.GetAsync(url, ct);
                if (!response.IsSuccessStatusCode) return new BillFetch.NotReady($"the bill download answered {(int)response.StatusCode}");
                var zip = await response.Content.ReadAsByteArrayAsync(ct);
                return new BillFetch.Ready(AlipayBill.ParseZip(zip), Checksum(zip));
            }
            case WeChatPayProvider wechat:
            {
                string text;
                try
                {
                    text = await wechat.TradeBillAsync(day, "ALL", ct);   // the adapter checks the file against the signed SHA1
                }
                catch (ProviderException e) when (e.Code == "NO_STATEMENT_EXIST")
                {
                    return new BillFetch.Ready([], "");
                }
                catch (ProviderException e) when (e.Code == "STATEMENT_CREATING")
                {
                    return new BillFetch.NotReady("STATEMENT_CREATING: the bill is being made");
                }
                catch (ProviderException e) when (e.Code == "bill_hash_mismatch")
                {
                    throw new BillFormatException("the file does not match the signed SHA1 hash_value");
                }
                return new BillFetch.Ready(WeChatPayBill.Parse(text), Checksum(Encoding.UTF8.GetBytes(text)));
            }
            default:
                throw new InvalidOperationException($"{provider} has no bill KnowPay reads");
        }
    }

    static string Checksum(byte[] file) => Convert.ToHexStringLower(SHA256.HashData(file));
}
