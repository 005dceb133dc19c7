using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using KnowPay.Data;
using KnowPay.Features.Audit;
using KnowPay.Features.Checkout;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Monitoring;

/// <summary>
/// The live operations dashboard. Sign-in: the form POSTs a secret API key (scope orders:read); the answer is an
/// HttpOnly, SameSite=Strict cookie holding a Data Protection token (merchant, key id, 12 h expiry) — the key itself
/// never reaches script. The page then listens to /dashboard/stream: server-sent events, one JSON snapshot about
/// every second, computed from the database (cached 0.9 s per merchant, so many viewers cost one query set).
/// </summary>
public static class Dashboard
{
    public const string CookieName = "knowpay_dashboard";
    static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(12);
    static readonly ConcurrentDictionary<string, (long At, DashboardSnapshot Snapshot)> Cache = new();

    public static void Map(IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/dashboard").ExcludeFromDescription();
        g.MapGet("", Page);
        g.MapPost("/login", Login).DisableAntiforgery();
        g.MapPost("/logout", Logout).DisableAntiforgery();
        g.MapGet("/snapshot", Snapshot);
        g.MapGet("/stream", Stream);
    }

    sealed record Session(string MerchantId, string KeyId);

    static ITimeLimitedDataProtector Protector(IDataProtectionProvider dp) => dp.CreateProtector("KnowPay.Dashboard.Session.v1").ToTimeLimitedDataProtector();

    /// <summary>The session of the request's cookie, if the token is genuine, unexpired, and its key is still valid.</summary>
    static async Task<Session?> SessionAsync(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, CancellationToken ct)
    {
        if (http.Request.Cookies[CookieName] is not { Length: > 0 } cookie) return null;
        string payload;
        try { payload = Protector(dp).Unprotect(cookie); }
        catch (CryptographicException) { return null; }
        var parts = payload.Split('|');
        if (parts.Length != 2) return null;
        var valid = await db.ApiKeys.AsNoTracking().AnyAsync(k => k.Id == parts[1] && k.MerchantId == parts[0] && k.RevokedAt == null, ct);
        return valid ? new Session(parts[0], parts[1]) : null;
    }

    static async Task<IResult> Page(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, CancellationToken ct) =>
        await SessionAsync(http, dp, db, ct) is null ? SignIn(null) : CheckoutPage.Html(DashboardHtml);

    static async Task<IResult> Login(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, TimeProvider clock, AuditTrail audit, CancellationToken ct)
    {
        var form = await http.Request.ReadFormAsync(ct);
        var secret = form["api_key"].ToString().Trim();
        var hash = ApiKeys.Hash(secret);
        var key = secret.Length == 0 ? null : await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Hash == hash && k.RevokedAt == null, ct);
        var scopes = key?.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        var signedIn = key is not null && (scopes.Contains("*") || scopes.Contains("orders:read"));
        await audit.RecordDashboardAsync(http, "dashboard.login", key is null ? null : (key.MerchantId, key.Id), signedIn ? 302 : 401, clock);
        if (key is null || !signedIn)
            return SignIn(key is null ? "That key is not valid." : "That key lacks the orders:read scope.", 401);
        var token = Protector(dp).Protect($"{key.MerchantId}|{key.Id}", clock.GetUtcNow() + SessionLifetime);
        http.Response.Cookies.Append(CookieName, token, new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps, Path = "/dashboard", MaxAge = SessionLifetime, IsEssential = true,
        });
        return Results.Redirect("/dashboard", permanent: false, preserveMethod: false);
    }

    static async Task<IResult> Logout(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, TimeProvider clock, AuditTrail audit, CancellationToken ct)
    {
        if (await SessionAsync(http, dp, db, ct) is { } session) await audit.RecordDashboardAsync(http, "dashboard.logout", (session.MerchantId, session.KeyId), 302, clock);
        http.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/dashboard" });
        return Results.Redirect("/dashboard");
    }

    static async Task<IResult> Snapshot(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        if (await SessionAsync(http, dp, db, ct) is not { } session) return Results.Unauthorized();
        return Results.Json(await CachedAsync(db, session.MerchantId, clock, ct), KnowPayJson.Options);
    }

    static async Task Stream(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, TimeProvider clock, IHostApplicationLifetime lifetime)
    {
        if (await SessionAsync(http, dp, db, http.RequestAborted) is not { } session)
        {
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        var ct = cts.Token;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        var checkedAt = Environment.TickCount64;
        try
        {
            await http.Response.WriteAsync("retry: 2000\n\n", ct);
            while (!ct.IsCancellationRequested)
            {
                var snapshot = await CachedAsync(db, session.MerchantId, clock, ct);
                await http.Response.WriteAsync("data: " + KnowPayJson.Serialize(snapshot) + "\n\n", ct);
                await http.Response.Body.FlushAsync(ct);
                await Task.Delay(TimeSpan.FromSeconds(1), clock, ct);
                if (Environment.TickCount64 - checkedAt > 60_000)
                {
                    if (await SessionAsync(http, dp, db, ct) is null) return; // key revoked or session expired: the page signs in again
                    checkedAt = Environment.TickCount64;
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    static async Task<DashboardSnapshot> CachedAsync(KnowPayDb db, string merchantId, TimeProvider clock, CancellationToken ct)
    {
        if (Cache.TryGetValue(merchantId, out var hit) && Environment.TickCount64 - hit.At < 900) return hit.Snapshot;
        var snapshot = await DashboardSnapshots.ComputeAsync(db, merchantId, clock.GetUtcNow().UtcDateTime, ct);
        if (Cache.Count > 1000) Cache.Clear();
        Cache[merchantId] = (Environment.TickCount64, snapshot);
        return snapshot;
    }

    static IResult SignIn(string? error, int status = 200) => CheckoutPage.Html($$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>KnowPay dashboard – sign in</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/pages.css"></head>
        <body class="signin-body"><main class="signin">
          <h1><span class="brand">KnowPay</span> operations</h1>
          <p>Sign in with a secret API key of your merchant (scope <code>orders:read</code>). The key is checked once; the
          browser keeps only a signed session cookie.</p>
          {{(error is null ? "" : $"<p class=\"error\" role=\"alert\">{WebUtility.HtmlEncode(error)}</p>")}}
          <form method="post" action="/dashboard/login" autocomplete="off">
            <label for="api_key">Secret key</label>
            <input id="api_key" name="api_key" type="password" placeholder="sk_…" required>
            <button id="sign-in" type="submit">Sign in</button>
          </form>
        </main></body></html>
        """, status);

    const string DashboardHtml = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>KnowPay – live operations</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/pages.css">
        <script src="/assets/dashboard.js" defer></script></head>
        <body class="dash-body">
        <header class="dash-head">
          <div><span class="brand">KnowPay</span> <span id="merchant" class="merchant"></span></div>
          <div class="head-right"><span id="live" class="live" data-state="connecting">connecting…</span>
            <form method="post" action="/dashboard/logout"><button type="submit" class="link-button">Sign out</button></form></div>
        </header>
        <main class="dash">
          <section class="kpis">
            <div class="kpi"><span class="kpi-label">Paid / s <small>last min</small></span><span class="kpi-value" id="kpi-pps">–</span></div>
            <div class="kpi"><span class="kpi-label">Success rate <small>last hour</small></span><span class="kpi-value" id="kpi-success">–</span></div>
            <div class="kpi"><span class="kpi-label">Confirmation p50</span><span class="kpi-value" id="kpi-p50">–</span></div>
            <div class="kpi"><span class="kpi-label">Confirmation p99</span><span class="kpi-value" id="kpi-p99">–</span></div>
            <div class="kpi"><span class="kpi-label">Paid <small>last hour</small></span><span class="kpi-value" id="kpi-succeeded">–</span><span class="kpi-sub" id="kpi-volume"></span></div>
            <div class="kpi"><span class="kpi-label">Refunds <small>last hour</small></span><span class="kpi-value" id="kpi-refunds">–</span><span class="kpi-sub" id="kpi-refunded"></span></div>
          </section>
          <section class="panel wide"><h2>Payments per 10 s <small>last 5 minutes</small></h2>
            <div class="legend"><span class="sw sw-created"></span>created <span class="sw sw-paid"></span>paid <span class="sw sw-failed"></span>failed</div>
            <svg id="rate-chart" class="chart" viewBox="0 0 600 180" preserveAspectRatio="none" role="img" aria-label="Payments per 10 seconds"></svg></section>
          <section class="panel"><h2>Success rate by provider <small>last hour</small></h2><div id="providers" class="providers"></div></section>
          <section class="panel"><h2>Alerts</h2><ul id="alerts" class="alerts"></ul></section>
          <section class="panel wide"><h2>Recent orders</h2>
            <table class="orders"><thead><tr><th>Order</th><th>Product</th><th>Amount</th><th>Status</th><th>Created</th></tr></thead><tbody id="orders"></tbody></table></section>
        </main>
        </body></html>
        """;
}
