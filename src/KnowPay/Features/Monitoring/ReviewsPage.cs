using System.Globalization;
using System.Net;
using System.Text.Json;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Audit;
using KnowPay.Features.Risk;
using KnowPay.Providers;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Monitoring;

/// <summary>
/// /dashboard/reviews (the dashboard's session): the merchant's open risk reviews, oldest first, with the order, the
/// amount held, the rule that hit, the score and reasons and the age, each with approve and reject; and the latest
/// decided ones. The buttons decide through <see cref="RiskReviews"/> as the API does, if the session's key has risk:write.
/// </summary>
public static class ReviewsPage
{
    const int Open = 200, Decided = 20;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/dashboard/reviews", Page).ExcludeFromDescription();
        // Same-site only: the session cookie is SameSite=Strict, so another site's form cannot post here with it.
        app.MapPost("/dashboard/reviews/{id}/{decision:regex(^(approve|reject)$)}", Decide).ExcludeFromDescription().DisableAntiforgery();
    }

    sealed record Row(RiskReview Review, long Amount, string Currency);

    static async Task<IResult> Page(HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t, TimeProvider clock, CancellationToken ct)
    {
        if (await Dashboard.SessionAsync(http, dp, db, clock, ct) is not { } session)
            return Results.Redirect(Dashboard.Localized("/dashboard", t));
        var now = clock.GetUtcNow().UtcDateTime;
        var open = await RowsAsync(db, session.MerchantId, RiskReviewStatus.Open, Open, oldestFirst: true, ct);
        var decided = (await RowsAsync(db, session.MerchantId, RiskReviewStatus.Approved, Decided, oldestFirst: false, ct))
            .Concat(await RowsAsync(db, session.MerchantId, RiskReviewStatus.Rejected, Decided, oldestFirst: false, ct))
            .OrderByDescending(r => r.Review.DecidedAt).Take(Decided).ToList();
        var mayDecide = await MayDecideAsync(db, session, ct);

        string E(string s) => WebUtility.HtmlEncode(s);
        string Reasons(RiskReview r) => E(string.Join("; ", JsonSerializer.Deserialize<string[]>(r.Reasons) ?? []));
        string Actions(RiskReview r) => !mayDecide ? "" : $"""
            <form method="post" action="{Dashboard.Localized($"/dashboard/reviews/{E(r.Id)}/approve", t)}"><button type="submit" class="approve">{t.Html("Reviews.Approve")}</button></form>
            <form method="post" action="{Dashboard.Localized($"/dashboard/reviews/{E(r.Id)}/reject", t)}"><button type="submit" class="reject">{t.Html("Reviews.Reject")}</button></form>
            """;
        var openRows = string.Concat(open.Select(r => $"""
            <tr data-review="{E(r.Review.Id)}" data-order="{E(r.Review.OrderId)}"><td class="review-order"><code>{E(r.Review.OrderId)}</code> <small>{E(Named(t, "Reviews.Stage.", r.Review.Stage))}</small></td><td class="review-amount">{E(t.Money(r.Amount, r.Currency))}</td><td class="review-rule">{E(r.Review.RuleId ?? "—")}</td><td class="review-score">{r.Review.Score}</td><td class="review-reasons">{Reasons(r.Review)}</td><td class="review-age">{E(Age(t, now - r.Review.CreatedAt))}</td><td class="review-actions">{Actions(r.Review)}</td></tr>
            """));
        var decidedRows = string.Concat(decided.Select(r => $"""
            <tr data-review="{E(r.Review.Id)}" data-order="{E(r.Review.OrderId)}"><td><code>{E(r.Review.OrderId)}</code></td><td>{E(t.Money(r.Amount, r.Currency))}</td><td>{E(r.Review.RuleId ?? "—")}</td><td>{r.Review.Score}</td><td class="review-status">{E(Named(t, "Reviews.Status.", r.Review.Status))}</td><td>{E(r.Review.DecidedBy ?? "")}</td></tr>
            """));
        string Empty(int columns) => $"""<tr><td colspan="{columns}">{t.Html("Reviews.None")}</td></tr>""";

        return Pages.DashboardSubpage(t, "Reviews.Title", "/dashboard/reviews", $$"""
              <section class="panel wide"><h2>{{t.Html("Reviews.Open")}}</h2>
                {{(mayDecide ? "" : $"<p class=\"note\" id=\"no-scope\">{t.Html("Reviews.NoScope", "<code>risk:write</code>")}</p>")}}
                <table class="orders" id="open-reviews"><thead><tr><th>{{t.Html("Reviews.Order")}}</th><th>{{t.Html("Reviews.Amount")}}</th><th>{{t.Html("Reviews.Rule")}}</th><th>{{t.Html("Reviews.Score")}}</th><th>{{t.Html("Reviews.Reasons")}}</th><th>{{t.Html("Reviews.Age")}}</th><th>{{t.Html("Reviews.Actions")}}</th></tr></thead>
                <tbody>{{(openRows.Length == 0 ? Empty(7) : openRows)}}</tbody></table></section>
              <section class="panel wide"><h2>{{t.Html("Reviews.Decided")}}</h2>
                <table class="orders" id="decided-reviews"><thead><tr><th>{{t.Html("Reviews.Order")}}</th><th>{{t.Html("Reviews.Amount")}}</th><th>{{t.Html("Reviews.Rule")}}</th><th>{{t.Html("Reviews.Score")}}</th><th>{{t.Html("Reviews.Status")}}</th><th>{{t.Html("Reviews.DecidedBy")}}</th></tr></thead>
                <tbody>{{(decidedRows.Length == 0 ? Empty(6) : decidedRows)}}</tbody></table></section>
            """);
    }

    /// <summary>Approves or rejects through the review API's own logic; a review already decided is left as it is. Back to the list either way.</summary>
    static async Task<IResult> Decide(string id, string decision, HttpContext http, IDataProtectionProvider dp, KnowPayDb db, PageLocale t,
        PaymentProviders providers, TimeProvider clock, AuditTrail audit, ILogger<RiskReview> log, CancellationToken ct)
    {
        if (await Dashboard.SessionAsync(http, dp, db, clock, ct) is not { } session) return Results.Unauthorized();
        if (!await MayDecideAsync(db, session, ct)) return Results.StatusCode(StatusCodes.Status403Forbidden);
        var review = await db.RiskReviews.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id && r.MerchantId == session.MerchantId, ct);
        if (review is null) return Results.NotFound();
        var decided = decision == "approve"
            ? await RiskReviews.ApproveAsync(db, providers, review, clock, "dashboard", log, ct)
            : await RiskReviews.RejectAsync(db, providers, review, clock.GetUtcNow().UtcDateTime, "dashboard", log, ct);
        await audit.RecordDashboardAsync(http, $"dashboard.review.{decision}", (session.MerchantId, session.KeyId), decided ? 303 : 409, clock);
        return Results.Redirect(Dashboard.Localized("/dashboard/reviews", t));
    }

    static async Task<bool> MayDecideAsync(KnowPayDb db, Dashboard.Session session, CancellationToken ct)
    {
        var scopes = await db.ApiKeys.AsNoTracking().Where(k => k.Id == session.KeyId).Select(k => k.Scopes).SingleOrDefaultAsync(ct) ?? "";
        var granted = scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return granted.Contains("*") || granted.Contains("risk:write");
    }

    static async Task<List<Row>> RowsAsync(KnowPayDb db, string merchantId, RiskReviewStatus status, int take, bool oldestFirst, CancellationToken ct)
    {
        var reviews = db.RiskReviews.AsNoTracking().Where(r => r.MerchantId == merchantId && r.Status == status);
        reviews = oldestFirst ? reviews.OrderBy(r => r.Id) : reviews.OrderByDescending(r => r.Id);
        var rows = await reviews.Take(take)
            .Join(db.Orders, r => r.OrderId, o => o.Id, (r, o) => new { Review = r, o.Amount, o.Currency }).ToListAsync(ct);
        var result = rows.Select(x => new Row(x.Review, x.Review.RefundAmount ?? x.Amount, x.Currency));
        return (oldestFirst ? result.OrderBy(r => r.Review.CreatedAt) : result.OrderByDescending(r => r.Review.CreatedAt)).ToList();
    }

    static string Named<T>(PageLocale t, string prefix, T value) where T : struct, Enum
    {
        var key = prefix + value.ToString().ToLowerInvariant();
        return t[key] is var text && text != key ? text : value.ToString().ToLowerInvariant();
    }

    static string Age(PageLocale t, TimeSpan age) =>
        age.TotalHours < 1 ? string.Format(CultureInfo.InvariantCulture, t["Reviews.AgeMinutes"], Math.Max(0, (int)age.TotalMinutes))
        : age.TotalDays < 1 ? string.Format(CultureInfo.InvariantCulture, t["Reviews.AgeHours"], (int)age.TotalHours)
        : string.Format(CultureInfo.InvariantCulture, t["Reviews.AgeDays"], (int)age.TotalDays);
}
