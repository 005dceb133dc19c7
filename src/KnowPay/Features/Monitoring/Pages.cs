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
