using System.Net;
using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Monitoring;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Providers.Stripe;
using KnowPay.Providers.WeChatPay;
using KnowPay.Sandbox;
using Microsoft.EntityFrameworkCore;
using QRCoder;

namespace KnowPay.Features.Checkout;

public sealed record CheckoutPayRequest(string? Provider, string? Method);

/// <summary>
/// What the page does next. For a card (<c>client_secret</c>), <c>CardConfirmUrl</c> is where the page confirms the
/// PaymentIntent with the card, as Stripe.js would: set only when Stripe is the embedded sandbox (its buyer API).
/// </summary>
public sealed record CheckoutAction(string Type, string? QrImage, string? QrCode, string? RedirectUrl, string? ClientSecret, string? SandboxBuyerUrl,
    string? CardConfirmUrl = null)
{
    /// <summary>WeChat Pay JSAPI: the parameters the page hands to WeixinJSBridge.invoke('getBrandWCPayRequest', …).</summary>
    public WeChatJsapiNextAction? Jsapi { get; init; }
}

public sealed record CheckoutPaymentView(string Id, string Provider, string Method, PaymentStatus Status, CheckoutAction? NextAction);

public sealed record CheckoutStatus(string OrderId, string Status, bool Expired, DateTime ExpiresAt, DateTime? PaidAt, CheckoutPaymentView? Payment);

/// <summary>
/// The hosted checkout: GET /checkout/{order_id}?token=… (the page), POST …/payments (start or resume a payment with a
/// provider), GET …/status (polled by the page), GET …/return (where a page-pay provider sends the learner back). The
/// token is the order's client secret (<see cref="CheckoutLinks"/>); without a valid one the answer is 404, as if the
/// order did not exist. Cards go through Stripe: the page confirms the PaymentIntent with its client secret; in sandbox
/// mode a simulated card form does it against the Stripe sandbox's buyer API (with a live Stripe account the card
/// option is not offered here: that needs Stripe.js and a publishable key, which the configuration does not have).
/// </summary>
public static class CheckoutPage
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/checkout/{orderId}").ExcludeFromDescription();
        g.MapGet("", Page);
        g.MapPost("/payments", Pay);
        g.MapGet("/status", Status);
        g.MapGet("/return", Return);
        g.MapGet("/wechat-oauth", CheckoutWeChatOAuth.Callback);
    }

    /// <summary>
    /// The return URL given to page-pay providers. The checkout token travels as <c>ct</c> because providers append
    /// their own parameters (PayPal adds <c>token=</c> and <c>PayerID=</c>, which would clash with the page's token).
    /// </summary>
    static IResult Return(string orderId, string? ct, CheckoutLinks links, PageLocale t, TimeProvider clock) =>
        links.Verify(orderId, ct, clock.GetUtcNow().UtcDateTime)
            ? Results.Redirect($"/checkout/{Uri.EscapeDataString(orderId)}?token={Uri.EscapeDataString(ct!)}&{PageCultures.QueryKey}={t.Lang}")
            : NotFound(t);

    /// <summary>Carries the page's locale, so the learner comes back from the provider to the language they chose.</summary>
    static string ReturnUrl(PublicUrl publicUrl, string orderId, string token, string lang) =>
        publicUrl.Combine($"/checkout/{Uri.EscapeDataString(orderId)}/return?ct={Uri.EscapeDataString(token)}&{PageCultures.QueryKey}={lang}");

    /// <summary>The Stripe sandbox's base URL when Stripe is wired to the embedded sandbox, else null.</summary>
    static string? SandboxStripe(IServiceProvider services) =>
        services.GetService<StripeSettings>() is { } stripe && services.GetService<SandboxOptions>()?.PublicBaseUrl() is { } sandbox &&
        stripe.ApiBaseUrl.TrimEnd('/').Equals(sandbox.TrimEnd('/') + "/stripe", StringComparison.Ordinal)
            ? sandbox.TrimEnd('/') + "/stripe" : null;

    /// <summary>The WeChat Pay sandbox's base URL path when WeChat Pay is wired to the embedded sandbox, else null.</summary>
    static string? SandboxWeChat(IServiceProvider services) =>
        services.GetService<WeChatPaySettings>() is { } wx && services.GetService<SandboxOptions>() is { } sandbox &&
        wx.ApiBaseUrl.TrimEnd('/') == sandbox.PublicBaseUrl().TrimEnd('/') + "/wechatpay"
            ? sandbox.BasePath.TrimEnd('/') + "/wechatpay" : null;

    static async Task<IResult> Page(string orderId, string? token, HttpContext http, KnowPayDb db, CheckoutLinks links, PaymentProviders providers,
        IServiceProvider services, PageLocale t, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (!links.Verify(orderId, token, now)) return NotFound(t);
        var order = await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orderId, ct);
        if (order is null) return NotFound(t);
        var device = CheckoutDevices.Of(http.Request.Headers.UserAgent.ToString());
        // Inside WeChat, JSAPI needs the learner's openid: without one remembered, ask WeChat (once: oauth=failed stops the loop).
        if (device == CheckoutDevice.WeChat && order.Status == OrderStatus.Pending && http.Request.Query["oauth"] != "failed" &&
            CheckoutWeChatOAuth.Settings(providers, services) is { } wx && await CustomerOpenIdAsync(order, db, ct) is null)
            return Results.Redirect(CheckoutWeChatOAuth.AuthorizeUrl(wx, links, services.GetRequiredService<PublicUrl>(), order.Id, t.Lang, now));
        var product = await db.Products.AsNoTracking().Where(p => p.Id == order.ProductId).Select(p => p.Name).SingleOrDefaultAsync(ct) ?? order.ProductId;
        var merchant = await db.Merchants.AsNoTracking().Where(m => m.Id == order.MerchantId).Select(m => m.Name).SingleOrDefaultAsync(ct) ?? "";
        var price = t.Money(order.Amount, order.Currency);
        var buttons = string.Concat(CheckoutDevices.Options(providers, device).Select(o =>
            $"""<button type="button" class="pay-option" data-provider="{E(o.Provider)}" data-method="{E(o.Method)}"><span class="pay-name">{E(t.Provider(o.Provider))}</span><span class="pay-method">{E(t.Method(o.Provider, o.Method))}</span></button>"""));
        // Inside WeChat, Alipay cannot open: say where it works instead of offering it.
        var browserHint = device == CheckoutDevice.WeChat && providers.TryGet("alipay", out _)
            ? $"""<p id="open-in-browser" class="hint">{t.Html("Checkout.OpenInBrowser")}</p>""" : "";
        // The sandbox's WeixinJSBridge plays the WeChat client when WeChat Pay is the embedded sandbox (same origin: the CSP allows it).
        var bridge = device == CheckoutDevice.WeChat && SandboxWeChat(services) is { } wxSandbox
            ? $"""<script src="{E(wxSandbox)}/jsapi/bridge.js"></script>""" : "";
        var card = providers.TryGet("stripe", out _) && SandboxStripe(services) is not null
            ? $$"""
              <section id="card-slot" class="card-slot" data-provider="stripe" aria-labelledby="card-heading"><h2 id="card-heading">{{t.Html("Checkout.Card.Heading")}}</h2>
                <form id="card-form" class="card-form" novalidate autocomplete="off">
                  <label for="card-number">{{t.Html("Checkout.Card.Number")}}</label>
                  <input id="card-number" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" maxlength="23" required aria-describedby="card-hint">
                  <button id="card-pay" type="submit" class="primary">{{t.Html("Checkout.Card.Pay", E(price))}}</button>
                  <p id="card-hint" class="hint small">{{t.Html("Checkout.Card.SandboxHint")}}</p>
                </form>
                <div id="card-auth" class="card-auth" hidden><p>{{t.Html("Checkout.Card.AuthPrompt")}}</p>
                  <button id="card-authenticate" type="button" class="primary">{{t.Html("Checkout.Card.Authenticate")}}</button></div>
                <p id="card-message" class="card-message" role="status" hidden></p>
              </section>
              """
            : "";
        var tz = http.Request.Query[CheckoutTimeZone.QueryKey].ToString();
        var expires = CheckoutTimeZone.Show(order.ExpiresAt, CheckoutTimeZone.For(tz, t.Lang));
        var self = $"/checkout/{Uri.EscapeDataString(order.Id)}?token={Uri.EscapeDataString(token!)}" +
                   (CheckoutTimeZone.Requested(tz) is null ? "" : $"&{CheckoutTimeZone.QueryKey}={Uri.EscapeDataString(tz)}");
        var html = $$"""
            <!doctype html>
            <html lang="{{t.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>{{t.Html("Checkout.Title", E(product))}}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/pages.css">
            <script type="application/json" id="page-text">{{t.ScriptJson()}}</script>
            {{bridge}}<script src="/assets/checkout.js" defer></script></head>
            <body class="checkout-body">
            <main id="checkout" class="checkout" data-order="{{E(order.Id)}}" data-token="{{E(token!)}}" data-locale="{{t.Lang}}" data-status="{{E(Lower(order.Status))}}" data-device="{{device.ToString().ToLowerInvariant()}}">
              <header class="checkout-head"><span class="brand">KnowPay</span><span class="secure">{{t.Html("Checkout.Secure")}}</span>{{t.LanguageSwitch(self)}}</header>
              <p class="merchant">{{E(merchant)}}</p>
              <h1 id="product">{{E(product)}}</h1>
              {{(order.Description is { Length: > 0 } d ? $"<p class=\"desc\">{E(d)}</p>" : "")}}
              <p class="price" id="price">{{E(price)}}</p>
              <p class="expires">{{t.Html("Checkout.PayBefore", $"<time id=\"expires-at\" datetime=\"{expires.Attribute}\">{expires.Text}</time>")}} · <span id="countdown"></span></p>
              <section id="choose" class="choose" aria-labelledby="choose-heading"><h2 id="choose-heading">{{t.Html("Checkout.PayWith")}}</h2><div class="pay-options" id="providers">{{buttons}}</div>{{browserHint}}{{card}}</section>
              <section id="action" class="action" aria-labelledby="action-hint" hidden>
                <img id="qr" class="qr" alt="{{t.Html("Checkout.QrAlt")}}" width="240" height="240">
                <p id="action-hint" class="hint" tabindex="-1" aria-live="polite">{{t.Html("Checkout.ScanHint")}}</p>
                <p><a id="sandbox-buyer" class="sandbox-link" href="#" target="_blank" rel="noopener" hidden>{{t.Html("Checkout.SandboxBuyer")}}</a></p>
                <p><a id="continue" class="sandbox-link" href="#" hidden>{{t.Html("Checkout.Continue")}}</a></p>
                <p><button type="button" id="change" class="link-button">{{t.Html("Checkout.Change")}}</button></p>
              </section>
              <section id="returned" class="state state-returned" hidden><h2 id="returned-heading" tabindex="-1"></h2><p id="returned-text"></p>
                <p><button type="button" id="retry" class="primary">{{t.Html("Checkout.Retry")}}</button></p></section>
              <section id="paid" class="state state-paid" hidden><div class="tick" aria-hidden="true">✓</div><h2 tabindex="-1">{{t.Html("Checkout.Paid")}}</h2><p>{{t.Html("Checkout.PaidText")}}</p></section>
              <section id="expired" class="state state-expired" hidden><h2 tabindex="-1">{{t.Html("Checkout.Expired")}}</h2><p>{{t.Html("Checkout.ExpiredText")}}</p></section>
              <p id="error" class="error" role="alert" hidden></p>
              <footer class="status-line">{{t.Html("Checkout.StatusLabel")}} <strong id="status">{{E(t.Status(Lower(order.Status)))}}</strong></footer>
            </main>
            </body></html>
            """;
        return Html(html);
    }

    static async Task<IResult> Pay(string orderId, string? token, CheckoutPayRequest body, HttpContext http, KnowPayDb db, CheckoutLinks links,
        PaymentProviders providers, PublicUrl publicUrl, IServiceProvider services, PageLocale t, TimeProvider clock, ILoggerFactory logs, CancellationToken ct)
    {
        if (!links.Verify(orderId, token, clock.GetUtcNow().UtcDateTime)) return NotFound(t);
        var order = await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orderId, ct);
        if (order is null) return NotFound(t);
        // A reload or a second click resumes the learner's pending payment with the same provider and method.
        var existing = await db.Payments.AsNoTracking()
            .Where(p => p.OrderId == orderId && p.Status == PaymentStatus.Pending && p.Provider == body.Provider && p.Method == (body.Method ?? p.Method))
            .OrderByDescending(p => p.CreatedAt).FirstOrDefaultAsync(ct);
        if (existing is not null && order.Status == OrderStatus.Pending) return Results.Json(View(existing, services), KnowPayJson.Options);
        var payer = await PayerAsync(body.Method, order, http, db, ct);
        var (payment, problem) = await CreatePayment.StartAsync(order, new CreatePaymentRequest(body.Provider, body.Method, ReturnUrl(publicUrl, orderId, token!, t.Lang), payer,
            Risk.RiskContextInput.FromRequest(http)), db, providers, publicUrl, clock, logs.CreateLogger(nameof(CheckoutPage)), ct, services.GetService<Risk.RiskEngine>(),
            services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Fx.FxOptions>>().Value);
        return (IResult?)problem ?? Results.Json(View(payment!, services), KnowPayJson.Options);
    }

    /// <summary>
    /// What the method needs to know about the learner, filled by the server: H5 the learner's IP (the request's remote
    /// address, after the forwarded-headers middleware), JSAPI the customer's openid remembered from WeChat OAuth.
    /// </summary>
    static async Task<PayerInput?> PayerAsync(string? method, Order order, HttpContext http, KnowPayDb db, CancellationToken ct)
    {
        if (method == PaymentMethods.H5 && http.Connection.RemoteIpAddress is { } ip)
            return new PayerInput(null, (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString());
        if (method == PaymentMethods.Jsapi)
            return new PayerInput(await CustomerOpenIdAsync(order, db, ct), null);
        return null;
    }

    /// <summary>The customer's openid remembered from WeChat OAuth, or null.</summary>
    static Task<string?> CustomerOpenIdAsync(Order order, KnowPayDb db, CancellationToken ct) =>
        db.Customers.AsNoTracking().Where(c => c.Id == order.CustomerId && c.MerchantId == order.MerchantId).Select(c => c.WeChatOpenId).SingleOrDefaultAsync(ct);

    static async Task<IResult> Status(string orderId, string? token, bool? action, KnowPayDb db, CheckoutLinks links, IServiceProvider services,
        PageLocale t, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (!links.Verify(orderId, token, now)) return NotFound(t);
        var order = await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orderId, ct);
        if (order is null) return NotFound(t);
        var payment = await db.Payments.AsNoTracking().Where(p => p.OrderId == orderId)
            .OrderByDescending(p => p.Status == PaymentStatus.Succeeded).ThenByDescending(p => p.CreatedAt).FirstOrDefaultAsync(ct);
        var view = payment is null ? null
            : action == true ? View(payment, services)
            : new CheckoutPaymentView(payment.Id, payment.Provider, payment.Method, payment.Status, null);
        var expired = order.Status is OrderStatus.Expired or OrderStatus.Canceled || (order.Status == OrderStatus.Pending && order.ExpiresAt <= now);
        return Results.Json(new CheckoutStatus(order.Id, Lower(order.Status), expired, order.ExpiresAt, order.PaidAt, view), KnowPayJson.Options,
            statusCode: 200);
    }

    static CheckoutPaymentView View(Payment p, IServiceProvider services)
    {
        CheckoutAction? action = null;
        if (p.Status == PaymentStatus.Pending)
        {
            var sandboxBase = services.GetService<SandboxOptions>()?.PublicBaseUrl();
            var target = p.QrCode ?? p.RedirectUrl;
            var buyer = sandboxBase is not null && target is not null && target.StartsWith(sandboxBase, StringComparison.Ordinal) ? target
                // WeChat Pay's code_url is weixin://…, as in production: the sandbox's buyer page is found by out_trade_no (the payment id).
                : sandboxBase is not null && p.Provider == "wechatpay" && services.GetService<WeChatPaySettings>() is { } wx &&
                  wx.ApiBaseUrl.TrimEnd('/') == sandboxBase.TrimEnd('/') + "/wechatpay" ? $"{sandboxBase.TrimEnd('/')}/wechatpay/pay/{Uri.EscapeDataString(p.Id)}"
                : null;
            action = p.Method == PaymentMethods.Jsapi && p.SignedParameters is not null
                    && JsonSerializer.Deserialize<NextAction>(p.SignedParameters, KnowPayJson.Options) is WeChatJsapiNextAction jsapi
                    ? new CheckoutAction("wechat_jsapi", null, null, null, null, null) { Jsapi = jsapi }
                : p.QrCode is not null ? new CheckoutAction("qr_code", QrImage(p.QrCode), p.QrCode, null, null, buyer)
                : p.RedirectUrl is not null ? new CheckoutAction("redirect", null, null, p.RedirectUrl, null, buyer)
                : p.ClientSecret is not null ? new CheckoutAction("client_secret", null, null, null, p.ClientSecret, null,
                    SandboxStripe(services) is { } stripe && p.ProviderTradeNo is { } intent ? $"{stripe}/v1/payment_intents/{Uri.EscapeDataString(intent)}/confirm" : null)
                : null;
        }
        return new CheckoutPaymentView(p.Id, p.Provider, p.Method, p.Status, action);
    }

    /// <summary>The QR code rendered on the server as an SVG data URI (no script can read or alter the payload).</summary>
    public static string QrImage(string payload)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(payload, QRCodeGenerator.ECCLevel.M);
        var svg = new SvgQRCode(data).GetGraphic(8);
        return "data:image/svg+xml;base64," + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(svg));
    }

    static string Lower(OrderStatus s) => s.ToString().ToLowerInvariant();

    static string E(string s) => WebUtility.HtmlEncode(s);

    public static IResult NotFoundPage(PageLocale t) => NotFound(t);

    static IResult NotFound(PageLocale t) => Html($"""
        <!doctype html><html lang="{t.Lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>{t.Html("Checkout.Invalid.Title")}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/pages.css"></head>
        <body class="checkout-body"><main class="checkout"><h1>{t.Html("Checkout.Invalid.Heading")}</h1><p>{t.Html("Checkout.Invalid.Text")}</p></main></body></html>
        """, 404);

    public static IResult Html(string html, int status = 200) => new HtmlPage(html, status);

    /// <summary>HTML with the pages' security headers: scripts and styles only from this origin, images also as data URIs.</summary>
    sealed class HtmlPage(string html, int status) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = status;
            http.Response.ContentType = "text/html; charset=utf-8";
            Headers(http.Response.Headers);
            return http.Response.WriteAsync(html, http.RequestAborted);
        }
    }

    public static void Headers(IHeaderDictionary headers)
    {
        headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
                                        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
    }
}
