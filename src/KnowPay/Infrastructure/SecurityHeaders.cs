using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace KnowPay.Infrastructure;

/// <summary>
/// Transport and page headers: no <c>Server</c> header; HSTS and HTTP→HTTPS redirection when an https endpoint is
/// configured; a Content-Security-Policy on every HTML page that does not set its own (the dashboard and checkout do).
/// </summary>
public static partial class SecurityHeaders
{
    /// <summary>For pages whose HTML KnowPay does not write (/docs, the sandbox's pages): scripts from this origin and the
    /// page's own inline scripts by hash; inline styles allowed (the API reference injects its styles at run time).</summary>
    const string PolicyTemplate = "default-src 'self'; script-src 'self'{0}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
                                  "font-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    public static void AddKnowPaySecurityHeaders(this WebApplicationBuilder builder) =>
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);

    public static void UseKnowPaySecurityHeaders(this WebApplication app)
    {
        if (TlsConfigured(app.Configuration))
        {
            app.UseHsts();
            app.UseHttpsRedirection();
        }
        app.Use(async (http, next) =>
        {
            http.Response.OnStarting(() =>
            {
                if (IsHtml(http.Response) && !http.Response.Headers.ContainsKey("Content-Security-Policy"))
                    http.Response.Headers.ContentSecurityPolicy = string.Format(System.Globalization.CultureInfo.InvariantCulture, PolicyTemplate, "");
                return Task.CompletedTask;
            });
            if (!InlineScriptPage(http))
            {
                await next();
                return;
            }
            // Buffered (the page is small) so that its inline script can be hashed into its policy.
            var body = http.Response.Body;
            using var buffer = new MemoryStream();
            http.Response.Body = buffer;
            try { await next(); }
            finally { http.Response.Body = body; }
            if (IsHtml(http.Response) && !http.Response.Headers.ContainsKey("Content-Security-Policy"))
                http.Response.Headers.ContentSecurityPolicy = PolicyFor(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
            if (http.Response.ContentLength is null && !http.Response.HasStarted) http.Response.ContentLength = buffer.Length;
            buffer.Position = 0;
            await buffer.CopyToAsync(body, http.RequestAborted);
        });
    }

    /// <summary>The policy for a page, with the sha256 of each of its inline scripts.</summary>
    public static string PolicyFor(ReadOnlySpan<byte> html)
    {
        var hashes = new StringBuilder();
        foreach (Match script in InlineScript().Matches(Encoding.UTF8.GetString(html)))
            hashes.Append(" 'sha256-").Append(Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script.Groups["code"].Value)))).Append('\'');
        return string.Format(System.Globalization.CultureInfo.InvariantCulture, PolicyTemplate, hashes);
    }

    /// <summary>An https endpoint in the server's configuration: <c>urls</c>, <c>https_ports</c> or <c>Kestrel:Endpoints:*:Url</c>.</summary>
    public static bool TlsConfigured(IConfiguration config) =>
        (config["urls"] ?? "").Split(';').Any(IsHttps) || !string.IsNullOrWhiteSpace(config["https_ports"]) ||
        config.GetSection("Kestrel:Endpoints").GetChildren().Any(e => IsHttps(e["Url"]));

    static bool IsHttps(string? url) => url?.Trim().StartsWith("https://", StringComparison.OrdinalIgnoreCase) == true;

    static bool IsHtml(HttpResponse response) => response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>The API reference's page, the one HTML page with an inline script (its start-up call).</summary>
    static bool InlineScriptPage(HttpContext http) => HttpMethods.IsGet(http.Request.Method) && http.Request.Path.StartsWithSegments("/docs");

    [GeneratedRegex("<script(?![^>]*\\bsrc\\s*=)[^>]*>(?<code>.*?)</script>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();
}
