using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KnowPay.Tests.Infrastructure;

namespace KnowPay.Tests.Fx;

/// <summary>
/// The dashboard's paid total in the merchant's settlement currency, read over HTTP as a signed-in person would: payments in
/// CNY, USD and JPY on both sides of a UTC midnight (on a shifted clock), each day with its own manual rates, converted at
/// each day's rate and rounded once; a currency without a rate for its day is named as not converted.
/// </summary>
[Collection("server")]
public sealed class SettlementTotalsDashboardTests(Servers servers)
{
    /// <summary>The system clock moved by an offset the test sets; timers run in real time.</summary>
    sealed class ShiftedClock : TimeProvider
    {
        TimeSpan offset;
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
        public void MoveTo(DateTime at)
        {
            var now = GetUtcNow().UtcDateTime;
            if (at > now) offset += at - now;
        }
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task PaidTotal_ConvertsEachDayAtThatDaysRate_RoundedOnce_AndNamesACurrencyWithoutARate(Db db)
    {
        _ = servers;
        var clock = new ShiftedClock();
        var day1 = DateTime.UtcNow.Date.AddDays(3);
        var day2 = day1.AddDays(1);
        clock.MoveTo(day1.AddHours(23).AddMinutes(20));
        await using var server = await KnowPayServer.StartAsync(db, clock: clock);

        var m = await server.NewMerchantAsync();
        await PutOkAsync(m, "/v1/fx/settings", new { settlement_currency = "USD" });
        var (_, course) = await m.CourseAsync(7000, (9900, "CNY"), (1999, "USD"), (1500, "JPY"));
        await PutOkAsync(m, "/v1/fx/rates", new
        {
            rates = new[]
            {
                new { @base = "CNY", quote = "USD", rate = 0.1408m, as_of = day1.AddHours(12) },
                new { @base = "JPY", quote = "USD", rate = 0.00667m, as_of = day1.AddHours(12) },
            },
        });
        foreach (var currency in new[] { "CNY", "CNY", "USD", "JPY" }) await PaidAsync(m, course, currency);

        clock.MoveTo(day2.AddMinutes(5));
        // The day-2 table replaces the current one; day 1's rates stay day 1's.
        await PutOkAsync(m, "/v1/fx/rates", new
        {
            rates = new[]
            {
                new { @base = "CNY", quote = "USD", rate = 0.1395m, as_of = day2.AddMinutes(1) },
                new { @base = "JPY", quote = "USD", rate = 0.00671m, as_of = day2.AddMinutes(1) },
            },
        });
        foreach (var currency in new[] { "CNY", "JPY", "JPY" }) await PaidAsync(m, course, currency);

        var en = await SnapshotAsync(server, m, "en");
        Assert.Equal(["297.00 CNY", "4,500 JPY", "$19.99"], en["volume"]!.AsArray().Select(v => (string)v!));
        // In USD cents: day 1 2 × 9900 × 0.1408 + 1500 × 0.00667 × 100 + 1999, day 2 9900 × 0.1395 + 2 × 1500 × 0.00671 × 100.
        var exact = 2 * 9900 * 0.1408m + 1500 * 0.00667m * 100 + 1999 + 9900 * 0.1395m + 2 * 1500 * 0.00671m * 100;
        var expected = Math.Round(exact, 0, MidpointRounding.AwayFromZero);
        Assert.Equal(9181.39m, exact);
        var converted = en["volume_in_settlement"]!;
        Assert.Equal("USD", (string?)converted["currency"]);
        Assert.Equal(expected, (decimal)converted["amount"]!);
        Assert.Equal(["CNY", "JPY", "USD"], converted["converted"]!.AsArray().Select(c => (string)c!));
        Assert.Empty(converted["unconverted"]!.AsArray());
        Assert.Equal("≈ $91.81 at the day's manual rate", (string?)converted["label"]);
        Assert.Null((string?)converted["unconverted_label"]);
        var zh = await SnapshotAsync(server, m, "zh-CN");
        Assert.Equal("≈ 91.81 USD（按当日手动设定汇率）", (string?)zh["volume_in_settlement"]!["label"]);

        // Settled in CNY (the default): USD has today's rate, JPY has none, so JPY stays out of the total and is named.
        var cny = await server.NewMerchantAsync();
        var (_, cnyCourse) = await cny.CourseAsync(7000, (9900, "CNY"), (1999, "USD"), (1500, "JPY"));
        await PutOkAsync(cny, "/v1/fx/rates", new { rates = new[] { new { @base = "USD", quote = "CNY", rate = 7.1m } } });
        foreach (var currency in new[] { "CNY", "USD", "JPY" }) await PaidAsync(cny, cnyCourse, currency);
        var partial = (await SnapshotAsync(server, cny, "en"))["volume_in_settlement"]!;
        Assert.Equal("CNY", (string?)partial["currency"]);
        Assert.Equal(Math.Round(9900 + 1999 * 7.1m, 0, MidpointRounding.AwayFromZero), (decimal)partial["amount"]!);
        Assert.Equal(["CNY", "USD"], partial["converted"]!.AsArray().Select(c => (string)c!));
        var unconverted = Assert.Single(partial["unconverted"]!.AsArray())!;
        Assert.Equal("JPY", (string?)unconverted["currency"]);
        var today = clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Assert.Equal([today], unconverted["days"]!.AsArray().Select(d => (string)d!));
        Assert.Equal($"Not converted (no rate for the day): JPY {today}", (string?)partial["unconverted_label"]);
        Assert.Equal($"未换算（当日无汇率）：JPY {today}", (string?)(await SnapshotAsync(server, cny, "zh-CN"))["volume_in_settlement"]!["unconverted_label"]);

        // Everything already in the settlement currency: nothing to convert, no converted line.
        var local = await server.NewMerchantAsync();
        var (_, localCourse) = await local.CourseAsync();
        await PaidAsync(local, localCourse, "CNY");
        var plain = await SnapshotAsync(server, local, "en");
        Assert.Equal(["99.00 CNY"], plain["volume"]!.AsArray().Select(v => (string)v!));
        Assert.Null(plain["volume_in_settlement"]);
    }

    static async Task PaidAsync(MerchantClient m, string productId, string currency)
    {
        var order = await m.OrderAsync(productId, currency, "learner-" + Guid.NewGuid().ToString("N")[..8]);
        var payment = await m.PaymentAsync((string)order["id"]!);
        await m.BuyerPaysAsync((string)payment["id"]!);
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
    }

    static async Task<JsonObject> SnapshotAsync(KnowPayServer server, MerchantClient m, string locale)
    {
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(server.BaseUrl) };
        var login = await browser.PostAsync("/dashboard/login", new FormUrlEncodedContent([new("api_key", m.Secret)]));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        return JsonNode.Parse(await browser.GetStringAsync($"/dashboard/snapshot?locale={locale}"))!.AsObject();
    }

    static async Task PutOkAsync(MerchantClient m, string path, object body)
    {
        var response = await m.Http.PutAsJsonAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}
