using System.Globalization;
using System.Net;
using KnowPay.Data;
using KnowPay.Features.Reconciliation;
using KnowPay.Features.Ledger;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Monitoring;

/// <summary>
/// /dashboard/reconciliation (the dashboard's session): the latest reconciliation runs, the merchant's differences by class
/// with their amounts per currency (open and all), and the ledger close status of each recent UTC day.
/// </summary>
public static class ReconciliationPage
{
    const int Runs = 30, Days = 14;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/dashboard/reconciliation", Page).ExcludeFromDescription();
        app.MapGet("/dashboard/reconciliation/runs/{id}.csv", Csv).ExcludeFromDescription();
    }

    static async Task<IResult> Csv(string id, HttpContext http, IDataProtectionProvider dp, KnowPayDb db, TimeProvider clock, CancellationToken ct) =>
        await Dashboard.SessionAsync(http, dp, db, clock, ct) is { } session
            ? await ReconciliationExport.FileAsync(db, id, session.MerchantId, ct) ?? Results.NotFound()
            : Results.Unauthorized();

    sealed record ClassRow(string Kind, string Currency, int Count, int Open, long Amount);

    static async Task<IResult> Page(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t, TimeProvider clock, CancellationToken ct)
    {
        if (await Dashboard.SessionAsync(http, dp, db, clock, ct) is not { } session)
            return Results.Redirect(Dashboard.Localized("/dashboard", t));
        var merchantId = session.MerchantId;
        var runs = await db.ReconciliationRuns.AsNoTracking().OrderByDescending(r => r.Day).ThenBy(r => r.Provider).Take(Runs).ToListAsync(ct);
        var runIds = runs.Select(r => r.Id).ToList();
        var classes = (await db.ReconciliationItems.AsNoTracking().Where(i => runIds.Contains(i.RunId) && i.MerchantId == merchantId)
                .GroupBy(i => new { i.Kind, i.Currency })
                .Select(g => new { g.Key.Kind, g.Key.Currency, Count = g.Count(), Open = g.Count(i => i.Resolution == null),
                    Amount = g.Sum(i => (decimal)(i.ExpectedAmount ?? i.BillAmount ?? 0)) })
                .ToListAsync(ct))
            .Select(c => new ClassRow(c.Kind, c.Currency ?? "", c.Count, c.Open, (long)c.Amount))
            .OrderBy(c => c.Kind, StringComparer.Ordinal).ThenBy(c => c.Currency, StringComparer.Ordinal).ToList();
        var today = LedgerPeriods.DayOf(clock.GetUtcNow().UtcDateTime);
        var since = today.AddDays(-Days);
        var closes = await db.LedgerCloses.AsNoTracking().Where(c => c.MerchantId == merchantId && c.Day >= since)
            .Select(c => new { c.Day, c.Currency }).ToListAsync(ct);

        string E(string s) => WebUtility.HtmlEncode(s);
        string Num(long n) => n.ToString("N0", t.Culture);
        var runRows = string.Concat(runs.Select(r => $"""
            <tr data-run="{E(r.Id)}"><td>{E(t.Provider(r.Provider))}</td><td>{r.Day:yyyy-MM-dd}</td><td class="run-status">{E(t.Status(r.Status))}</td><td>{Num(r.LineCount)}</td><td>{Num(r.Matched)}</td><td class="run-differences">{Num(r.Differences)}</td><td><a href="/dashboard/reconciliation/runs/{E(r.Id)}.csv">CSV</a></td></tr>
            """));
        var classRows = string.Concat(classes.Select(c => $"""
            <tr data-class="{E(c.Kind)}" data-currency="{E(c.Currency)}"><td>{E(ClassName(t, c.Kind))}</td><td class="class-count">{Num(c.Count)}</td><td class="class-open">{Num(c.Open)}</td><td class="class-amount">{(c.Currency.Length == 3 ? E(t.Money(c.Amount, c.Currency)) : Num(c.Amount))}</td></tr>
            """));
        var dayRows = string.Concat(Enumerable.Range(1, Days).Select(i => today.AddDays(-i)).Select(day =>
        {
            var closed = closes.Where(c => c.Day == day).Select(c => c.Currency).Order(StringComparer.Ordinal).ToList();
            var status = closed.Count == 0 ? t.Html("Recon.Open") : t.Html("Recon.ClosedIn", E(string.Join(", ", closed)));
            return $"""<tr data-day="{day:yyyy-MM-dd}" data-closed="{(closed.Count > 0 ? "true" : "false")}"><td>{day:yyyy-MM-dd}</td><td class="day-status">{status}</td></tr>""";
        }));
        string Empty(int columns) => $"""<tr><td colspan="{columns}">{t.Html("Recon.None")}</td></tr>""";

        return Pages.DashboardSubpage(t, "Recon.Title", "/dashboard/reconciliation", $$"""
              <section class="panel wide"><h2>{{t.Html("Recon.Runs")}}</h2>
                <table class="orders" id="runs"><thead><tr><th>{{t.Html("Recon.Provider")}}</th><th>{{t.Html("Recon.Date")}}</th><th>{{t.Html("Recon.Status")}}</th><th>{{t.Html("Recon.Lines")}}</th><th>{{t.Html("Recon.Matched")}}</th><th>{{t.Html("Recon.Differences")}}</th><th>{{t.Html("Recon.Export")}}</th></tr></thead>
                <tbody>{{(runRows.Length == 0 ? Empty(7) : runRows)}}</tbody></table></section>
              <section class="panel wide"><h2>{{t.Html("Recon.ByClass")}}</h2>
                <table class="orders" id="classes"><thead><tr><th>{{t.Html("Recon.Class")}}</th><th>{{t.Html("Recon.Count")}}</th><th>{{t.Html("Recon.OpenCount")}}</th><th>{{t.Html("Recon.Amount")}}</th></tr></thead>
                <tbody>{{(classRows.Length == 0 ? Empty(4) : classRows)}}</tbody></table></section>
              <section class="panel wide"><h2>{{t.Html("Recon.Closes")}} <small>UTC</small></h2>
                <table class="orders" id="closes"><thead><tr><th>{{t.Html("Recon.Day")}}</th><th>{{t.Html("Recon.CloseStatus")}}</th></tr></thead>
                <tbody>{{dayRows}}</tbody></table></section>
            """);
    }

    static string ClassName(PageLocale t, string kind) => t["Recon.Class." + kind] is { Length: > 0 } name && name != "Recon.Class." + kind ? name : kind;
}
