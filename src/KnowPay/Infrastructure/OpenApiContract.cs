using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// The published contract, <c>/openapi/v1.json</c>, shaped so that a generated client (Kiota, NSwag, openapi-typescript) works
/// unedited, and the reference UI at <c>/docs</c> that renders it. Every rule is derived from types, paths and methods, so an
/// endpoint added later is described the same way without edits here.
/// </summary>
public static class OpenApiContract
{
    public const string DocumentRoute = "/openapi/{documentName}.json";
    public const string BearerScheme = "bearer";
    public const string ProblemSchema = "Problem";
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>Resource tags in the order the reference shows them; the first path segment (or a nested resource) picks one.</summary>
    static readonly (string Segment, string Tag, string Description)[] Resources =
    [
        ("orders", "Orders", "A learner's purchase of one product at a locked price; it is paid by one of its payments."),
        ("payments", "Payments", "An attempt to pay an order with one provider; the next action tells the learner what to do."),
        ("refunds", "Refunds", "Full or partial refunds of a succeeded payment, recorded before the provider is called."),
        ("products", "Products", "Courses, columns, memberships and tips with one active price per currency."),
        ("customers", "Customers", "The platform's users, found by KnowPay's id or the platform's own external id."),
        ("creators", "Creators", "The people paid their share of every payment."),
        ("entitlements", "Entitlements", "Access a paid order grants, revoked by a full refund."),
        ("events", "Events", "The outbox: every change, written in the same transaction; pulled here or pushed to webhooks."),
        ("webhook-endpoints", "Webhook endpoints", "Where KnowPay sends signed events."),
        ("api-keys", "API keys", "The merchant's secret keys: list, create, roll with an overlap, revoke; a secret is shown once."),
        ("ledger", "Ledger", "The double-entry ledger: journals, balances, trial balance, invariant checks and daily closes."),
        ("payouts", "Payouts", "Batches paying creators their available balances."),
        ("subscriptions", "Subscriptions", "Recurring purchases of a recurring price, renewed by the billing engine under an agreement or by invoice."),
        ("invoices", "Invoices", "What one period of a subscription costs; paid through its own order by the normal payment path."),
        ("mandates", "Mandates", "Payment agreements: the learner's consent to be charged again without being present."),
        ("test_clocks", "Test clocks", "Sandbox only: frozen times that subscriptions live by, advanced on demand."),
        ("audit-events", "Audit events", "Who did what to the account, when, from where and with what outcome; append-only."),
        ("reconciliation", "Reconciliation", "Provider bills imported per day and matched with payments and refunds, the ledger and entitlements; the differences found, by kind: " +
            "missing_in_knowpay, missing_at_provider, amount_mismatch, status_mismatch, currency_mismatch, fee_mismatch, ledger_difference, entitlement_missing, entitlement_without_payment."),
        ("risk", "Risk", "The merchant's risk rules (a Radar-like language), lists, limits and score thresholds."),
        ("reviews", "Reviews", "Orders and refunds the risk engine holds for a person: approve continues, reject closes."),
        ("fx", "FX", "Exchange rates (the ECB's and the merchant's own), quotes with the merchant's markup, and converted prices."),
        ("notify", "Notifications", "Provider notifications (server to server, verified by the provider's signature)."),
    ];

    /// <summary>Nested paths that belong to another resource than their first segment.</summary>
    static readonly Dictionary<string, string> NestedResources = new()
    {
        ["balances"] = "Ledger", ["statement"] = "Ledger", ["journals"] = "Ledger",
    };

    /// <summary>The error statuses every client should expect, each an <c>application/problem+json</c> with a stable <c>code</c>.</summary>
    static readonly (string Status, string Description, Func<HttpMethod, bool, bool> AppliesTo)[] ProblemStatuses =
    [
        ("400", "The request is invalid: `code` says why, `errors` names the fields.", (_, _) => true),
        ("401", "No API key, or an unknown, revoked or expired one.", (_, _) => true),
        ("403", "The API key lacks the scope this operation needs.", (_, _) => true),
        ("404", "No such object for this merchant: the path's, or one the body names (another merchant's objects are answered the same way).", (_, hasPathId) => hasPathId),
        ("409", "The object's state forbids it, or the Idempotency-Key was used with another body or is still running.", (m, _) => m == HttpMethod.Post),
        ("413", "The request body is larger than this API accepts.", (m, _) => m == HttpMethod.Post || m == HttpMethod.Put),
        ("415", "The request body is not `application/json`.", (m, _) => m == HttpMethod.Post || m == HttpMethod.Put),
        ("422", "The request is well-formed but cannot be processed as asked.", (m, _) => m == HttpMethod.Post || m == HttpMethod.Put),
        ("429", "Too many requests; retry after the time in `Retry-After`.", (_, _) => true),
    ];

    public static IServiceCollection AddKnowPayOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(o =>
        {
            o.AddSchemaTransformer(TransformSchema);
            o.AddDocumentTransformer(TransformDocument);
        });

    /// <summary>Serves the document and the reference UI, with every link to a hosted service switched off (an offline install cannot reach them).</summary>
    public static void MapKnowPayApiReference(this WebApplication app)
    {
        app.MapOpenApi(DocumentRoute);
        app.MapScalarApiReference("/docs", o => o
            .WithTitle("KnowPay API")
            .WithOpenApiRoutePattern(DocumentRoute)
            .AddPreferredSecuritySchemes([BearerScheme])
            .WithDefaultHttpClient(ScalarTarget.Shell, ScalarClient.Curl)
            .HideClientButton()
            .DisableAgent()
            .DisableMcp()
            .DisableTelemetry()
            .DisableDefaultFonts()
            .HideDeveloperTools()
            .WithCustomCss(HideHostedLinks));
    }

    /// <summary>The sidebar's "Powered by Scalar" link has no switch; it leads to a hosted site, so it is not shown.</summary>
    const string HideHostedLinks = "a[href^='https://scalar.com'] { display: none !important; }";

    /// <summary>
    /// Per CLR type: enums are strings; a decimal amount is read leniently (so that 99.5 is refused with a code) but is an
    /// integer in minor units on the wire; an object's required properties are those that are always present: non-nullable ones (the JSON
    /// omits nulls) and those marked <see cref="RequiredAttribute"/> (a request field the handler refuses to go without).
    /// </summary>
    static Task TransformSchema(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken ct)
    {
        var type = Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) ?? context.JsonTypeInfo.Type;
        if (type.IsEnum) schema.Type = JsonSchemaType.String;
        else if (type == typeof(decimal) && context.JsonPropertyInfo?.Name is { } name && (name == "amount" || name.EndsWith("_amount", StringComparison.Ordinal)))
        {
            schema.Type = JsonSchemaType.Integer | (schema.Type & JsonSchemaType.Null);
            schema.Format = "int64";
            schema.Pattern = null;
        }
        else if (context.JsonTypeInfo.Kind == JsonTypeInfoKind.Object && schema.Properties is { Count: > 0 } properties)
        {
            // Also when the type is first met as another object's property: the schema becomes the shared component either way.
            schema.Required = new HashSet<string>(context.JsonTypeInfo.Properties
                .Where(p => properties.ContainsKey(p.Name) && AlwaysPresent(p)).Select(p => p.Name));
        }
        return Task.CompletedTask;
    }

    static bool AlwaysPresent(JsonPropertyInfo property) =>
        property.AttributeProvider?.IsDefined(typeof(RequiredAttribute), inherit: true) == true
        || (!property.IsGetNullable && Nullable.GetUnderlyingType(property.PropertyType) is null);

    static Task TransformDocument(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken ct)
    {
        document.Info = new OpenApiInfo { Title = "KnowPay API", Version = "v1", Description = Introduction };
        if (context.ApplicationServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<KnowPayOptions>>().Value.PublicUrl is { Length: > 0 } publicUrl)
            document.Servers = [new OpenApiServer { Url = publicUrl.TrimEnd('/') }];

        document.Components ??= new OpenApiComponents();
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "sk_…",
            Description = "A secret API key (`sk_test_…` or `sk_live_…`) of one merchant, with the scopes it was created with.",
        };
        document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] }];
        document.Components.Schemas[ProblemSchema] = Problem();

        foreach (var schema in document.Components.Schemas.Values) NormaliseSchema(schema, document);
        foreach (var schema in document.Components.Schemas.Values.OfType<OpenApiSchema>().ToList()) OneOfWhenDiscriminated(schema, document);

        var usedTags = new HashSet<string>();
        var usedIds = new HashSet<string>();
        foreach (var (path, item) in document.Paths)
        {
            if (item.Operations is null) continue;
            foreach (var (method, operation) in item.Operations)
            {
                var tag = ResourceTag(path);
                usedTags.Add(tag);
                operation.Tags = new HashSet<OpenApiTagReference> { new(tag, document) };
                operation.OperationId ??= UniqueOperationId(OperationId(method, path, operation, document), path, usedIds);
                usedIds.Add(operation.OperationId);
                operation.Summary ??= Sentence(operation.OperationId);
                foreach (var parameter in operation.Parameters ?? []) NormaliseSchema(parameter.Schema, document);
                if (method == HttpMethod.Post) AddIdempotencyKey(operation);
                AddProblemResponses(operation, method, path.Contains('{'), document);
                AddExamples(operation, document);
            }
        }
        document.Tags = new HashSet<OpenApiTag>(Resources.Where(r => usedTags.Contains(r.Tag))
            .Select(r => new OpenApiTag { Name = r.Tag, Description = r.Description }));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Integers are plain integers (the reader also takes digit strings, which is leniency, not contract); a required property
    /// is never null; nested and inline schemas get the same treatment.
    /// </summary>
    static void NormaliseSchema(IOpenApiSchema? schema, OpenApiDocument document, int depth = 0)
    {
        if (schema is not OpenApiSchema s || depth > 8) return;
        if (s.Type is { } t && (t & (JsonSchemaType.Integer | JsonSchemaType.Number)) != 0 && (t & JsonSchemaType.String) != 0)
        {
            s.Type = t & ~JsonSchemaType.String;
            s.Pattern = null;
        }
        if (s.Enum is { Count: > 0 } values && s.Type is null && values.All(v => v?.GetValueKind() == System.Text.Json.JsonValueKind.String))
            s.Type = JsonSchemaType.String;
        if (s.Properties is { } properties)
        {
            foreach (var (name, property) in properties.ToList())
            {
                if (s.Required?.Contains(name) == true) properties[name] = NonNull(property);
                NormaliseSchema(properties[name], document, depth + 1);
            }
        }
        NormaliseSchema(s.Items, document, depth + 1);
        NormaliseSchema(s.AdditionalProperties, document, depth + 1);
        foreach (var one in s.OneOf ?? []) NormaliseSchema(one, document, depth + 1);
    }

    /// <summary>
    /// A polymorphic type is exactly one of its variants: anyOf with a discriminator becomes oneOf, a tagged union to generated
    /// clients; each variant is an object that always carries the discriminator, a string named by the mapping (a one-value enum
    /// per variant would be merged by Kiota into one enum that knows only the first variant's value).
    /// </summary>
    static void OneOfWhenDiscriminated(OpenApiSchema s, OpenApiDocument document)
    {
        if (s.Discriminator?.PropertyName is not { } tag || s.AnyOf is not { Count: > 0 } variants || s.OneOf is { Count: > 0 }) return;
        s.OneOf = variants;
        s.AnyOf = null;
        // Only the variants describe an object: a base that is an object itself reads as a parent class the variants do not extend.
        s.Type = null;
        s.Required = null;
        foreach (var (value, variant) in s.Discriminator.Mapping ?? new Dictionary<string, OpenApiSchemaReference>())
        {
            if (variant.Reference.Id is not { } id || document.Components?.Schemas?.TryGetValue(id, out var found) != true || found is not OpenApiSchema v) continue;
            v.Type ??= JsonSchemaType.Object;
            v.Required ??= new HashSet<string>();
            v.Required.Add(tag);
            if (v.Properties is not null && v.Properties.TryGetValue(tag, out var p) && p is OpenApiSchema property)
            {
                property.Enum = null;
                property.Type = JsonSchemaType.String;
                // A pattern, not a one-value enum, so that a validator finds exactly one variant and Kiota keeps a plain string.
                property.Pattern = $"^{System.Text.RegularExpressions.Regex.Escape(value)}$";
                property.Description = $"`{value}`.";
            }
        }
    }

    /// <summary>The schema without its null alternative: <c>["null","string"]</c> → <c>"string"</c>, <c>oneOf [null, $ref]</c> → <c>$ref</c>.</summary>
    static IOpenApiSchema NonNull(IOpenApiSchema schema)
    {
        if (schema is not OpenApiSchema s) return schema;
        if (s.Type is { } t && t != JsonSchemaType.Null) s.Type = t & ~JsonSchemaType.Null;
        if (s.OneOf is { Count: 2 } oneOf && oneOf.Count(o => o is OpenApiSchema { Type: JsonSchemaType.Null }) == 1
            && s.Properties is not { Count: > 0 } && s.Type is null)
            return oneOf.Single(o => o is not OpenApiSchema { Type: JsonSchemaType.Null });
        return s;
    }

    static string ResourceTag(string path)
    {
        var literals = Segments(path).Where(s => !s.StartsWith('{')).ToList();
        for (var i = literals.Count - 1; i >= 0; i--)
        {
            if (NestedResources.TryGetValue(literals[i], out var nested)) return nested;
            if (Resources.FirstOrDefault(r => r.Segment == literals[i]) is { Tag: { } tag }) return tag;
        }
        return literals.Count > 0 ? Pascal(literals[0]) : "KnowPay";
    }

    /// <summary>
    /// camelCase verb + resource from the method and path: <c>POST /orders</c> createOrder, <c>GET /orders</c> listOrders,
    /// <c>GET /orders/{id}</c> getOrder, <c>POST /products/{id}</c> updateProduct, <c>POST /webhook-endpoints/{id}/disable</c>
    /// disableWebhookEndpoint, <c>GET /payments/{id}/refunds</c> listPaymentRefunds; a GET is a list when it answers a page.
    /// </summary>
    static string OperationId(HttpMethod method, string path, OpenApiOperation operation, OpenApiDocument document)
    {
        var segments = Segments(path).ToList();
        var last = segments[^1];
        var lastIsParameter = last.StartsWith('{');
        var literals = segments.Where(s => !s.StartsWith('{')).ToList();
        var underParameter = segments.Count >= 2 && segments[^2].StartsWith('{');
        var answers = SuccessSchemaName(operation);
        var creates = operation.Responses?.ContainsKey("201") == true;

        if (method == HttpMethod.Get)
        {
            if (lastIsParameter) return "get" + Nouns(literals, singularLast: true);
            return (answers?.StartsWith("ListPageOf", StringComparison.Ordinal) == true ? "list" : "get") + Nouns(literals, singularLast: false);
        }
        if (method == HttpMethod.Delete) return "delete" + Nouns(literals, singularLast: true);
        if (method == HttpMethod.Post)
        {
            if (lastIsParameter) return "update" + Nouns(literals, singularLast: true);
            if (creates) return "create" + Nouns(segments.Skip(segments.FindLastIndex(x => x.StartsWith('{')) + 1).ToList(), singularLast: true);
            // An action on an object or a collection: the last segment's first word is the verb ("rotate-secret" → rotate…Secret).
            var words = last.Split('-');
            var owner = literals.Take(literals.Count - 1).ToList();
            return words[0] + Nouns(owner, singularLast: underParameter) + string.Concat(words.Skip(1).Select(Pascal));
        }
        return method.Method.ToLowerInvariant() + Nouns(literals, singularLast: lastIsParameter);
    }

    static string UniqueOperationId(string id, string path, HashSet<string> used)
    {
        if (!used.Contains(id)) return id;
        var qualified = id + string.Concat(Segments(path).Where(s => !s.StartsWith('{')).Take(1).Select(s => "Of" + Pascal(s)));
        for (var n = 2; used.Contains(qualified); n++) qualified = id + n;
        return qualified;
    }

    static string Nouns(List<string> literals, bool singularLast) =>
        string.Concat(literals.Select((s, i) => Pascal(i < literals.Count - 1 || singularLast ? Singular(s) : s)));

    static IEnumerable<string> Segments(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(s => s != "v1");

    static string Singular(string word) =>
        word.EndsWith("ies", StringComparison.Ordinal) ? word[..^3] + "y"
        : word.EndsWith("ches", StringComparison.Ordinal) || word.EndsWith("sses", StringComparison.Ordinal) || word.EndsWith("xes", StringComparison.Ordinal) ? word[..^2]
        : word.EndsWith('s') && !word.EndsWith("ss", StringComparison.Ordinal) ? word[..^1]
        : word;

    static string Pascal(string segment) =>
        string.Concat(segment.Split('-', '_').Where(w => w.Length > 0).Select(w => char.ToUpperInvariant(w[0]) + w[1..]));

    /// <summary>"listPaymentRefunds" → "List payment refunds".</summary>
    static string Sentence(string operationId)
    {
        var words = System.Text.RegularExpressions.Regex.Split(operationId, "(?<=[a-z0-9])(?=[A-Z])").Select(w => w.ToLowerInvariant()).ToList();
        words[0] = char.ToUpperInvariant(words[0][0]) + words[0][1..];
        return string.Join(' ', words);
    }

    static string? SuccessSchemaName(OpenApiOperation operation) =>
        operation.Responses?.Where(r => r.Key.StartsWith('2')).Select(r => r.Value.Content)
            .SelectMany(c => c?.Values ?? Enumerable.Empty<OpenApiMediaType>())
            .Select(m => (m.Schema as OpenApiSchemaReference)?.Reference.Id).FirstOrDefault(id => id is not null);

    static void AddIdempotencyKey(OpenApiOperation operation)
    {
        operation.Parameters ??= [];
        if (operation.Parameters.Any(p => string.Equals(p.Name, IdempotencyKeyHeader, StringComparison.OrdinalIgnoreCase))) return;
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = IdempotencyKeyHeader, In = ParameterLocation.Header, Required = false,
            Description = "Makes the request safe to retry: the same key and body replay the first answer (`Idempotent-Replayed: true`); "
                          + "the key with another body is 409 `idempotency_key_reused`.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 255 },
            Example = JsonValue.Create("order-u42-1"),
        });
    }

    static void AddProblemResponses(OpenApiOperation operation, HttpMethod method, bool hasPathParameter, OpenApiDocument document)
    {
        operation.Responses ??= new OpenApiResponses();
        foreach (var (status, description, appliesTo) in ProblemStatuses)
        {
            // An endpoint may declare a status beyond the defaults (.Produces(404) where the body names another object).
            if (!appliesTo(method, hasPathParameter) && !operation.Responses.ContainsKey(status)) continue;
            operation.Responses[status] = new OpenApiResponse
            {
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, document) },
                },
            };
        }
    }

    static OpenApiSchema Problem() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "An RFC 9457 problem. `code` is stable and meant for programs; `detail` is for people.",
        Required = new HashSet<string> { "type", "title", "status", "code" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "`urn:knowpay:error:<code>`." },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["instance"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A stable machine code such as `order_not_found`." },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object, Description = "For validation problems: the messages per request field.",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            },
        },
        Examples =
        [
            new JsonObject
            {
                ["type"] = "urn:knowpay:error:amount_invalid", ["title"] = "amount invalid", ["status"] = 400,
                ["detail"] = "amount must be a positive integer in minor units.", ["code"] = "amount_invalid",
                ["errors"] = new JsonObject { ["amount"] = new JsonArray("amount must be a positive integer in minor units.") },
            },
        ],
    };

    /// <summary>A request and a success example per operation, built from the schema with plausible values per field name.</summary>
    static void AddExamples(OpenApiOperation operation, OpenApiDocument document)
    {
        foreach (var media in operation.RequestBody?.Content?.Values ?? Enumerable.Empty<OpenApiMediaType>())
            media.Example ??= Example(media.Schema, null, null, document, 0, requestOnly: true);
        foreach (var (status, response) in operation.Responses ?? [])
        {
            if (!status.StartsWith('2')) continue;
            foreach (var media in response.Content?.Values ?? Enumerable.Empty<OpenApiMediaType>())
                media.Example ??= Example(media.Schema, null, null, document, 0, requestOnly: false);
        }
    }

    static JsonNode? Example(IOpenApiSchema? schema, string? name, string? container, OpenApiDocument document, int depth, bool requestOnly)
    {
        if (schema is null || depth > 5) return null;
        string? owner = null;
        if (schema is OpenApiSchemaReference reference)
        {
            owner = reference.Reference.Id;
            container = owner;
            if (owner is null || document.Components?.Schemas?.TryGetValue(owner, out schema) != true) return null;
        }
        if (schema!.OneOf is { Count: > 0 } oneOf)
            return Example(oneOf.FirstOrDefault(o => o is not OpenApiSchema { Type: JsonSchemaType.Null }), name, container, document, depth, requestOnly);
        if (schema.Examples?.FirstOrDefault() is { } given) return given.DeepClone();
        if (schema.Enum is { Count: > 0 } values) return values[0]?.DeepClone();
        var type = (schema.Type ?? JsonSchemaType.Object) & ~JsonSchemaType.Null;
        if (type.HasFlag(JsonSchemaType.Object) && schema.Properties is { Count: > 0 } properties)
        {
            var obj = new JsonObject();
            foreach (var (property, propertySchema) in properties)
            {
                // A request example shows what a client sends: its required fields and the usual optional ones, not every knob.
                if (requestOnly && schema.Required is { Count: > 0 } required && !required.Contains(property) && !UsualOptional.Contains(property)) continue;
                var value = Example(propertySchema, property, container, document, depth + 1, requestOnly);
                // An answer example shows a fresh object: optional timestamps and fields without a plausible value are left out, as nulls are.
                var optional = schema.Required?.Contains(property) != true;
                if (value is null || (optional && (property.EndsWith("_at", StringComparison.Ordinal) || value.ToJsonString() == "\"string\""))) continue;
                obj[property] = value;
            }
            return obj;
        }
        if (type.HasFlag(JsonSchemaType.Array))
            return Example(schema.Items, name is null ? null : Singular(name), container, document, depth + 1, requestOnly) is { } item ? new JsonArray(item) : new JsonArray();
        if (type.HasFlag(JsonSchemaType.Integer)) return name switch
        {
            null => 0,
            "refunded_amount" => 0,
            _ when name.EndsWith("amount", StringComparison.Ordinal) || name is "balance" or "available" or "pending" => 9900,
            _ when name.EndsWith("_bps", StringComparison.Ordinal) => 7000,
            _ when name.EndsWith("seconds", StringComparison.Ordinal) => 1800,
            _ when name.EndsWith("_days", StringComparison.Ordinal) => 30,
            "version" => 1,
            "status" => 400,
            _ => 1,
        };
        if (type.HasFlag(JsonSchemaType.Number)) return 1;
        if (type.HasFlag(JsonSchemaType.Boolean)) return name is "has_more" or "active";
        if (type.HasFlag(JsonSchemaType.String)) return StringExample(name, schema.Format, container);
        return null;
    }

    static readonly HashSet<string> UsualOptional = ["customer_external_id", "amount", "reason", "method", "description"];

    static JsonNode StringExample(string? name, string? format, string? container)
    {
        var resource = IdPrefixes.FirstOrDefault(p => container?.StartsWith(p.Schema, StringComparison.Ordinal) == true);
        if (format == "date-time" || name?.EndsWith("_at", StringComparison.Ordinal) == true) return "2026-01-15T08:30:00Z";
        return name switch
        {
            "currency" => "CNY",
            "payout_currency" or "settlement_currency" => "USD",
            "object" when container?.StartsWith("ListPageOf", StringComparison.Ordinal) == true => "list",
            "object" => resource.Schema is null ? "object" : System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(resource.Schema),
            "provider" => "sandbox",
            "method" => "qr",
            "url" or "redirect_url" or "return_url" => "https://academy.example/knowpay/webhook",
            "qr_code" or "checkout_url" => "https://pay.academy.example/checkout/ord_01JH3Q4N8ZC5V7",
            "email" => "learner@academy.example",
            "name" => "Rust in 30 days",
            "reason" => "requested_by_customer",
            "action" when container?.StartsWith("ResolveItem", StringComparison.Ordinal) == true => "acknowledge",
            "note" => "Checked against the provider's bill",
            "description" => "Rust in 30 days, lifetime access",
            "customer_external_id" or "external_id" => "u_42",
            "secret" when container?.StartsWith("ApiKey", StringComparison.Ordinal) == true => "sk_test_5c1e…",
            "secret" => "whsec_3f9a…",
            "next_cursor" or "starting_after" => "ord_01JH3Q4N8ZC5V7",
            "type" when container?.StartsWith("Event", StringComparison.Ordinal) == true => "payment.succeeded",
            "type" => "qr_code",
            "event_type" or "event_types" => "refund.succeeded",
            "id" => Id(resource.Prefix ?? "obj"),
            not null when name.EndsWith("_id", StringComparison.Ordinal) =>
                Id(IdPrefixes.FirstOrDefault(p => name.StartsWith(p.Schema.ToLowerInvariant(), StringComparison.Ordinal)).Prefix ?? "obj"),
            _ => "string",
        };
    }

    static string Id(string prefix) => prefix + "_01JH3Q4N8ZC5V7";

    static readonly (string Schema, string Prefix)[] IdPrefixes =
    [
        ("Order", "ord"), ("Payment", "pay"), ("Refund", "re"), ("Product", "prod"), ("Price", "price"), ("Customer", "cus"),
        ("Creator", "cre"), ("Entitlement", "ent"), ("Event", "evt"), ("Delivery", "whd"), ("WebhookEndpoint", "we"), ("ApiKey", "key"),
        ("Journal", "jrn"), ("PayoutBatch", "pob"), ("Payout", "po"), ("AuditEvent", "aud"),
    ];

    /// <summary>The reference's opening page (the document's <c>info.description</c>).</summary>
    public const string Introduction = """
        KnowPay is a self-hosted payment service for paid-knowledge platforms. Your platform calls this API over HTTPS;
        learners pay with Alipay, WeChat Pay, Stripe or PayPal; KnowPay confirms each payment exactly once, grants access,
        keeps a double-entry ledger and tells your platform through signed webhooks.

        ## Authentication

        Send a secret API key of your merchant as a bearer token on every request:
        `Authorization: Bearer sk_test_…`. A key carries scopes (`orders:write`, `refunds:write`, `catalog:read`, …); a request
        outside them is `403`. A key sees only its merchant's objects: another merchant's ids answer `404`.

        ## Amounts

        Amounts are integers in the currency's minor unit (`9900` CNY is ¥99.00; JPY has none). JSON names are `snake_case`;
        fields without a value are left out rather than sent as `null`.

        ## Idempotency

        Every `POST` takes an optional `Idempotency-Key` header. Retrying with the same key and the same body replays the first
        answer, with `Idempotent-Replayed: true`; the key with another body is `409 idempotency_key_reused`, and a retry while
        the first request still runs is `409 idempotency_request_in_progress`. Keys are kept for at least 24 hours.

        ## Errors

        Errors are `application/problem+json` (RFC 9457) with a stable machine `code` (such as `order_not_found` or
        `refund_exceeds_captured`) and, for invalid fields, `errors` listing the messages per field. Branch on `code`, show
        `detail`.

        ## Pagination

        Lists answer `{"data": [...], "has_more": true, "next_cursor": "ord_…"}`, newest first. Ask for the next page with
        `starting_after=<next_cursor>`; `limit` is 1–100 (default 20).

        ## Webhooks

        Register an endpoint with `POST /v1/webhook-endpoints`; the answer carries its signing secret `whsec_…` once. Each
        delivery is a `POST` of `{"id": "evt_…", "type": "…", "created_at": "…", "data": {…}}` with the header
        `KnowPay-Signature: t=<unix seconds>,v1=<hex>`, where `v1 = HMAC-SHA256(secret, "<t>.<raw body>")`. Verify it against
        the raw bytes, compare in constant time and refuse a `t` more than 5 minutes off. Delivery is at least once and
        unordered: deduplicate by the event `id` and use `created_at` or fetch the object for its current state.
        """;
}
