using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Catalog;

/// <summary>Amount in the currency's minor unit. Read as a number so that 99.5 is refused with amount_invalid, not a parse error.</summary>
public sealed record PriceInput([property: Required] decimal? Amount, [property: Required] string? Currency,
    RecurringInput? Recurring = null, int? TrialPeriodDays = null);

/// <summary>A recurring price's period: interval day|week|month|year, times interval_count (default 1).</summary>
public sealed record RecurringInput(string? Interval, int? IntervalCount);

public sealed record RecurringView(string Interval, int IntervalCount);

public sealed record CreateProductRequest(
    [property: Required] string? CreatorId, [property: Required] string? Name, [property: Required] ProductKind? Kind, ProductStatus? Status, [property: Required] int? CreatorShareBps, int? PeriodDays,
    [property: Required] List<PriceInput>? Prices);

public sealed record UpdateProductRequest(string? Name, ProductStatus? Status, int? CreatorShareBps, List<PriceInput>? Prices);

public sealed record PriceView(string Id, long Amount, string Currency, int Version, RecurringView? Recurring = null, int? TrialPeriodDays = null)
{
    public static PriceView From(ProductPrice x) => new(x.Id, x.Amount, x.Currency, x.Version,
        x.RecurringInterval is { } interval ? new RecurringView(interval, x.RecurringIntervalCount ?? 1) : null, x.TrialPeriodDays);
}

public sealed record ProductView(
    string Id, string Object, string CreatorId, string Name, ProductKind Kind, ProductStatus Status, int CreatorShareBps, int? PeriodDays,
    IReadOnlyList<PriceView> Prices, DateTime CreatedAt)
{
    public static ProductView From(Product p) => new(
        p.Id, "product", p.CreatorId, p.Name, p.Kind, p.Status, p.CreatorShareBps, p.PeriodDays,
        p.Prices.Where(x => x.Active).OrderBy(x => x.Currency).Select(PriceView.From).ToList(),
        p.CreatedAt);
}

/// <summary>Products (course, column, membership, tip) with one active price per currency and the creator's share.</summary>
public static class Products
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/products", Create).RequireScope("catalog:write").Produces(StatusCodes.Status404NotFound); // creator_id unknown
        v1.MapPost("/products/{id}", Update).RequireScope("catalog:write");
        v1.MapGet("/products/{id}", Get).RequireScope("catalog:read");
    }

    static async Task<Results<Created<ProductView>, ProblemHttpResult>> Create(
        CreateProductRequest body, AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, IOptions<MoneyOptions> money, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(body.Name) || body.Name.Length > 200)
            return Problems.Invalid("name_invalid", "name", "name is required (1–200 characters).");
        if (body.Kind is null) return Problems.Invalid("kind_invalid", "kind", "kind is one of course, column, membership, tip.");
        if (body.CreatorShareBps is not (>= 0 and <= 10_000))
            return Problems.Invalid("creator_share_invalid", "creator_share_bps", "creator_share_bps is required, 0–10000 basis points.");
        if (body.Kind == ProductKind.Membership && body.PeriodDays is not (> 0 and <= 3660))
            return Problems.Invalid("period_invalid", "period_days", "A membership needs period_days (1–3660).");
        if (body.Prices is not { Count: > 0 }) return Problems.Invalid("prices_invalid", "prices", "At least one price is required.");
        if (ValidatePrices(body.Prices, money.Value.Limit) is { } bad) return bad;
        if (string.IsNullOrEmpty(body.CreatorId) ||
            !await db.Creators.AnyAsync(c => c.Id == body.CreatorId && c.MerchantId == merchant.Id, ct))
            return Problems.NotFound("creator", body.CreatorId ?? "");

        var now = clock.GetUtcNow().UtcDateTime;
        var product = new Product
        {
            Id = Ids.New("prod"), MerchantId = merchant.Id, CreatorId = body.CreatorId, Name = body.Name.Trim(), Kind = body.Kind.Value,
            Status = body.Status ?? ProductStatus.Published, CreatorShareBps = body.CreatorShareBps.Value,
            PeriodDays = body.Kind == ProductKind.Membership ? body.PeriodDays : null, CreatedAt = now,
        };
        foreach (var price in body.Prices)
            product.Prices.Add(NewPrice(product.Id, price, 1, now));
        db.Products.Add(product);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/v1/products/{product.Id}", ProductView.From(product));
    }

    /// <summary>Changes name, status, share or prices. A changed price becomes a new version; existing orders keep theirs.</summary>
    static async Task<Results<Ok<ProductView>, ProblemHttpResult>> Update(
        string id, UpdateProductRequest body, AuthenticatedMerchant merchant, KnowPayDb db, TimeProvider clock, IOptions<MoneyOptions> money, CancellationToken ct)
    {
        var product = await db.Products.Include(p => p.Prices).SingleOrDefaultAsync(p => p.Id == id && p.MerchantId == merchant.Id, ct);
        if (product is null) return Problems.NotFound("product", id);
        if (body.Name is not null && (body.Name.Trim().Length is 0 or > 200))
            return Problems.Invalid("name_invalid", "name", "name must be 1–200 characters.");
        if (body.CreatorShareBps is not null and not (>= 0 and <= 10_000))
            return Problems.Invalid("creator_share_invalid", "creator_share_bps", "creator_share_bps is 0–10000 basis points.");
        if (body.Prices is not null && ValidatePrices(body.Prices, money.Value.Limit) is { } bad) return bad;

        var now = clock.GetUtcNow().UtcDateTime;
        if (body.Name is not null) product.Name = body.Name.Trim();
        if (body.Status is not null) product.Status = body.Status.Value;
        if (body.CreatorShareBps is not null) product.CreatorShareBps = body.CreatorShareBps.Value;
        foreach (var price in body.Prices ?? [])
        {
            var currency = Currency.Of(price.Currency!).Code;
            var current = product.Prices.Where(p => p.Currency == currency).OrderByDescending(p => p.Version).FirstOrDefault();
            if (current is { Active: true } && current.Amount == (long)price.Amount!.Value && SameTerms(current, price)) continue;
            if (current is not null) current.Active = false;
            product.Prices.Add(NewPrice(product.Id, price, (current?.Version ?? 0) + 1, now));
        }
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(ProductView.From(product));
    }

    static async Task<Results<Ok<ProductView>, ProblemHttpResult>> Get(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var product = await db.Products.AsNoTracking().Include(p => p.Prices).SingleOrDefaultAsync(p => p.Id == id && p.MerchantId == merchant.Id, ct);
        return product is null ? Problems.NotFound("product", id) : TypedResults.Ok(ProductView.From(product));
    }

    static ProblemHttpResult? ValidatePrices(List<PriceInput> prices, AmountLimit limit)
    {
        var seen = new HashSet<string>();
        for (var i = 0; i < prices.Count; i++)
        {
            var p = prices[i];
            if (!Currency.TryFind(p.Currency, out var currency))
                return Fx.CurrencyProblems.NotTaken($"prices[{i}].currency", p.Currency);
            if (p.Amount is not > 0)
                return Problems.Invalid("amount_invalid", $"prices[{i}].amount", "amount must be a positive integer in the currency's minor unit.");
            if (!limit.Allows(p.Amount.Value, currency))
                return Problems.Invalid("amount_too_large", $"prices[{i}].amount", limit.Describe(currency));
            if (p.Amount != decimal.Truncate(p.Amount.Value))
                return Problems.Invalid("amount_invalid", $"prices[{i}].amount",
                    $"amount is in minor units of {currency.Code} ({currency.MinorUnits} decimals in major units) and cannot have decimals: {p.Amount}.");
            if (p.Recurring is not null && !BillingSchedule.TryParse(p.Recurring.Interval, p.Recurring.IntervalCount, out _, out var code))
                return Problems.Invalid(code, $"prices[{i}].recurring",
                    "recurring.interval is one of day, week, month, year and recurring.interval_count is 1 up to one year (365 days, 52 weeks, 12 months, 1 year).");
            if (p.TrialPeriodDays is not null && (p.Recurring is null || p.TrialPeriodDays is not (>= 0 and <= 730)))
                return Problems.Invalid("trial_period_days_invalid", $"prices[{i}].trial_period_days",
                    "trial_period_days (0–730) is only for a recurring price.");
            if (!seen.Add(currency.Code))
                return Problems.Invalid("prices_invalid", $"prices[{i}].currency", $"Only one price per currency ({currency.Code}).");
        }
        return null;
    }

    static ProductPrice NewPrice(string productId, PriceInput price, int version, DateTime now) => new()
    {
        Id = Ids.New("price"), ProductId = productId, Currency = Currency.Of(price.Currency!).Code, Amount = (long)price.Amount!.Value,
        Version = version, Active = true, CreatedAt = now,
        RecurringInterval = price.Recurring?.Interval, RecurringIntervalCount = price.Recurring is null ? null : price.Recurring.IntervalCount ?? 1,
        TrialPeriodDays = price.TrialPeriodDays,
    };

    static bool SameTerms(ProductPrice current, PriceInput price) =>
        current.RecurringInterval == price.Recurring?.Interval &&
        current.RecurringIntervalCount == (price.Recurring is null ? null : price.Recurring.IntervalCount ?? 1) &&
        current.TrialPeriodDays == price.TrialPeriodDays;
}
