using System.Globalization;
using System.Resources;
using System.Text.RegularExpressions;
using KnowPay.Features.Monitoring;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KnowPay.Tests.Localization;

public sealed class PageTextTests
{
    static readonly ResourceManager Resources = new(typeof(PageText).FullName!, typeof(PageText).Assembly);

    static Dictionary<string, string> Strings(string culture) =>
        Resources.GetResourceSet(new CultureInfo(culture), createIfNotExists: true, tryParents: false)!
            .Cast<System.Collections.DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string)e.Value!);

    [Fact]
    public void EveryKey_IsInBothCultures_NonEmpty_WithTheSamePlaceholders()
    {
        var en = Strings(CultureInfo.InvariantCulture.Name);
        var zh = Strings("zh-CN");
        Assert.True(en.Count > 50, $"only {en.Count} strings in PageText.resx");
        Assert.Empty(en.Keys.Except(zh.Keys));
        Assert.Empty(zh.Keys.Except(en.Keys));
        foreach (var (key, value) in en)
        {
            Assert.False(string.IsNullOrWhiteSpace(value), key);
            Assert.False(string.IsNullOrWhiteSpace(zh[key]), key);
            Assert.Equal(Placeholders(value), Placeholders(zh[key]));
        }
    }

    [Fact]
    public void ChineseText_IsChinese_WhereLearnersReadIt()
    {
        var zh = Strings("zh-CN");
        Assert.Equal("支付宝", zh["Provider.alipay"]);
        Assert.Equal("微信支付", zh["Provider.wechatpay"]);
        Assert.Equal("Stripe", zh["Provider.stripe"]);
        Assert.Equal("PayPal", zh["Provider.paypal"]);
        foreach (var key in zh.Keys.Where(k => k.StartsWith("Checkout.", StringComparison.Ordinal)))
            Assert.Matches(new Regex(@"\p{IsCJKUnifiedIdeographs}"), zh[key]);
    }

    [Theory]
    [InlineData("en", "WeChat Pay success rate 62.5%; alert below 80%", "3 Alipay payments failed; alert at 20", "Oldest webhook delivery waiting 412 s; alert at 300 s")]
    [InlineData("zh-CN", "微信支付 成功率 62.5%，低于 80% 告警", "支付宝 有 3 笔支付失败，达到 20 笔告警", "最早的 Webhook 投递已等待 412 秒，达到 300 秒告警")]
    public void DashboardAlerts_AreInTheViewersLanguage_WithTheProvidersName(string culture, string successRate, string errorSpike, string outboxLag)
    {
        var before = CultureInfo.CurrentUICulture;
        try
        {
            CultureInfo.CurrentUICulture = new CultureInfo(culture);
            var t = new PageLocale(new StringLocalizer<PageText>(new ResourceManagerStringLocalizerFactory(
                Options.Create(new LocalizationOptions()), NullLoggerFactory.Instance)));
            AlertView Alert(string kind, string subject, double value, double threshold) =>
                new("alr_1", "alert", "rule", kind, subject, "firing", value, threshold, "stored English", DateTime.UnixEpoch, null);
            Assert.Equal(successRate, t.Alert(Alert("success_rate", "wechatpay", 0.625, 0.8)));
            Assert.Equal(errorSpike, t.Alert(Alert("error_spike", "alipay", 3, 20)));
            Assert.Equal(outboxLag, t.Alert(Alert("outbox_lag", "outbox", 412.4, 300)));
            Assert.Equal("stored English", t.Alert(Alert("some_future_kind", "alipay", 1, 1)));
        }
        finally
        {
            CultureInfo.CurrentUICulture = before;
        }
    }

    [Theory]
    [InlineData("en", "Alipay refund rate 40%, far above its usual 5% at this hour of day", "Alipay refund rate 40%, far above its usual 5% over all hours (this hour of day is still learning)")]
    [InlineData("zh-CN", "支付宝 退款率 40%，远高于平常的 5%（同一时段）", "支付宝 退款率 40%，远高于平常的 5%（全天基线，该时段仍在积累）")]
    public void ARateAnomalyOnTheDashboard_SaysWhichBaselineItWasJudgedAgainst(string culture, string sameHour, string everyHour)
    {
        var before = CultureInfo.CurrentUICulture;
        try
        {
            CultureInfo.CurrentUICulture = new CultureInfo(culture);
            var t = new PageLocale(new StringLocalizer<PageText>(new ResourceManagerStringLocalizerFactory(
                Options.Create(new LocalizationOptions()), NullLoggerFactory.Instance)));
            AlertView Alert(string baseline) =>
                new("alr_1", "alert", "refund_rate_anomaly", "refund_rate_anomaly", "alipay", "firing", 0.4, 0.05, "stored English", DateTime.UnixEpoch, null, baseline);
            Assert.Equal(sameHour, t.Alert(Alert("same_hour")));
            Assert.Equal(everyHour, t.Alert(Alert("every_hour")));
        }
        finally
        {
            CultureInfo.CurrentUICulture = before;
        }
    }

    static string[] Placeholders(string s) => Regex.Matches(s, @"\{\d+\}").Select(m => m.Value).Order(StringComparer.Ordinal).ToArray();
}
