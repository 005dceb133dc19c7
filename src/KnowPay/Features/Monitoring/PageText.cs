using System.Globalization;
using System.Net;
using System.Text.Json;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Localization;
using Microsoft.Extensions.Localization;
using Microsoft.Net.Http.Headers;

namespace KnowPay.Features.Monitoring;

/// <summary>The checkout's and dashboard's text: PageText.resx (en) and PageText.zh-CN.resx, read through IStringLocalizer.</summary>
public sealed class PageText;

/// <summary>
/// The text of one page request in its culture (set by <see cref="PageCultures"/>): HTML-encoded lookups, provider and
/// method names as learners know them, amounts by <see cref="MoneyFormat"/>, and the strings the page's script needs.
/// </summary>
public sealed class PageLocale(IStringLocalizer<PageText> text)
{
    public CultureInfo Culture { get; } = CultureInfo.CurrentUICulture;

    /// <summary>The BCP 47 tag for <c>&lt;html lang&gt;</c> and the <c>locale</c> query parameter.</summary>
    public string Lang => Culture.Name;

    public string this[string key] => text[key].Value;

    /// <summary>The text HTML-encoded; <paramref name="html"/> fills its {0}, {1}… as given (already-safe markup).</summary>
    public string Html(string key, params object[] html) => string.Format(CultureInfo.InvariantCulture, WebUtility.HtmlEncode(this[key]), html);

    /// <summary>The plain text with <paramref name="args"/> in its {0}, {1}… (for JSON the page's script shows as text).</summary>
    public string Text(string key, params object[] args) => string.Format(CultureInfo.InvariantCulture, this[key], args);

    public string Provider(string provider) => text["Provider." + provider] is { ResourceNotFound: false } s ? s.Value : provider;

    public string Method(string provider, string method) =>
        text[$"Method.{provider}.{method}"] is { ResourceNotFound: false } special ? special.Value
        : text["Method." + method] is { ResourceNotFound: false } s ? s.Value : method;

    public string Status(string status) => text["Status." + status] is { ResourceNotFound: false } s ? s.Value : status;

    public string Money(long amount, string currency) => MoneyFormat.Format(amount, currency, Culture);

    /// <summary>
    /// An alert in the viewer's language, from what the alert keeps (kind, subject, value, threshold); the stored English
    /// <see cref="AlertView.Message"/> (what the API answers) for a kind without text.
    /// </summary>
    public string Alert(AlertView alert)
    {
        if (text["Dashboard.Alert." + alert.Kind] is not { ResourceNotFound: false } template) return alert.Message;
        var rate = alert.Kind is "success_rate" or "success_rate_anomaly" or "refund_rate_anomaly" or "risk_block_rate_anomaly";
        string Figure(double x) => rate ? (x * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%" : x.ToString("0", CultureInfo.InvariantCulture);
        var message = string.Format(CultureInfo.InvariantCulture, template.Value, Provider(alert.Subject), Figure(alert.Value), Figure(alert.Threshold));
        // A rate anomaly says which baseline it was judged against; a volume's text already says "at this time of day".
        return rate && alert.Baseline is { } baseline && text["Dashboard.Alert.Baseline." + baseline] is { ResourceNotFound: false } against
            ? message + against.Value : message;
    }

    /// <summary>
    /// The strings a page's script shows (Js.*, Provider.*, Method.*, Status.*) as JSON for a
    /// <c>&lt;script type="application/json"&gt;</c> block; the default encoder escapes &lt; &gt; &amp;, so it cannot close the block.
    /// </summary>
    public string ScriptJson() => JsonSerializer.Serialize(text.GetAllStrings(includeParentCultures: true)
        .Where(s => s.Name.StartsWith("Js.", StringComparison.Ordinal) || s.Name.StartsWith("Provider.", StringComparison.Ordinal) ||
                    s.Name.StartsWith("Method.", StringComparison.Ordinal) || s.Name.StartsWith("Status.", StringComparison.Ordinal))
        .ToDictionary(s => s.Name, s => s.Value));

    /// <summary>Links to the same page in the other supported languages; <paramref name="url"/> ends with a query (…?token=… or ?).</summary>
    public string LanguageSwitch(string url) =>
        $"""<nav class="lang-switch" aria-label="{Html("Checkout.Language")}">""" + string.Concat(PageCultures.Supported.Select(c => c.Name == Lang
            ? $"""<span lang="{c.Name}" aria-current="page">{PageCultures.NativeName(c)}</span>"""
            : $"""<a href="{WebUtility.HtmlEncode(url + (url.EndsWith('?') ? "" : "&") + "locale=" + c.Name)}" lang="{c.Name}" hreflang="{c.Name}">{PageCultures.NativeName(c)}</a>""")) +
        "</nav>";
}

/// <summary>
/// The pages' culture: <c>?locale=en|zh-CN</c>, else the first Accept-Language entry whose language is supported
/// (any zh-… → zh-CN, any en-… → en), else en. Only the pages: the API (/v1) answers in English whatever the request says.
/// </summary>
public static class PageCultures
{
    public static readonly CultureInfo[] Supported = [new("en"), new("zh-CN")];

    public const string QueryKey = "locale";

    public static string NativeName(CultureInfo culture) => culture.Name == "zh-CN" ? "中文" : "English";

    public static void AddKnowPayPageCultures(this IServiceCollection services)
    {
        services.AddLocalization();
        services.AddScoped<PageLocale>();
        services.Configure<RequestLocalizationOptions>(o =>
        {
            o.DefaultRequestCulture = new RequestCulture(Supported[0]);
            o.SupportedCultures = Supported;
            o.SupportedUICultures = Supported;
            o.RequestCultureProviders =
            [
                new QueryStringRequestCultureProvider { QueryStringKey = QueryKey, UIQueryStringKey = QueryKey },
                new AcceptLanguageByLanguage(),
            ];
        });
    }

    public static IApplicationBuilder UseKnowPayPageCultures(this IApplicationBuilder app) =>
        app.UseWhen(http => http.Request.Path.StartsWithSegments("/checkout") || http.Request.Path.StartsWithSegments("/dashboard"),
            pages => pages.UseRequestLocalization());

    /// <summary>
    /// Accept-Language matched on the language subtag: the process runs with invariant globalization, where a culture has
    /// no parent chain, so the stock provider would not take zh-Hans-CN or en-US for a supported culture.
    /// </summary>
    sealed class AcceptLanguageByLanguage : RequestCultureProvider
    {
        public override Task<ProviderCultureResult?> DetermineProviderCultureResult(HttpContext http)
        {
            var header = http.Request.Headers.AcceptLanguage.ToString();
            if (header.Length == 0 || !StringWithQualityHeaderValue.TryParseList(header.Split(','), out var entries))
                return NullProviderCultureResult;
            foreach (var entry in entries.Where(e => e.Quality is not 0).OrderByDescending(e => e.Quality ?? 1))
            {
                var language = entry.Value.Value?.Split('-')[0];
                if (Supported.FirstOrDefault(c => c.Name.Split('-')[0].Equals(language, StringComparison.OrdinalIgnoreCase)) is { } match)
                    return Task.FromResult<ProviderCultureResult?>(new ProviderCultureResult(match.Name));
            }
            return NullProviderCultureResult;
        }
    }
}
