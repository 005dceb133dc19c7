using KnowPay.Features.Checkout;
using Microsoft.AspNetCore.DataProtection;
using KnowPay.Infrastructure;

namespace KnowPay.Features.Monitoring;

/// <summary>Services and endpoints of the two HTML pages (dashboard, checkout) and their assets (/assets/*, embedded wwwroot).</summary>
public static class Pages
{
    public static void AddKnowPayPages(this WebApplicationBuilder builder)
    {
        var keys = builder.AddBoundOptions<KeyStorageOptions>().KeysDirectory;
        builder.Services.AddDataProtection().SetApplicationName("KnowPay").PersistKeysToFileSystem(new DirectoryInfo(keys));
        builder.Services.AddSingleton<CheckoutLinks>();
        builder.Services.AddKnowPayPageCultures();
    }

    public static void MapKnowPayPages(this WebApplication app)
    {
        Dashboard.Map(app);
        ReconciliationPage.Map(app);
        ReviewsPage.Map(app);
        CheckoutPage.Map(app);
        app.MapGet("/assets/{name}", Asset).ExcludeFromDescription();
    }

    /// <summary>
    /// A dashboard page beside the main one (the session's reconciliation, reviews): its title, the way back to the
    /// dashboard and the language switch for <paramref name="path"/> around <paramref name="panels"/>.
    /// </summary>
    internal static IResult DashboardSubpage(PageLocale t, string titleKey, string path, string panels) => CheckoutPage.Html($$"""
        <!doctype html>
        <html lang="{{t.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>{{t.Html(titleKey)}}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/pages.css"></head>
        <body class="dash-body">
        <header class="dash-head">
          <h1 class="dash-title"><span class="brand">KnowPay</span> {{t.Html(titleKey)}}</h1>
          <div class="head-right"><a href="{{Dashboard.Localized("/dashboard", t)}}">{{t.Html("Recon.Back")}}</a> {{t.LanguageSwitch(path + "?")}}</div>
        </header>
        <main class="dash">
        {{panels}}
        </main>
        </body></html>
        """);

    static IResult Asset(string name, HttpContext http)
    {
        var stream = typeof(Pages).Assembly.GetManifestResourceStream("wwwroot/" + name);
        if (stream is null) return Results.NotFound();
        var type = Path.GetExtension(name) switch { ".js" => "text/javascript; charset=utf-8", ".css" => "text/css; charset=utf-8", ".svg" => "image/svg+xml", _ => "application/octet-stream" };
        http.Response.Headers.CacheControl = "public, max-age=300";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Stream(stream, type);
    }
}
