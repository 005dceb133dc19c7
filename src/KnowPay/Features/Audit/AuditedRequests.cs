using System.Collections.Concurrent;
using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Routing.Patterns;

namespace KnowPay.Features.Audit;

/// <summary>
/// What is audited and how an event is filled: every mutating /v1 call of a merchant once its status is known, dashboard
/// sign-in and sign-out, and admin commands. Only the route pattern, route ids and the created object's id (read from the
/// <c>Location</c> header) are kept: never a body, a header other than User-Agent, or a query value, so no secret can leak in.
/// </summary>
public static class AuditedRequests
{
    /// <summary>Longest stored text (the model's default column length).</summary>
    const int MaxText = 200;

    public static void AddAuditTrail(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AuditTrail>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AuditTrail>());
    }

    /// <summary>After API key authentication: the merchant and key are known; 429s and idempotent replays are audited too.
    /// Provider notifications (/v1/notify) are no merchant's action: their effects are recorded as events and in the ledger.</summary>
    public static void UseAuditTrail(this WebApplication app)
    {
        var trail = app.Services.GetRequiredService<AuditTrail>();
        var clock = app.Services.GetRequiredService<TimeProvider>();
        app.Use(async (http, next) =>
        {
            if (!HttpMethods.IsPost(http.Request.Method) && !HttpMethods.IsPut(http.Request.Method) &&
                !HttpMethods.IsPatch(http.Request.Method) && !HttpMethods.IsDelete(http.Request.Method) ||
                http.Items[typeof(AuthenticatedMerchant)] is not AuthenticatedMerchant merchant)
            {
                await next();
                return;
            }
            var threw = true;
            try
            {
                await next();
                threw = false;
            }
            finally
            {
                await trail.RecordAsync(ForCall(http, merchant, threw ? StatusCodes.Status500InternalServerError : http.Response.StatusCode, clock));
            }
        });
    }

    static AuditEvent ForCall(HttpContext http, AuthenticatedMerchant merchant, int status, TimeProvider clock)
    {
        var route = http.GetEndpoint() is RouteEndpoint endpoint ? Routes.GetOrAdd(endpoint, Describe) : null;
        var (objectType, objectId) = CreatedObject(http, status);
        if (objectId is null && route?.IdParameter is { } parameter && http.Request.RouteValues[parameter] is string routeId)
            (objectType, objectId) = (route.ObjectType, routeId);
        return New(merchant.Id, AuditEvent.ApiKeyActor, merchant.KeyId ?? "unknown",
            route?.Operation ?? http.Request.Method + " (no route)", objectType, objectId, http, status, clock);
    }

    /// <summary>A dashboard sign-in or sign-out; <paramref name="key"/> is null when the key given was not found.</summary>
    public static ValueTask RecordDashboardAsync(this AuditTrail trail, HttpContext http, string operation, (string MerchantId, string KeyId)? key,
        int status, TimeProvider clock) =>
        trail.RecordAsync(New(key?.MerchantId, AuditEvent.DashboardActor, key?.KeyId ?? "unknown", operation, key is null ? null : "api_key", key?.KeyId,
            http, status, clock));

    /// <summary>A completed admin command: <c>cli merchants create</c> and the like (the arguments themselves are not kept).</summary>
    public static ValueTask RecordCliAsync(IServiceProvider services, string[] args, string merchantId, string? apiKeyId)
    {
        var operation = "cli " + string.Join(' ', args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).Take(2));
        return services.GetRequiredService<AuditTrail>().RecordAsync(new AuditEvent
        {
            Id = Domain.Ids.New("aud"), MerchantId = merchantId, ActorType = AuditEvent.CliActor, ActorId = Clean("cli:" + Environment.UserName)!,
            Operation = Clean(operation)!, ObjectType = apiKeyId is null ? "merchant" : "api_key", ObjectId = apiKeyId ?? merchantId,
            OccurredAt = services.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime, Outcome = AuditEvent.Succeeded,
        });
    }

    static AuditEvent New(string? merchantId, string actorType, string actorId, string operation, string? objectType, string? objectId,
        HttpContext http, int status, TimeProvider clock) => new()
    {
        Id = Domain.Ids.New("aud"), MerchantId = merchantId, ActorType = actorType, ActorId = Clean(actorId)!, Operation = Clean(operation)!,
        ObjectType = Clean(objectType), ObjectId = Clean(objectId), OccurredAt = clock.GetUtcNow().UtcDateTime,
        Ip = http.Connection.RemoteIpAddress?.ToString(), UserAgent = Clean(http.Request.Headers.UserAgent.ToString()), Status = status,
        Outcome = status < 400 ? AuditEvent.Succeeded : AuditEvent.Failed, RequestId = Clean(http.TraceIdentifier),
    };

    /// <summary>The object a successful call created, from its <c>Location</c>: "/v1/refunds/ref_…" is refund ref_…;
    /// "/v1/payouts?batch_id=…" is payout_batch ….</summary>
    static (string? Type, string? Id) CreatedObject(HttpContext http, int status)
    {
        if (status is < 200 or >= 300 || http.Response.Headers.Location.ToString() is not { Length: > 0 } location ||
            !location.StartsWith("/v1/", StringComparison.Ordinal))
            return (null, null);
        var query = location.IndexOf('?');
        var segments = (query < 0 ? location : location[..query]).Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (query >= 0 && location[(query + 1)..].Split('&')[0].Split('=') is [var name, var value] && name.EndsWith("_id", StringComparison.Ordinal))
            return (Singular(segments[^1]) + "_" + name[..^3], Uri.UnescapeDataString(value));
        return segments.Length >= 3 ? (Singular(segments[^2]), Uri.UnescapeDataString(segments[^1])) : (null, null);
    }

    sealed record Route(string Operation, string? IdParameter, string? ObjectType);

    static readonly ConcurrentDictionary<RouteEndpoint, Route> Routes = new();

    /// <summary>The operation ("POST /v1/orders/{orderId}/payments") and the route's last id parameter with the resource
    /// named before it (orderId of "orders": an order).</summary>
    static Route Describe(RouteEndpoint endpoint)
    {
        var pattern = endpoint.RoutePattern;
        var method = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods.FirstOrDefault() ?? "?";
        string? literal = null, parameter = null, type = null;
        foreach (var segment in pattern.PathSegments)
        {
            if (segment.Parts is [RoutePatternLiteralPart l]) literal = l.Content;
            else if (segment.Parts is [RoutePatternParameterPart p] && (p.Name == "id" || p.Name.EndsWith("Id", StringComparison.Ordinal)))
                (parameter, type) = (p.Name, literal is null ? null : Singular(literal));
        }
        return new Route(method + " " + (pattern.RawText ?? "?"), parameter, type);
    }

    static string Singular(string collection) =>
        (collection.EndsWith('s') ? collection[..^1] : collection).Replace('-', '_');

    /// <summary>Control characters replaced (PostgreSQL refuses NUL in text) and the length capped to the column's.</summary>
    static string? Clean(string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        if (text.Length > MaxText) text = text[..(char.IsHighSurrogate(text[MaxText - 1]) ? MaxText - 1 : MaxText)];
        foreach (var c in text)
            if (char.IsControl(c)) return string.Create(text.Length, text, (chars, t) =>
            {
                for (var i = 0; i < t.Length; i++) chars[i] = char.IsControl(t[i]) ? '?' : t[i];
            });
        return text;
    }
}
