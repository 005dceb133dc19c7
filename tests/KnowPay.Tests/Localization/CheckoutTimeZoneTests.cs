using System.Globalization;
using System.Net;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Localization;

/// <summary>The checkout shows its deadline in the viewer's zone: zh-CN China Standard Time, en UTC, either overridden by ?tz= (IANA).</summary>
[Collection("server")]
public sealed class CheckoutTimeZoneTests(Servers servers)
{
    [SkippableFact]
    public async Task TheDeadline_IsInChinaTimeForZhCn_UtcForEn_AndInTheIanaZoneGivenByTz()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        var order = await m.OrderAsync(productId);
        var url = (string)order["checkout_url"]!;
        var id = (string)order["id"]!;
        var utc = DateTime.SpecifyKind(await server.QueryAsync(d => d.Orders.Where(o => o.Id == id).Select(o => o.ExpiresAt).SingleAsync()), DateTimeKind.Utc);

        string Time(DateTime local, string offset, string shown) =>
            $"<time id=\"expires-at\" datetime=\"{local.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture)}{offset}\">" +
            $"{local.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} {shown}</time>";
        var china = utc.AddHours(8);
        Assert.Contains(Time(china, "+08:00", "UTC+08:00"), await PageAsync(url + "&locale=zh-CN"));
        Assert.Contains(Time(utc, "+00:00", "UTC"), await PageAsync(url + "&locale=en"));

        var newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        var offset = newYork.GetUtcOffset(utc);
        var sign = offset < TimeSpan.Zero ? "-" : "+";
        var ny = Time(utc + offset, sign + offset.ToString(@"hh\:mm", CultureInfo.InvariantCulture), "UTC" + sign + offset.ToString(@"hh\:mm", CultureInfo.InvariantCulture));
        var enInNewYork = await PageAsync(url + "&locale=en&tz=America/New_York");
        Assert.Contains(ny, enInNewYork);
        Assert.Contains(ny, await PageAsync(url + "&locale=zh-CN&tz=America%2FNew_York"));
        Assert.Contains("tz=America%2FNew_York", enInNewYork);               // the language switch keeps the zone

        // An unknown or path-like zone is ignored: the language's zone.
        Assert.Contains(Time(china, "+08:00", "UTC+08:00"), await PageAsync(url + "&locale=zh-CN&tz=Mars/Olympus_Mons"));
        Assert.Contains(Time(utc, "+00:00", "UTC"), await PageAsync(url + "&locale=en&tz=..%2F..%2Fetc%2Fpasswd"));
    }

    static async Task<string> PageAsync(string url)
    {
        using var http = new HttpClient();
        var response = await http.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());
    }
}
