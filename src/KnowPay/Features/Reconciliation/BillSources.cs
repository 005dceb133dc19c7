using System.Security.Cryptography;
using System.Text;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.PayPal;
using KnowPay.Providers.Sandbox;
using KnowPay.Providers.Stripe;
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
    /// <summary>The providers whose bills KnowPay reads.</summary>
    public static readonly IReadOnlySet<string> Billed = new HashSet<string>(StringComparer.Ordinal) { "alipay", "wechatpay", "stripe", "paypal", "sandbox" };

    /// <summary>The billed providers configured here; PayPal only with a place to read its settlement reports from.</summary>
    public IEnumerable<string> Enabled => providers.Names.Where(n => Billed.Contains(n) && providers[n] is not PayPalProvider { ReadsReports: false });

    /// <summary>Where a provider cuts its days: China Standard Time for Alipay and WeChat Pay, UTC for Stripe's created ranges and SandboxPay.</summary>
    public static TimeSpan Offset(string provider) =>
        provider is "alipay" or "wechatpay" ? ProviderProtocol.ChinaStandardTimeOffset : TimeSpan.Zero;

    /// <summary>The provider's day of an instant (its bills are cut at its midnight, <see cref="Offset"/>).</summary>
    public static DateOnly DayOf(string provider, DateTime utc) => DateOnly.FromDateTime(utc + Offset(provider));

    /// <summary>The UTC instants [from, until) of a provider's day.</summary>
    public static (DateTime From, DateTime Until) Window(string provider, DateOnly day)
    {
        var from = DateTime.SpecifyKind(day.ToDateTime(TimeOnly.MinValue) - Offset(provider), DateTimeKind.Utc);
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
                // The adapter checks each file against the signed SHA1.
                var (text, notReady) = await WeChatBillAsync(() => wechat.TradeBillAsync(day, "ALL", ct), "bill");
                if (notReady is not null) return notReady;
                if (text is null) return new BillFetch.Ready([], "");
                var lines = WeChatPayBill.Parse(text);
                // The BASIC account's fund flow of the same day must be there and whole too; it is read and checked, not yet matched.
                var (fundFlow, fundFlowNotReady) = await WeChatBillAsync(() => wechat.FundFlowBillAsync(day, "BASIC", ct), "fund-flow bill");
                if (fundFlowNotReady is not null) return fundFlowNotReady;
                fundFlow ??= "";
                try
                {
                    WeChatPayFundFlow.Parse(fundFlow);
                }
                catch (BillFormatException e)
                {
                    throw new BillFormatException("fund-flow bill: " + e.Reason, e.Line);
                }
                return new BillFetch.Ready(lines, Checksum(Encoding.UTF8.GetBytes(text + fundFlow)));
            }
            case StripeProvider stripe:
            {
                // The day's list is the bill: its checksum is over the transactions' ids and amounts in the order Stripe lists them.
                var (from, until) = Window(provider, day);
                var lines = new List<BillLine>();
                var digest = new StringBuilder();
                var position = 0;
                await foreach (var transaction in stripe.BalanceTransactionsAsync(from, until, ct))
                {
                    position++;
                    digest.Append(transaction["id"]).Append(':').Append(transaction["amount"]).Append(':').Append(transaction["fee"]).Append('\n');
                    if (StripeBalanceTransactions.Line(transaction, position) is { } line) lines.Add(line);
                }
                return new BillFetch.Ready(lines, Checksum(Encoding.UTF8.GetBytes(digest.ToString())));
            }
            case PayPalProvider paypal:
            {
                string? text;
                try
                {
                    text = await paypal.SettlementReportAsync(day, ct);
                }
                catch (ProviderException e) when (e.Code == "report_not_utf8")
                {
                    throw new BillFormatException(e.Message);
                }
                return text is null
                    ? new BillFetch.NotReady($"STL-{day:yyyyMMdd} is not on the report drop yet")
                    : new BillFetch.Ready(PayPalSettlementReport.Parse(text), Checksum(Encoding.UTF8.GetBytes(text)));
            }
            case SandboxPayProvider sandbox:
            {
                var text = await sandbox.BillAsync(day, ct);
                return new BillFetch.Ready(SandboxPayBill.Parse(text), Checksum(Encoding.UTF8.GetBytes(text)));
            }
            default:
                throw new InvalidOperationException($"{provider} has no bill KnowPay reads");
        }
    }

    /// <summary>
    /// One of WeChat Pay's bills of a day: its text, null text when the day has none (NO_STATEMENT_EXIST), or not ready while
    /// WeChat is still making it (STATEMENT_CREATING); a file other than the signed SHA1 vouches for does not parse.
    /// </summary>
    static async Task<(string? Text, BillFetch.NotReady? NotReady)> WeChatBillAsync(Func<Task<string>> download, string name)
    {
        try
        {
            return (await download(), null);
        }
        catch (ProviderException e) when (e.Code == "NO_STATEMENT_EXIST")
        {
            return (null, null);
        }
        catch (ProviderException e) when (e.Code == "STATEMENT_CREATING")
        {
            return (null, new BillFetch.NotReady($"STATEMENT_CREATING: the {name} is being made"));
        }
        catch (ProviderException e) when (e.Code == "bill_hash_mismatch")
        {
            throw new BillFormatException($"the {name} does not match the signed SHA1 hash_value");
        }
    }

    static string Checksum(byte[] file) => Convert.ToHexStringLower(SHA256.HashData(file));
}
