using System.Globalization;
using System.Resources;
using System.Text.RegularExpressions;
using KnowPay.Features.Monitoring;

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

    static string[] Placeholders(string s) => Regex.Matches(s, @"\{\d+\}").Select(m => m.Value).Order(StringComparer.Ordinal).ToArray();
}
