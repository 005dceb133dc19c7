using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.WeChatPay;
using KnowPay.Sandbox.Alipay;
using KnowPay.Sandbox.WeChatPay;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// Trade bills in each provider's own format, fetched over real HTTP through KnowPay's adapters (signed as KnowPay signs,
/// answers verified): Alipay's zip of GBK CSV with # header/footer lines, WeChat Pay's CSV with backticked fields and the
/// totals at the end. Each bill holds the trade (and the refund) of an order paid in the test.
/// </summary>
[Collection("server")]
public sealed class TradeBillTests(Servers servers)
{
    const long Amount = 12345;       // ¥123.45
    const long Refunded = 2345;      // ¥23.45

    [SkippableFact]
    public async Task Alipay_BillDownloadUrl_VerifiedAnswer_ZipOfGbkCsv_HoldsThePaidTradeAndItsRefund()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (payment, refundId) = await PaidAndPartlyRefundedAsync(server, m, "alipay");
        var day = BeijingDay(payment);

        await using var scope = server.Services.CreateAsyncScope();
        var alipay = Assert.IsType<AlipayProvider>(scope.ServiceProvider.GetRequiredService<PaymentProviders>()["alipay"]);
        var url = await alipay.DownloadBillUrlAsync(day, default);
        Assert.StartsWith(server.BaseUrl + "/sandbox/alipay/bills/", url);

        var response = await server.Anonymous.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        using var zip = new ZipArchive(await response.Content.ReadAsStreamAsync(), ZipArchiveMode.Read);
        var entry = Assert.Single(zip.Entries, e => e.Name.EndsWith("_业务明细.csv", StringComparison.Ordinal));
        string csv;
        using (var reader = new StreamReader(entry.Open(), CodePagesEncodingProvider.Instance.GetEncoding("GBK")!)) csv = await reader.ReadToEndAsync();

        var lines = csv.Split("\r\n");
        var headerAt = Array.FindIndex(lines, l => !l.StartsWith('#'));
        Assert.True(headerAt > 0, "# header lines come first");
        Assert.StartsWith("#支付宝业务明细查询", lines[0]);
        Assert.StartsWith("支付宝交易号,商户订单号,业务类型,", lines[headerAt]);
        var columns = lines[headerAt].Split(',');
        var footerAt = Array.FindIndex(lines, headerAt + 1, l => l.StartsWith('#'));
        Assert.True(footerAt > headerAt, "# footer lines come last");
        Assert.All(lines[footerAt..], l => Assert.StartsWith("#", l));
        Assert.Contains(lines[footerAt..], l => l.StartsWith("#交易合计：", StringComparison.Ordinal));
        var rows = lines[(headerAt + 1)..footerAt].Select(l => l.Split(',')).ToList();
        Assert.All(rows, r => Assert.Equal(columns.Length, r.Length));

        // Alipay appends a tab to the long numbers so that spreadsheets keep them as text.
        var ours = rows.Where(r => r[1].Trim() == payment.Id).ToList();
        var trade = Assert.Single(ours, r => r[2] == "交易");
        Assert.Equal(payment.ProviderTradeNo, trade[0].Trim());
        Assert.Equal("123.45", trade[Array.IndexOf(columns, "订单金额（元）")]);
        Assert.Equal("123.45", trade[Array.IndexOf(columns, "商家实收（元）")]);
        var refund = Assert.Single(ours, r => r[2] == "退款");
        Assert.Equal("-23.45", refund[Array.IndexOf(columns, "订单金额（元）")]);
        Assert.Equal(refundId, refund[Array.IndexOf(columns, "退款批次号/请求号")]);

        // The download URL is single-use, and an answer whose signature does not verify is an error, never a URL.
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.GetAsync(url)).StatusCode);
        var sim = server.Services.GetRequiredService<AlipaySimulator>();
        sim.BreakResponseSignatures("");
        try
        {
            var e = await Assert.ThrowsAsync<ProviderException>(() => alipay.DownloadBillUrlAsync(day, default));
            Assert.Equal("response_signature_invalid", e.Code);
        }
        finally { sim.BreakResponseSignatures("", broken: false); }
    }

    [SkippableFact]
    public async Task WeChatPay_TradeBill_ThroughTheAdapter_HeaderBacktickedRowsAndTotals_HoldThePaidTradeAndItsRefund()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (payment, refundId) = await PaidAndPartlyRefundedAsync(server, m, "wechatpay");
        var day = BeijingDay(payment);

        await using var scope = server.Services.CreateAsyncScope();
        var wechat = Assert.IsType<WeChatPayProvider>(scope.ServiceProvider.GetRequiredService<PaymentProviders>()["wechatpay"]);
        var csv = await wechat.TradeBillAsync(day, "ALL", default);
        var (columns, rows, totalColumns, totals) = ParseWeChatBill(csv);

        Assert.Equal(["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号"], columns[..7]);
        Assert.Equal(["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"], totalColumns);
        string Field(string[] row, string column) => row[Array.IndexOf(columns, column)];

        var ours = rows.Where(r => Field(r, "商户订单号") == payment.Id).ToList();
        var trade = Assert.Single(ours, r => Field(r, "交易状态") == "SUCCESS");
        Assert.Equal(payment.ProviderTradeNo, Field(trade, "微信订单号"));
        Assert.Equal("CNY", Field(trade, "货币种类"));
        Assert.Equal("123.45", Field(trade, "应结订单金额"));
        Assert.Equal("123.45", Field(trade, "订单金额"));
        var refund = Assert.Single(ours, r => Field(r, "交易状态") == "REFUND");
        Assert.Equal(refundId, Field(refund, "商户退款单号"));
        Assert.Equal("23.45", Field(refund, "退款金额"));
        Assert.Equal("ORIGINAL", Field(refund, "退款类型"));

        // The totals row adds up the rows (the shared sandbox may hold other tests' trades of the same day).
        Assert.Equal(rows.Count.ToString(CultureInfo.InvariantCulture), totals[0]);
        Assert.Equal(rows.Sum(r => decimal.Parse(Field(r, "应结订单金额"), CultureInfo.InvariantCulture)),
            decimal.Parse(totals[Array.IndexOf(totalColumns, "应结订单总金额")], CultureInfo.InvariantCulture));
        Assert.Equal(rows.Sum(r => decimal.Parse(Field(r, "退款金额"), CultureInfo.InvariantCulture)),
            decimal.Parse(totals[Array.IndexOf(totalColumns, "退款总金额")], CultureInfo.InvariantCulture));

        // bill_type SUCCESS holds payments only, with its own columns and totals.
        var (successColumns, successRows, successTotalColumns, _) = ParseWeChatBill(await wechat.TradeBillAsync(day, "SUCCESS", default));
        Assert.DoesNotContain("退款金额", successColumns);
        Assert.Equal(["总交易单数", "应结订单总金额", "手续费总金额", "订单总金额"], successTotalColumns);
        Assert.Single(successRows, r => r[Array.IndexOf(successColumns, "商户订单号")] == payment.Id);

        // A tradebill answer whose Wechatpay-Signature does not verify is an error: no download URL is followed.
        var sim = server.Services.GetRequiredService<WeChatPaySimulator>();
        sim.BreakResponseSignatures("");
        try
        {
            var e = await Assert.ThrowsAsync<ProviderException>(() => wechat.TradeBillAsync(day, "ALL", default));
            Assert.Equal("response_signature_invalid", e.Code);
        }
        finally { sim.BreakResponseSignatures("", broken: false); }
    }

    /// <summary>The protocol by hand: a signed GET, a signed answer, a download that needs its own signed GET, GZIP, SHA1.</summary>
    [SkippableFact]
    public async Task WeChatPay_TradeBill_OnTheWire_SignedAnswer_DownloadNeedsASignature_GzipMatchesTheSha1()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (payment, _) = await PaidAndPartlyRefundedAsync(server, m, "wechatpay");
        var settings = server.Services.GetRequiredService<WeChatPaySettings>();
        var path = new Uri(settings.ApiBaseUrl).AbsolutePath.TrimEnd('/')
                   + $"/v3/bill/tradebill?bill_date={BeijingDay(payment).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}&bill_type=ALL&tar_type=GZIP";

        var answer = await server.Anonymous.SendAsync(Signed(settings, path));
        var body = await answer.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        string Header(string name) => answer.Headers.GetValues(name).Single();
        Assert.True(WeChatPaySignature.VerifyHeaders(Header("Wechatpay-Serial"), Header("Wechatpay-Timestamp"), Header("Wechatpay-Nonce"),
            Header("Wechatpay-Signature"), body, settings.PlatformSerialNo, settings.PlatformPublicKeyPem, DateTimeOffset.UtcNow));
        var json = JsonNode.Parse(body)!;
        Assert.Equal("SHA1", (string?)json["hash_type"]);
        var download = new Uri((string)json["download_url"]!);
        Assert.Equal("/sandbox/wechatpay/v3/billdownload/file", download.AbsolutePath);

        using var unsignedRequest = new HttpRequestMessage(HttpMethod.Get, download);
        unsignedRequest.Headers.UserAgent.ParseAdd("KnowPay.Tests/1.0");
        unsignedRequest.Headers.Accept.ParseAdd("application/json");
        var unsigned = await server.Anonymous.SendAsync(unsignedRequest);
        Assert.Equal(HttpStatusCode.Unauthorized, unsigned.StatusCode);
        Assert.Equal("SIGN_ERROR", (string?)JsonNode.Parse(await unsigned.Content.ReadAsStringAsync())!["code"]);

        var file = await server.Anonymous.SendAsync(Signed(settings, download.PathAndQuery));
        Assert.Equal(HttpStatusCode.OK, file.StatusCode);
        Assert.False(file.Headers.Contains("Wechatpay-Signature"));   // the file is vouched for by the signed hash_value
        using var unzipped = new MemoryStream();
        await using (var gzip = new GZipStream(await file.Content.ReadAsStreamAsync(), CompressionMode.Decompress)) await gzip.CopyToAsync(unzipped);
        Assert.Equal((string?)json["hash_value"], Convert.ToHexStringLower(SHA1.HashData(unzipped.ToArray())));
        var (columns, rows, _, _) = ParseWeChatBill(Encoding.UTF8.GetString(unzipped.ToArray()));
        Assert.Contains(rows, r => r[Array.IndexOf(columns, "商户订单号")] == payment.Id && r[Array.IndexOf(columns, "应结订单金额")] == "123.45");

        var badType = await server.Anonymous.SendAsync(Signed(settings, path.Replace("bill_type=ALL", "bill_type=EVERYTHING", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.BadRequest, badType.StatusCode);
        Assert.Equal("PARAM_ERROR", (string?)JsonNode.Parse(await badType.Content.ReadAsStringAsync())!["code"]);
    }

    static HttpRequestMessage Signed(WeChatPaySettings s, string pathAndQuery)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        request.Headers.TryAddWithoutValidation("Authorization", WeChatPaySignature.Authorization(s.MchId, s.MerchantSerialNo, s.PrivateKeyPem, "GET",
            pathAndQuery, "", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), WeChatPaySignature.Nonce()));
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.UserAgent.ParseAdd("KnowPay.Tests/1.0");
        return request;
    }

    /// <summary>WeChat's layout: header row, detail rows (every field backtick-prefixed), totals header, totals row.</summary>
    static (string[] Columns, List<string[]> Rows, string[] TotalColumns, string[] Totals) ParseWeChatBill(string csv)
    {
        var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 3, csv);
        Assert.DoesNotContain("`", lines[0]);
        Assert.DoesNotContain("`", lines[^2]);
        var columns = lines[0].Split(',');
        var totalColumns = lines[^2].Split(',');
        var rows = lines[1..^2].Select(l => l.Split(',')).ToList();
        Assert.All(rows, r => Assert.Equal(columns.Length, r.Length));
        Assert.All(rows, r => Assert.All(r, f => Assert.StartsWith("`", f)));
        var totals = lines[^1].Split(',');
        Assert.Equal(totalColumns.Length, totals.Length);
        Assert.All(totals, f => Assert.StartsWith("`", f));
        return (columns, rows.Select(r => r.Select(f => f[1..]).ToArray()).ToList(), totalColumns, totals.Select(f => f[1..]).ToArray());
    }

    /// <summary>An order of ¥123.45 paid through the provider's sandbox buyer, then ¥23.45 refunded through KnowPay's API.</summary>
    static async Task<(Payment Payment, string RefundId)> PaidAndPartlyRefundedAsync(KnowPayServer server, MerchantClient m, string provider)
    {
        var (_, productId) = await m.CourseAsync(7000, (Amount, "CNY"));
        var order = await m.OrderAsync(productId);
        var created = await m.PaymentAsync((string)order["id"]!, provider, "qr");
        var paymentId = (string)created["id"]!;
        var paid = await server.Anonymous.PostAsync($"/sandbox/{provider}/buyer/{paymentId}/pay", null);
        Assert.True(paid.IsSuccessStatusCode, await paid.Content.ReadAsStringAsync());
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = Refunded });
        var payment = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
        return (payment, (string)refund["id"]!);
    }

    /// <summary>Bills are cut by the day in China Standard Time (UTC+8).</summary>
    static DateOnly BeijingDay(Payment payment) =>
        DateOnly.FromDateTime((payment.ProviderPaidAt ?? payment.SucceededAt ?? DateTime.UtcNow).AddHours(8));
}
