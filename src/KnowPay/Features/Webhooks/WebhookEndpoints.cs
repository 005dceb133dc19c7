using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Orders;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Webhooks;

public sealed record CreateWebhookEndpointRequest([property: Required, ColumnLength(TextInput.WebhookUrl)] string? Url, [property: Required] string[]? EventTypes);

/// <summary>An endpoint as listed; <see cref="Secret"/> is only present in the answers to create and rotate-secret.</summary>
public sealed record WebhookEndpointView(string Id, string Object, string Url, IReadOnlyList<string> EventTypes, string Status, DateTime CreatedAt, string? Secret)
{
    /// <param name="secret">The plaintext secret, given only by create and rotate-secret (the row holds it sealed).</param>
    public static WebhookEndpointView From(WebhookEndpoint e, string? secret = null) => new(
        e.Id, "webhook_endpoint", e.Url, e.EventTypes.Split(' ', StringSplitOptions.RemoveEmptyEntries), e.Disabled ? "disabled" : "enabled",
        e.CreatedAt, secret);
}

/// <summary>POST/GET /v1/webhook-endpoints, POST …/{id}/disable, POST …/{id}/rotate-secret.</summary>
public static partial class WebhookEndpoints
{
    /// <summary>After a rotation the old secret keeps signing (a second v1) this long, so receivers can switch without losing events.</summary>
    public static readonly TimeSpan RotationOverlap = TimeSpan.FromHours(24);

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/webhook-endpoints", Create).RequireScope("webhooks:write");
        v1.MapGet("/webhook-endpoints", List).RequireScope("webhooks:write");
        v1.MapPost("/webhook-endpoints/{id}/disable", Disable).RequireScope("webhooks:write");
        v1.MapPost("/webhook-endpoints/{id}/rotate-secret", Rotate).RequireScope("webhooks:write");
    }

    public static string NewSecret() => "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    [GeneratedRegex("^[a-z_]+(\\.[a-z_]+)+$")]
    private static partial Regex EventTypePattern();

    static async Task<Results<Created<WebhookEndpointView>, ProblemHttpResult>> Create(
        CreateWebhookEndpointRequest body, AuthenticatedMerchant merchant, KnowPayDb db, WebhookAddressPolicy addresses, SecretBox box, TimeProvider clock,
        CancellationToken ct)
    {
        if (body.Url is not { Length: <= 2000 } || !Uri.TryCreate(body.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            return Problems.Invalid("url_invalid", "url", "url must be an absolute http(s) URL of at most 2000 characters.");
        if (await addresses.RefusalAsync(uri, ct) is { } refusal) return Problems.Invalid("webhook_url_forbidden", "url", refusal);
        if (body.EventTypes is not { Length: > 0 } types || types.Any(t => t != "*" && (t is null || t.Length > 100 || !EventTypePattern().IsMatch(t))) ||
            string.Join(' ', types.Distinct()).Length > TextInput.WebhookEventTypes)
            return Problems.Invalid("event_types_invalid", "event_types", "event_types is a non-empty list of event types such as \"refund.succeeded\", or [\"*\"] for all.");
        var secret = NewSecret();
        var endpoint = new WebhookEndpoint
        {
            Id = Ids.New("we"), MerchantId = merchant.Id, Url = body.Url, EventTypes = string.Join(' ', types.Distinct()),
            Secret = box.Seal(secret), CreatedAt = clock.GetUtcNow().UtcDateTime,
        };
        db.WebhookEndpoints.Add(endpoint);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/v1/webhook-endpoints/{endpoint.Id}", WebhookEndpointView.From(endpoint, secret));
    }

    static async Task<Ok<ListPage<WebhookEndpointView>>> List(AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        var rows = await db.WebhookEndpoints.AsNoTracking().Where(e => e.MerchantId == merchant.Id).OrderByDescending(e => e.Id).Take(100).ToListAsync(ct);
        return TypedResults.Ok(new ListPage<WebhookEndpointView>(rows.Select(e => WebhookEndpointView.From(e)).ToList(), false, null));
    }

    static async Task<Results<Ok<WebhookEndpointView>, ProblemHttpResult>> Disable(string id, AuthenticatedMerchant merchant, KnowPayDb db, CancellationToken ct)
    {
        await db.WebhookEndpoints.Where(e => e.Id == id && e.MerchantId == merchant.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.Disabled, true), ct);
        var endpoint = await db.WebhookEndpoints.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id && e.MerchantId == merchant.Id, ct);
        return endpoint is null ? Problems.NotFound("webhook_endpoint", id) : TypedResults.Ok(WebhookEndpointView.From(endpoint));
    }

    static async Task<Results<Ok<WebhookEndpointView>, ProblemHttpResult>> Rotate(string id, AuthenticatedMerchant merchant, KnowPayDb db,
        SecretBox box, TimeProvider clock, CancellationToken ct)
    {
        var endpoint = await db.WebhookEndpoints.SingleOrDefaultAsync(e => e.Id == id && e.MerchantId == merchant.Id, ct);
        if (endpoint is null) return Problems.NotFound("webhook_endpoint", id);
        endpoint.PreviousSecret = endpoint.Secret;
        endpoint.PreviousSecretExpiresAt = clock.GetUtcNow().UtcDateTime + RotationOverlap;
        var secret = NewSecret();
        endpoint.Secret = box.Seal(secret);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(WebhookEndpointView.From(endpoint, secret));
    }
}
