using System.Collections.Concurrent;
using System.Globalization;
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
/// HttpOnly, SameSite=Strict cookie holding a Data Protection token (merchant, key id, session id, 12 h expiry) — the key
/// itself never reaches script. Sessions live in the database; sign-out revokes one there, for every node. The page then listens to /dashboard/stream: server-sent events, one JSON snapshot about
/// every second, computed from the database (cached 0.9 s per merchant, so many viewers cost one query set).
/// </summary>
public static class Dashboard
{
    public const string CookieName = "knowpay_dashboard";
    static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(12);
    static readonly ConcurrentDictionary<string, (long At, Func<CultureInfo, DashboardSnapshot> Figures, ConcurrentDictionary<string, DashboardSnapshot> ByLanguage)> Cache = new();

    public static void Map(IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/dashboard").ExcludeFromDescription();
        g.MapGet("", Page);
        g.MapPost("/login", Login).DisableAntiforgery();
        g.MapPost("/logout", Logout).DisableAntiforgery();
        g.MapGet("/snapshot", Snapshot);
        g.MapGet("/stream", Stream);
    }

    internal sealed record Session(string MerchantId, string KeyId, string SessionId);

    static ITimeLimitedDataProtector Protector(IDataProtectionProvider dp) => dp.CreateProtector("KnowPay.Dashboard.Session.v2").ToTimeLimitedDataProtector();

    /// <summary>The cookie's claims if its token is genuine and unexpired; says nothing yet about the session's state.</summary>
    static Session? CookieSession(HttpContext http, IDataProtectionProvider dp)
    {
        if (http.Request.Cookies[CookieName] is not { Length: > 0 } cookie) return null;
        string payload;
        try { payload = Protector(dp).Unprotect(cookie); }
        catch (CryptographicException) { return null; }
        return payload.Split('|') is [var merchantId, var keyId, var sessionId] ? new Session(merchantId, keyId, sessionId) : null;
    }

    /// <summary>The session of the request's cookie, if the token is genuine, its session not signed out or expired, and its
    /// key still active. Checked in the database, so a sign-out on one node refuses the cookie on every node.</summary>
    internal static async Task<Session?> SessionAsync(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, TimeProvider clock, CancellationToken ct)
    {
        if (CookieSession(http, dp) is not { } session) return null;
        var now = clock.GetUtcNow().UtcDateTime;
        var valid = await db.DashboardSessions.AsNoTracking().AnyAsync(s =>
            s.Id == session.SessionId && s.MerchantId == session.MerchantId && s.KeyId == session.KeyId && s.RevokedAt == null && s.ExpiresAt > now &&
            db.ApiKeys.Any(k => k.Id == s.KeyId && k.MerchantId == s.MerchantId && k.RevokedAt == null && (k.ExpiresAt == null || k.ExpiresAt > now)), ct);
        return valid ? session : null;
    }

    static async Task<IResult> Page(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t, TimeProvider clock, CancellationToken ct) =>
        await SessionAsync(http, dp, db, clock, ct) is null ? SignIn(t, null) : CheckoutPage.Html(DashboardHtml(t));

    static async Task<IResult> Login(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t, TimeProvider clock, AuditTrail audit, CancellationToken ct)
    {
        var form = await http.Request.ReadFormAsync(ct);
        var secret = form["api_key"].ToString().Trim();
        var hash = ApiKeys.Hash(secret);
        var now = clock.GetUtcNow().UtcDateTime;
        var key = secret.Length == 0 ? null : await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Hash == hash, ct);
        if (key is not null && !key.IsActive(now)) key = null;
        var scopes = key?.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        var signedIn = key is not null && (scopes.Contains("*") || scopes.Contains("orders:read"));
        await audit.RecordDashboardAsync(http, "dashboard.login", key is null ? null : (key.MerchantId, key.Id), signedIn ? 302 : 401, clock);
        if (key is null || !signedIn)
            return SignIn(t, key is null ? t.Html("Dashboard.SignIn.KeyInvalid") : t.Html("Dashboard.SignIn.KeyLacksScope", "orders:read"), 401);
        var session = new DashboardSession
        {
            Id = Domain.Ids.New("dss"), MerchantId = key.MerchantId, KeyId = key.Id, CreatedAt = now, ExpiresAt = now + SessionLifetime,
        };
        db.DashboardSessions.Add(session);
        await db.SaveChangesAsync(ct);
        // Sessions a day past their expiry are of no use, even to explain a refusal: each sign-in clears them.
        await db.DashboardSessions.Where(s => s.ExpiresAt < now - TimeSpan.FromDays(1)).ExecuteDeleteAsync(ct);
        var token = Protector(dp).Protect($"{key.MerchantId}|{key.Id}|{session.Id}", clock.GetUtcNow() + SessionLifetime);
        http.Response.Cookies.Append(CookieName, token, new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps, Path = "/dashboard", MaxAge = SessionLifetime, IsEssential = true,
        });
        return Results.Redirect(Localized("/dashboard", t), permanent: false, preserveMethod: false);
    }

    /// <summary>Revokes the cookie's session in the database (a copy of the cookie is refused from now on), then drops the cookie.</summary>
    static async Task<IResult> Logout(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t, TimeProvider clock, AuditTrail audit, CancellationToken ct)
    {
        if (await SessionAsync(http, dp, db, clock, ct) is { } session)
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await db.DashboardSessions.Where(s => s.Id == session.SessionId && s.RevokedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now), ct);
            await audit.RecordDashboardAsync(http, "dashboard.logout", (session.MerchantId, session.KeyId), 302, clock);
        }
        http.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/dashboard" });
        return Results.Redirect(Localized("/dashboard", t));
    }

    /// <summary>The page's own links and form targets keep the language the page was shown in.</summary>
    internal static string Localized(string path, PageLocale t) => $"{path}?{PageCultures.QueryKey}={t.Lang}";

    static async Task<IResult> Snapshot(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t, TimeProvider clock, CancellationToken ct)
    {
        if (await SessionAsync(http, dp, db, clock, ct) is not { } session) return Results.Unauthorized();
        return Results.Json(await CachedAsync(db, session.MerchantId, t, clock, ct), KnowPayJson.Options);
    }

    static async Task Stream(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t, TimeProvider clock, IHostApplicationLifetime lifetime)
    {
        if (await SessionAsync(http, dp, db, clock, http.RequestAborted) is not { } session)
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
                var snapshot = await CachedAsync(db, session.MerchantId, t, clock, ct);
                await http.Response.WriteAsync("data: " + KnowPayJson.Serialize(snapshot) + "\n\n", ct);
                await http.Response.Body.FlushAsync(ct);
                await Task.Delay(TimeSpan.FromSeconds(1), clock, ct);
                if (Environment.TickCount64 - checkedAt > 60_000)
                {
                    if (await SessionAsync(http, dp, db, clock, ct) is null) return; // signed out, key revoked or session expired: the page signs in again
                    checkedAt = Environment.TickCount64;
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Read once per merchant (for 900 ms, whatever the viewers' languages); formatted once per language.</summary>
    static async Task<DashboardSnapshot> CachedAsync(KnowPayDb db, string merchantId, PageLocale t, TimeProvider clock, CancellationToken ct)
    {
        if (!Cache.TryGetValue(merchantId, out var hit) || Environment.TickCount64 - hit.At >= 900)
        {
            hit = (Environment.TickCount64, await DashboardSnapshots.ReadAsync(db, merchantId, clock.GetUtcNow().UtcDateTime, ct), new());
            if (Cache.Count > 1000) Cache.Clear();
            Cache[merchantId] = hit;
        }
        return hit.ByLanguage.GetOrAdd(t.Lang, _ => InLanguage(hit.Figures(t.Culture), t));
    }

    /// <summary>The alerts' text and the converted totals' labels in the viewer's language (the API keeps the stored English message).</summary>
    static DashboardSnapshot InLanguage(DashboardSnapshot snapshot, PageLocale t) => snapshot with
    {
        Alerts = [.. snapshot.Alerts.Select(a => a with { Message = t.Alert(a) })],
        VolumeInSettlement = Labelled(snapshot.VolumeInSettlement, t),
        RefundedInSettlement = Labelled(snapshot.RefundedInSettlement, t),
    };

    /// <summary>"≈ $91.81 at the day's manual rate" and "Not converted (no rate for the day): JPY 2026-12-04", so an estimate never reads as a sum.</summary>
    static ConvertedTotal? Labelled(ConvertedTotal? total, PageLocale t) => total is null ? null : total with
    {
        Label = total.Sources.Count == 0 ? null
            : t.Text("Dashboard.ConvertedAtDayRate", total.Formatted, string.Join("/", total.Sources.Select(s => t.Text("Dashboard.RateSource." + s)))),
        UnconvertedLabel = total.Unconverted.Count == 0 ? null
            : t.Text("Dashboard.NotConverted", string.Join(", ", total.Unconverted.Select(u =>
                u.Days.Count == 0 ? u.Currency : $"{u.Currency} {string.Join(" ", u.Days.Select(d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)))}"))),
    };

    /// <summary>The sign-in page; <paramref name="error"/> is already HTML-safe.</summary>
    static IResult SignIn(PageLocale t, string? error, int status = 200) => CheckoutPage.Html($$"""
        <!doctype html>
        <html lang="{{t.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>{{t.Html("Dashboard.SignIn.Title")}}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/pages.css"></head>
        <body class="signin-body"><main class="signin">
          {{t.LanguageSwitch("/dashboard?")}}
          <h1>{{t.Html("Dashboard.SignIn.Heading", "<span class=\"brand\">KnowPay</span>")}}</h1>
          <p>{{t.Html("Dashboard.SignIn.Intro", "<code>orders:read</code>")}}</p>
          {{(error is null ? "" : $"<p class=\"error\" role=\"alert\">{error}</p>")}}
          <form method="post" action="{{Localized("/dashboard/login", t)}}" autocomplete="off">
            <label for="api_key">{{t.Html("Dashboard.SignIn.Key")}}</label>
            <input id="api_key" name="api_key" type="password" placeholder="sk_…" required>
            <button id="sign-in" type="submit">{{t.Html("Dashboard.SignIn.Submit")}}</button>
          </form>
        </main></body></html>
        """, status);

    static string DashboardHtml(PageLocale t) => $$"""
        <!doctype html>
        <html lang="{{t.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>{{t.Html("Dashboard.Title")}}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/pages.css">
        <script type="application/json" id="page-text">{{t.ScriptJson()}}</script>
        <script src="/assets/dashboard.js" defer></script></head>
        <body class="dash-body">
        <header class="dash-head">
          <h1 class="dash-title"><span class="brand">KnowPay</span> <span id="merchant" class="merchant"></span></h1>
          <div class="head-right"><span id="live" class="live" data-state="connecting">{{t.Html("Dashboard.Connecting")}}</span>
            <a id="reconciliation-link" href="{{Localized("/dashboard/reconciliation", t)}}">{{t.Html("Recon.Title")}}</a>
            <a id="reviews-link" href="{{Localized("/dashboard/reviews", t)}}">{{t.Html("Reviews.Title")}}</a>
            {{t.LanguageSwitch("/dashboard?")}}
            <form method="post" action="{{Localized("/dashboard/logout", t)}}"><button type="submit" class="link-button">{{t.Html("Dashboard.SignOut")}}</button></form></div>
        </header>
        <main class="dash">
          <section class="kpis">
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.PaidPerSecond")}} <small>{{t.Html("Dashboard.LastMinute")}}</small></span><span class="kpi-value" id="kpi-pps">–</span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.SuccessRate")}} <small>{{t.Html("Dashboard.LastHour")}}</small></span><span class="kpi-value" id="kpi-success">–</span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.ConfirmationP50")}}</span><span class="kpi-value" id="kpi-p50">–</span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.ConfirmationP99")}}</span><span class="kpi-value" id="kpi-p99">–</span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.Paid")}} <small>{{t.Html("Dashboard.LastHour")}}</small></span><span class="kpi-value" id="kpi-succeeded">–</span><span class="kpi-sub" id="kpi-volume"></span><span class="kpi-sub" id="kpi-volume-converted"></span><span class="kpi-sub" id="kpi-volume-unconverted"></span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.Refunds")}} <small>{{t.Html("Dashboard.LastHour")}}</small></span><span class="kpi-value" id="kpi-refunds">–</span><span class="kpi-sub" id="kpi-refunded"></span><span class="kpi-sub" id="kpi-refunded-converted"></span><span class="kpi-sub" id="kpi-refunded-unconverted"></span></div>
          </section>
          <section class="kpis subs" aria-label="{{t.Html("Dashboard.Subscriptions")}}">
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.ActiveSubscriptions")}}</span><span class="kpi-value" id="kpi-subs-active">–</span><span class="kpi-sub" id="kpi-subs-trialing"></span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.Mrr")}}</span><span class="kpi-value" id="kpi-mrr">–</span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.Churn")}} <small>{{t.Html("Dashboard.ThisMonth")}}</small></span><span class="kpi-value" id="kpi-churn">–</span><span class="kpi-sub" id="kpi-churn-counts"></span></div>
            <div class="kpi"><span class="kpi-label">{{t.Html("Dashboard.PastDue")}}</span><span class="kpi-value" id="kpi-past-due">–</span></div>
          </section>
          <section class="panel wide"><h2>{{t.Html("Dashboard.PaymentsPer10s")}} <small>{{t.Html("Dashboard.Last5Minutes")}}</small></h2>
            <div class="legend"><span class="sw sw-created"></span>{{t.Html("Dashboard.Created")}} <span class="sw sw-paid"></span>{{t.Html("Dashboard.Succeeded")}} <span class="sw sw-failed"></span>{{t.Html("Dashboard.Failed")}}</div>
            <svg id="rate-chart" class="chart" viewBox="0 0 600 180" preserveAspectRatio="none" role="img" aria-label="{{t.Html("Dashboard.ChartLabel")}}"></svg></section>
          <section class="panel"><h2>{{t.Html("Dashboard.ByProvider")}} <small>{{t.Html("Dashboard.LastHour")}}</small></h2><div id="providers" class="providers"></div></section>
          <section class="panel"><h2>{{t.Html("Dashboard.Alerts")}}</h2><ul id="alerts" class="alerts"></ul></section>
          <section class="panel wide"><h2>{{t.Html("Dashboard.RecentOrders")}}</h2>
            <table class="orders"><thead><tr><th>{{t.Html("Js.Col.Order")}}</th><th>{{t.Html("Js.Col.Product")}}</th><th>{{t.Html("Js.Col.Amount")}}</th><th>{{t.Html("Js.Col.Status")}}</th><th>{{t.Html("Js.Col.Created")}}</th></tr></thead><tbody id="orders"></tbody></table></section>
        </main>
        </body></html>
        """;
}
