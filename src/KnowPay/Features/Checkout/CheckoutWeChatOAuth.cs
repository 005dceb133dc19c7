using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Monitoring;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Providers.WeChatPay;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Checkout;

/// <summary>
/// WeChat OAuth (snsapi_base) for the hosted checkout opened inside WeChat: JSAPI pays as the learner's openid under
/// the WeChat Pay appid. The page redirects to WeChat's authorize URL; WeChat comes back to <c>/checkout/{order}/wechat-oauth</c>
/// with <c>code</c> and <c>state</c>; the code is exchanged at sns/oauth2/access_token for the openid, which is kept on the
/// customer so their next checkout skips OAuth. <c>state</c> is a checkout-link token for this order under its own purpose
/// (HMAC over "wechat-oauth:{order}.{expiry}", good for 15 minutes): a forged or another order's state is refused.
/// </summary>
public static class CheckoutWeChatOAuth
{
    const string Purpose = "wechat-oauth:";
    static readonly TimeSpan StateLifetime = TimeSpan.FromMinutes(15);

    /// <summary>OAuth is possible: WeChat Pay offers JSAPI and an AppSecret is configured.</summary>
    public static WeChatPaySettings? Settings(PaymentProviders providers, IServiceProvider services) =>
        providers.TryGet("wechatpay", out var wx) && wx.Methods.Contains(PaymentMethods.Jsapi) &&
        services.GetService<WeChatPaySettings>() is { AppSecret.Length: > 0 } settings ? settings : null;

    /// <summary>WeChat's authorize URL, coming back to this order's callback with a state bound to the order.</summary>
    public static string AuthorizeUrl(WeChatPaySettings settings, CheckoutLinks links, PublicUrl publicUrl, string orderId, string lang, DateTime now)
    {
        var redirectUri = publicUrl.Combine($"/checkout/{Uri.EscapeDataString(orderId)}/wechat-oauth?{PageCultures.QueryKey}={lang}");
        var state = links.TokenFor(Purpose + orderId, now + StateLifetime);
        return $"{settings.OAuthBaseUrl.TrimEnd('/')}/connect/oauth2/authorize?appid={Uri.EscapeDataString(settings.AppId)}" +
               $"&redirect_uri={Uri.EscapeDataString(redirectUri)}&response_type=code&scope=snsapi_base&state={Uri.EscapeDataString(state)}#wechat_redirect";
    }

    /// <summary>GET /checkout/{orderId}/wechat-oauth?code=…&amp;state=…: remembers the openid, then back to the checkout page.</summary>
    public static async Task<IResult> Callback(string orderId, string? code, string? state, KnowPayDb db, CheckoutLinks links, PaymentProviders providers,
        IServiceProvider services, IHttpClientFactory http, PageLocale t, TimeProvider clock, ILoggerFactory logs, CancellationToken ct)
    {
        if (!links.Verify(Purpose + orderId, state, clock.GetUtcNow().UtcDateTime)) return CheckoutPage.NotFoundPage(t);
        var order = await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orderId, ct);
        if (order is null) return CheckoutPage.NotFoundPage(t);
        var page = links.UrlFor(order) + $"&{PageCultures.QueryKey}={t.Lang}";
        var log = logs.CreateLogger(nameof(CheckoutWeChatOAuth));
        var openId = Settings(providers, services) is { } settings && !string.IsNullOrEmpty(code)
            ? await OpenIdAsync(http.CreateClient(WeChatPayProvider.HttpClientName), settings, code, log, ct) : null;
        // Without an openid the page shows what it can and does not send the learner round again.
        if (openId is null) return Results.Redirect(page + "&oauth=failed");
        var customer = await db.Customers.SingleOrDefaultAsync(c => c.Id == order.CustomerId && c.MerchantId == order.MerchantId, ct);
        if (customer is not null && customer.WeChatOpenId != openId)
        {
            customer.WeChatOpenId = openId;
            await db.SaveChangesAsync(ct);
        }
        return Results.Redirect(page);
    }

    /// <summary>sns/oauth2/access_token through WeChat Pay's client (its User-Agent, timeouts and retries): the openid, or null
    /// (errcode, an unreadable answer, a network failure), logged.</summary>
    static async Task<string?> OpenIdAsync(HttpClient client, WeChatPaySettings settings, string code, ILogger log, CancellationToken ct)
    {
        var url = $"{settings.OAuthApiBaseUrl.TrimEnd('/')}/sns/oauth2/access_token?appid={Uri.EscapeDataString(settings.AppId)}" +
                  $"&secret={Uri.EscapeDataString(settings.AppSecret!)}&code={Uri.EscapeDataString(code)}&grant_type=authorization_code";
        try
        {
            using var response = await client.GetAsync(url, ct);
            var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct));
            if ((string?)answer?["openid"] is { Length: > 0 and <= 128 } openId) return openId;
            log.LogWarning("WeChat OAuth refused the code: {ErrCode} {ErrMsg}", (int?)answer?["errcode"], (string?)answer?["errmsg"]);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException
                                      or Polly.Timeout.TimeoutRejectedException or Polly.CircuitBreaker.BrokenCircuitException)
        {
            log.LogWarning(e, "WeChat OAuth: the code could not be exchanged");
        }
        return null;
    }
}
