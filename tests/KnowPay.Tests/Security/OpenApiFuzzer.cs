extern alias JsonEverything;

using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using JsonEverything::Json.Schema;
using Microsoft.Extensions.Logging;

namespace KnowPay.Fuzzing;

/// <summary>One operation of the served OpenAPI document, with its parameters, body schema and documented answers.</summary>
public sealed record FuzzOperation(
    string Method, string Path, string Id, IReadOnlyList<FuzzParameter> Parameters, JsonObject? BodySchema,
    IReadOnlyDictionary<int, (string? MediaType, JsonNode? Schema)> Responses);

public sealed record FuzzParameter(string Name, string In, bool Required, JsonObject Schema);

/// <summary>A generated request; <see cref="Shape"/> says what was varied, for the findings.</summary>
public sealed record FuzzRequest(FuzzOperation Operation, string Url, IReadOnlyList<(string Name, string Value)> Headers,
    byte[]? Body, string? ContentType, bool Anonymous, string Shape)
{
    public override string ToString() =>
        $"{Operation.Method} {Url} [{Shape}]{(ContentType is null ? "" : " " + ContentType)}{(Anonymous ? " anonymous" : "")}" +
        (Body is null ? "" : " body " + Truncate(Encoding.UTF8.GetString(Body), 300));

    internal static string Truncate(string s, int n) => s.Length <= n ? s : s[..n] + "…";
}

/// <summary>What a run found: counts, and each distinct finding once with its first example.</summary>
public sealed class FuzzReport
{
    long requests, serverErrors, mismatches, refusedByClient, refusedByKestrel;
    public long Requests => Interlocked.Read(ref requests);
    public long ServerErrors => Interlocked.Read(ref serverErrors);
    public long Mismatches => Interlocked.Read(ref mismatches);
    public long RefusedByClient => Interlocked.Read(ref refusedByClient);

    /// <summary>
    /// Requests Kestrel refused before the application saw them (a NUL in the path, a request line over its limit): an
    /// empty 400/414 with the connection closed, which no middleware can change.
    /// </summary>
    public long RefusedByKestrel => Interlocked.Read(ref refusedByKestrel);
    public ConcurrentDictionary<string, (long Count, string Example)> Findings { get; } = new();
    public ConcurrentDictionary<string, long> StatusesPerOperation { get; } = new();
    public bool? InvariantsPassed { get; set; }
    public string InvariantReport { get; set; } = "";

    /// <summary>The server's error log, if the host collects it: each 5xx in <see cref="Summary"/> shows what was logged for it.</summary>
    public ServerErrorLog? ServerLog { get; set; }

    /// <summary>Each 5xx (the first <see cref="MaxServerErrorsKept"/>): the request and when it was sent and answered.</summary>
    readonly ConcurrentQueue<(FuzzRequest Request, int Status, DateTimeOffset Sent, DateTimeOffset Answered)> serverErrorRequests = new();
    const int MaxServerErrorsKept = 20;

    internal void ServerErrorAt(FuzzRequest request, int status, DateTimeOffset sent, DateTimeOffset answered)
    {
        if (serverErrorRequests.Count < MaxServerErrorsKept) serverErrorRequests.Enqueue((request, status, sent, answered));
    }

    /// <summary>Each kept 5xx with the exception text the server logged while answering it.</summary>
    public string ServerErrorDetails()
    {
        var s = new StringBuilder();
        foreach (var (request, status, sent, answered) in serverErrorRequests)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"  5xx {status} at {sent:HH:mm:ss.fff}–{answered:HH:mm:ss.fff}: {request}");
            if (ServerLog is null) { s.AppendLine("    (the server's log was not collected)"); continue; }
            var logged = ServerLog.For(request.Url, sent, answered);
            if (logged.Count == 0) s.AppendLine("    (nothing logged at Error level for it)");
            foreach (var entry in logged) s.AppendLine(CultureInfo.InvariantCulture, $"    server log {entry}");
        }
        return s.ToString();
    }

    internal void Sent(string operationId, int status)
    {
        Interlocked.Increment(ref requests);
        StatusesPerOperation.AddOrUpdate($"{operationId} {status}", 1, (_, n) => n + 1);
    }

    internal void Refused() => Interlocked.Increment(ref refusedByClient);

    internal void RefusedBeforeTheApplication() => Interlocked.Increment(ref refusedByKestrel);

    internal void Found(bool serverError, string signature, string example)
    {
        Interlocked.Increment(ref serverError ? ref serverErrors : ref mismatches);
        Findings.AddOrUpdate(signature, (1, example), (_, f) => (f.Count + 1, f.Example));
    }

    public string Summary()
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"requests {Requests}, 5xx {ServerErrors}, schema/contract mismatches {Mismatches}, refused by the client {RefusedByClient}, by Kestrel before the application {RefusedByKestrel}, invariants {(InvariantsPassed is null ? "not checked" : InvariantsPassed.Value ? "passed" : "FAILED")}");
        foreach (var (signature, (count, example)) in Findings.OrderByDescending(f => f.Value.Count))
            s.AppendLine(CultureInfo.InvariantCulture, $"  {count,6} × {signature}\n         e.g. {example}");
        foreach (var group in StatusesPerOperation.GroupBy(p => p.Key.Split(' ')[0]).OrderBy(g => g.Key, StringComparer.Ordinal))
            s.AppendLine(CultureInfo.InvariantCulture, $"  {group.Key}: {string.Join(", ", group.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key.Split(' ')[1]}×{p.Value}"))}");
        if (InvariantsPassed == false) s.AppendLine(InvariantReport);
        if (ServerErrors > 0) s.Append(ServerErrorDetails());
        return s.ToString();
    }
}

/// <summary>One Error-level (or worse) entry of the server's log, with the request it was logged under (the hosting scope's
/// RequestPath and RequestId); <see cref="Text"/> is the message and the exception with its stack.</summary>
public sealed record ServerLogEntry(DateTimeOffset At, string Category, string? RequestPath, string? RequestId, string Text)
{
    public override string ToString() =>
        $"{At:HH:mm:ss.fff} {Category} (request {RequestId ?? "?"} {RequestPath ?? "?"}):\n      {Text.ReplaceLineEndings("\n      ")}";
}

/// <summary>
/// The server's Error-level log as the fuzzer reads it when an answer is a 5xx, filled by the host: in process by
/// <see cref="ServerErrorLogProvider"/>, from a separate process's JSON console log by the benchmark runner.
/// </summary>
public sealed class ServerErrorLog
{
    readonly ConcurrentQueue<ServerLogEntry> entries = new();
    /// <summary>How far a log timestamp may lie outside the request's send–answer window (clock reads on two sides).</summary>
    static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(500);

    public void Add(ServerLogEntry entry)
    {
        if (entries.Count < 10_000) entries.Enqueue(entry);
    }

    /// <summary>What was logged for a request to <paramref name="url"/> between sending and answering: entries under its path,
    /// or, when the path cannot be matched (escaping), every entry of that window.</summary>
    public IReadOnlyList<ServerLogEntry> For(string url, DateTimeOffset sent, DateTimeOffset answered)
    {
        var inWindow = entries.Where(e => e.At >= sent - Slack && e.At <= answered + Slack).ToList();
        var path = url.Split('?')[0];
        var underPath = inWindow.Where(e => e.RequestPath is { } p &&
            (p == path || Uri.UnescapeDataString(p) == Uri.UnescapeDataString(path))).ToList();
        return underPath.Count > 0 ? underPath : inWindow;
    }
}

/// <summary>Collects an in-process server's Error-level log into a <see cref="ServerErrorLog"/>, with the request scope.</summary>
public sealed class ServerErrorLogProvider(ServerErrorLog log) : ILoggerProvider, ISupportExternalScope
{
    IExternalScopeProvider? scopes;

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => scopes = scopeProvider;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    sealed class Logger(ServerErrorLogProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => provider.scopes?.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string? path = null, requestId = null;
            provider.scopes?.ForEachScope((scope, _) =>
            {
                if (scope is not IEnumerable<KeyValuePair<string, object?>> values) return;
                foreach (var (name, value) in values)
                {
                    if (name == "RequestPath") path = value?.ToString();
                    else if (name == "RequestId") requestId = value?.ToString();
                }
            }, (object?)null);
            provider.Add(new ServerLogEntry(DateTimeOffset.UtcNow, category, path, requestId,
                formatter(state, exception) + (exception is null ? "" : "\n" + exception)));
        }
    }

    void Add(ServerLogEntry entry) => log.Add(entry);
}

/// <summary>
/// Generates requests for every operation of KnowPay's <c>/openapi/v1.json</c> — valid ones built from the schemas with
/// real ids (learned from earlier answers, so deep paths are reached) and hostile ones (wrong types, missing required
/// fields, huge numbers, long strings, control characters, odd media types, broken JSON) — sends them and checks each
/// answer: no 5xx; the status is documented for the operation; the body validates against the documented schema
/// (JsonSchema.Net, the components as <c>$defs</c>); an error is problem+json with a <c>code</c>.
/// Shared by the CI test and the benchmark runner's <c>--fuzz</c> mode.
/// </summary>
public sealed class OpenApiFuzzer
{
    readonly JsonObject components;
    readonly Dictionary<string, JsonSchema> validators = new();   // under schemaLock
    readonly string schemaBase = $"https://fuzz.knowpay.invalid/{Guid.NewGuid():N}/";
    readonly ConcurrentDictionary<string, string[]> ids = new();   // id prefix → known ids (a bounded sample)
    readonly ConcurrentDictionary<string, byte> customerExternalIds = new();
    // The run's own API keys: never offered to roll or revoke, or the run would lock itself out.
    readonly ConcurrentDictionary<string, byte> ownKeys = new();
    /// <summary>A product, a one-time price and a monthly price no request can archive: the creates' plausible bodies name them.</summary>
    readonly ConcurrentDictionary<string, string> kept = new();
    /// <summary>Test clock times only move forward: each generated frozen_time lies after the ones before (2028 on, within 2000–2199).</summary>
    long clockTicks;
    static readonly EvaluationOptions Evaluation = new() { OutputFormat = OutputFormat.List };
    // JsonSchema.Net's registry is a plain Dictionary that a $ref reads while a new schema registers: the fuzzer's own
    // registry, and building and evaluating under one lock, or a parallel run loses a registration (RefResolutionException).
    readonly BuildOptions build = new() { SchemaRegistry = new SchemaRegistry() };
    readonly Lock schemaLock = new();

    public IReadOnlyList<FuzzOperation> Operations { get; }
    public Gen<FuzzRequest> Requests { get; }

    OpenApiFuzzer(JsonObject document)
    {
        components = document["components"]!["schemas"]!.AsObject();
        var operations = new List<FuzzOperation>();
        foreach (var (path, item) in document["paths"]!.AsObject())
        foreach (var (method, op) in item!.AsObject())
        {
            var parameters = (op!["parameters"]?.AsArray() ?? []).Select(p => new FuzzParameter(
                (string)p!["name"]!, (string)p["in"]!, (bool?)p["required"] ?? false, p["schema"]?.AsObject() ?? new JsonObject())).ToList();
            var body = op["requestBody"]?["content"]?["application/json"]?["schema"]?.AsObject();
            var responses = op["responses"]!.AsObject().ToDictionary(
                r => int.Parse(r.Key, CultureInfo.InvariantCulture),
                r => r.Value!["content"]?.AsObject().FirstOrDefault() is { Key: not null } c ? ((string?)c.Key, c.Value?["schema"]) : ((string?)null, (JsonNode?)null));
            operations.Add(new FuzzOperation(method.ToUpperInvariant(), path, (string)op["operationId"]!, parameters, body, responses));
        }
        Operations = operations;
        var perOperation = operations.Select(RequestFor).ToArray();
        Requests = Gen.Int[0, perOperation.Length - 1].SelectMany(i => perOperation[i]);
    }

    public static async Task<OpenApiFuzzer> LoadAsync(HttpClient http, CancellationToken ct = default) =>
        new(JsonNode.Parse(await http.GetStringAsync("/openapi/v1.json", ct))!.AsObject());

    // ---------------------------------------------------------------- ids known to the run

    /// <summary>Remembers every id in an answer (<c>id</c> and <c>*_id</c> values, by their prefix) for later requests.</summary>
    public void Learn(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o)
                {
                    if (value is JsonValue v && v.TryGetValue<string>(out var s) && s.Length < 80)
                    {
                        if ((name == "id" || name.EndsWith("_id", StringComparison.Ordinal)) && s.IndexOf('_') is > 0 and var cut)
                            Remember(s[..cut], s);
                        if (name == "external_id" && (string?)o["object"] == "customer") customerExternalIds.TryAdd(s, 0);
                    }
                    else Learn(value);
                }
                break;
            case JsonArray a:
                foreach (var item in a) Learn(item);
                break;
        }
    }

    void Remember(string prefix, string id)
    {
        if (!ownKeys.ContainsKey(id) && !kept.Values.Contains(id)) RememberAny(prefix, id);
    }

    void RememberAny(string prefix, string id) => ids.AddOrUpdate(prefix, [id], (_, known) =>
        known.Contains(id) ? known : known.Length < 40 ? [.. known, id] : [.. known[1..], id]);

    string KnownId(string prefix, int pick) =>
        ids.TryGetValue(prefix, out var known) && known.Length > 0 ? known[pick % known.Length] : prefix + "_01UNKNOWN" + pick.ToString(CultureInfo.InvariantCulture);

    static readonly Dictionary<string, string> PrefixOfCollection = new()
    {
        ["creators"] = "cre", ["customers"] = "cus", ["products"] = "prod", ["orders"] = "ord", ["payments"] = "pay", ["refunds"] = "re",
        ["events"] = "evt", ["webhook-endpoints"] = "we", ["journals"] = "jrn", ["payouts"] = "po", ["batches"] = "pob", ["entitlements"] = "ent",
        ["api-keys"] = "key", ["audit-events"] = "aud",
        ["subscriptions"] = "sub", ["invoices"] = "in", ["mandates"] = "mdt", ["test_clocks"] = "clock",
        ["runs"] = "rec", ["items"] = "rci", ["reviews"] = "rev",
    };

    static readonly Dictionary<string, string> PrefixOfField = new()
    {
        ["creator_id"] = "cre", ["product_id"] = "prod", ["productId"] = "prod", ["customer_id"] = "cus", ["order_id"] = "ord", ["orderId"] = "ord",
        ["payment_id"] = "pay", ["paymentId"] = "pay", ["batch_id"] = "pob",
        ["price_id"] = "price", ["mandate_id"] = "mdt", ["test_clock"] = "clock", ["subscription"] = "sub",
    };

    /// <summary>The id prefix a parameter or field names, if it names an object (for <c>id</c>: the collection before it).</summary>
    static string? PrefixFor(string path, string name)
    {
        if (PrefixOfField.TryGetValue(name, out var prefix)) return prefix;
        if (name is not ("id" or "starting_after")) return null;
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var at = name == "id" ? Array.IndexOf(segments, "{id}") - 1 : segments.Length - 1;
        if (at >= 0 && segments[at].StartsWith('{')) at = -1;
        if (name == "starting_after" && at >= 0 && segments[at] is "refunds" or "statement") return segments[at] == "refunds" ? "re" : "jrn";
        return at >= 0 && PrefixOfCollection.TryGetValue(segments[at], out var p) ? p : null;
    }

    // ---------------------------------------------------------------- generators

    static readonly Gen<string> Word = Gen.Char['a', 'z'].Array[1, 10].Select(c => new string(c));

    /// <summary>Strings a hostile client sends: control characters, NUL, odd unicode, long, empty, injection-looking.</summary>
    public static readonly Gen<string> HostileString = Gen.Frequency(
        (3, Gen.Select(Word, Gen.Char[(char)0, (char)31], Word).Select((a, c, b) => a + c + b)),
        (2, Gen.Select(Word, Word).Select((a, b) => a + "\0" + b)),
        (2, Gen.OneOf("\0", "课程🎓", "\u202Eevil", "e\u0301", "\uFEFFbom", "\uD800", "\uDFFFx", "\u007F", "\u0085", "Ω≈ç√", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢")),
        (3, Gen.Int[190, 5000].Select(n => new string('y', n))),
        (2, Gen.OneOf("", " ", "\t", "null", "undefined", "' OR 1=1 --", "../../etc/passwd", "%00", "${jndi:ldap://x}", "<script>", "-1", "0", "1e309")),
        (1, Gen.String));

    /// <summary>A JSON value of the wrong kind or out of range, as a factory (a JsonNode can have one parent only).</summary>
    static readonly Gen<Func<JsonNode?>> HostileValue = Gen.Frequency(
        (4, HostileString.Select(s => (Func<JsonNode?>)(() => JsonValue.Create(s)))),
        (4, Gen.OneOf<Func<JsonNode?>>(
            () => JsonValue.Create(long.MaxValue), () => JsonValue.Create(long.MinValue), () => JsonValue.Create(-1L), () => JsonValue.Create(0L),
            () => JsonValue.Create(4_611_686_018_427_387_903L), () => JsonValue.Create(2_147_483_648L), () => JsonValue.Create(decimal.MaxValue),
            () => JsonValue.Create(9_223_372_036_854_775_808m), () => JsonValue.Create(1.5m), () => JsonValue.Create(1e300), () => JsonValue.Create(-1e300))),
        (3, Gen.OneOf<Func<JsonNode?>>(
            () => null, () => JsonValue.Create(true), () => new JsonArray(), () => new JsonObject(), () => new JsonArray(1, "a"),
            () => new JsonObject { ["a"] = new JsonObject { ["b"] = 1 } }, () => JsonValue.Create("123"))));

    Gen<FuzzRequest> RequestFor(FuzzOperation op)
    {
        var path = PathFor(op);
        var query = QueryFor(op);
        var body = BodyFor(op);
        var headers = HeadersFor(op);
        return Gen.Select(path, query, body, headers, Gen.Int[0, 99]).Select((p, q, b, h, anonymous) =>
        {
            var shapes = new[] { p.Shape, q.Shape, b.Shape, h.Shape }.Where(s => s.Length > 0).ToList();
            return new FuzzRequest(op, p.Url + q.Query, h.Headers, b.Body, b.ContentType, anonymous < 2, shapes.Count == 0 ? "valid" : string.Join(", ", shapes));
        });
    }

    Gen<(string Url, string Shape)> PathFor(FuzzOperation op)
    {
        var gen = Gen.Const((Url: op.Path, Shape: ""));
        foreach (var p in op.Parameters.Where(p => p.In == "path"))
        {
            var prefix = PrefixFor(op.Path, p.Name) ?? (p.Name == "customer" ? "cus" : null);
            var valid = prefix is null && p.Name is "name" or "date"
                ? ValidString(p.Name, op.Path).Select(v => (Value: v, Shape: ""))
                : Gen.Int[0, 1000].Select(i => (Value: p.Name == "customer" && i % 3 == 0 ? ExternalId(i) : KnownId(prefix ?? "x", i), Shape: ""));
            var value = Gen.Frequency(
                (85, valid),
                (5, Gen.Int[0, 1000].Select(i => (Value: KnownId(PrefixOfCollection.Values.ElementAt(i % PrefixOfCollection.Count), i), Shape: $"{p.Name}:other object"))),
                (10, HostileString.Select(s => (Value: s is "" or "." or ".." ? s + "x" : s, Shape: $"{p.Name}:hostile"))));
            gen = gen.SelectMany(acc => value.Select(v => (acc.Url.Replace("{" + p.Name + "}", Uri.EscapeDataString(v.Value), StringComparison.Ordinal),
                v.Shape.Length == 0 ? acc.Shape : Join(acc.Shape, v.Shape))));
        }
        return gen;
    }

    string ExternalId(int pick)
    {
        var known = customerExternalIds.Keys.ToArray();
        return known.Length == 0 ? "learner-" + pick.ToString(CultureInfo.InvariantCulture) : known[pick % known.Length];
    }

    Gen<(string Query, string Shape)> QueryFor(FuzzOperation op)
    {
        var gen = Gen.Const((Query: "", Shape: ""));
        foreach (var p in op.Parameters.Where(p => p.In == "query"))
        {
            var valid = ValidQueryValue(op, p);
            var value = Gen.Frequency(
                // A quote's currencies are what it is about: left out, the request can only be refused.
                (p.Name is "from" or "to" || op.Path == "/v1/fx/quote" ? 5 : 55, Gen.Const<(string?, string)>((null, ""))),
                (35, valid.Select(v => ((string?)v, ""))),
                (10, Gen.Frequency(
                    (3, HostileString),
                    (2, Gen.OneOf("-1", "0", "101", "99999999999999999999", "1.5", "abc", "", "true", "2026-13-45", "9999-12-31T23:59:59Z", "0001-01-01")))
                    .Select(s => ((string?)s, $"{p.Name}:hostile"))));
            gen = gen.SelectMany(acc => value.Select(v => v.Item1 is null ? acc :
                (acc.Query + (acc.Query.Length == 0 ? "?" : "&") + p.Name + "=" + Uri.EscapeDataString(v.Item1), v.Item2.Length == 0 ? acc.Shape : Join(acc.Shape, v.Item2))));
        }
        return gen;
    }

    Gen<string> ValidQueryValue(FuzzOperation op, FuzzParameter p)
    {
        if (PrefixFor(op.Path, p.Name) is { } prefix) return Gen.Int[0, 1000].Select(i => KnownId(prefix, i));
        return p.Name switch
        {
            "limit" => Gen.Int[1, 100].Select(i => i.ToString(CultureInfo.InvariantCulture)),
            "status" => Gen.OneOf("pending", "paid", "expired", "canceled", "succeeded", "failed", "active", "archived", "draft", "in_transit", "settled"),
            "provider" => Gen.OneOf("sandbox", "stripe", "paypal", "alipay", "wechatpay"),
            "currency" => Gen.OneOf("CNY", "USD"),
            "from" or "to" => Gen.OneOf("CNY", "USD", "EUR", "JPY"),
            "amount" => Gen.Int[1, 100_000].Select(i => i.ToString(CultureInfo.InvariantCulture)),
            "type" => Gen.OneOf("order.paid", "payment.succeeded", "refund.succeeded", "order.created"),
            "external_id" => Gen.Int[0, 1000].Select(ExternalId),
            "active" => Gen.OneOf("true", "false"),
            "created_gte" or "created_lt" => Gen.Int[-400, 400].Select(d => DateTime.UtcNow.AddDays(d).ToString("O", CultureInfo.InvariantCulture)),
            _ => Word,
        };
    }

    Gen<(byte[]? Body, string? ContentType, string Shape)> BodyFor(FuzzOperation op)
    {
        var json = Gen.Frequency((90, Gen.Const("application/json")),
            (10, Gen.OneOf("application/json; charset=utf-8", "Application/JSON", "application/problem+json", "application/json; charset=latin1")));
        var odd = Gen.OneOf("text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream", "json", "*/*");
        var junk = Gen.OneOf("", "{", "}", "null", "[]", "[{}]", "\"text\"", "42", "not json", "{\"a\":", "{'a':1}", "{\"a\":1,}",
            new string('[', 2000) + new string(']', 2000), "{\"x\":\"" + new string('y', 70_000) + "\"}", "\uFEFF{}", "{\"a\":\"\\ud800\"}");
        var junkBody = Gen.Select(junk, Gen.Frequency((3, json), (1, odd))).Select((b, c) => ((byte[]?)Encoding.UTF8.GetBytes(b), (string?)c, "body:junk"));
        var badUtf8 = json.Select(c => ((byte[]?)[(byte)'{', (byte)'"', 0xC3, 0x28, 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}'], (string?)c, "body:invalid utf-8"));

        if (op.BodySchema is null)
            return op.Method == "GET" ? Gen.Const<(byte[]?, string?, string)>((null, null, ""))
                : Gen.Frequency((85, Gen.Const<(byte[]?, string?, string)>((null, null, ""))), (15, junkBody));

        var schema = Resolve(op.BodySchema);
        var valid = ValidObject(schema, op.Path);
        if (Plausible(op) is { } plausible) valid = Gen.Frequency((1, valid), (1, plausible));
        var properties = schema["properties"]?.AsObject().Select(p => p.Key).ToArray() ?? [];
        var required = schema["required"]?.AsArray().Select(r => (string)r!).ToArray() ?? [];
        var bodies = new List<(int, IGen<(byte[]?, string?, string)>)>
        {
            (62, Gen.Select(valid, json).Select((o, c) => (Bytes(o), (string?)c, ""))),
            (8, Gen.Select(valid, json, Word, HostileValue).Select((o, c, name, v) => { o["x_" + name] = v(); return (Bytes(o), (string?)c, "body:extra field"); })),
            (8, junkBody), (2, badUtf8),
            (6, Gen.Select(valid, odd).Select((o, c) => (Bytes(o), (string?)c, "content-type:odd"))),
        };
        if (properties.Length > 0)
            bodies.Add((14, Gen.Select(valid, json, Gen.OneOf(properties), HostileValue)
                .Select((o, c, name, v) => { o[name] = v(); return (Bytes(o), (string?)c, $"body:{name} hostile"); })));
        if (required.Length > 0)
            bodies.Add((6, Gen.Select(valid, json, Gen.OneOf(required))
                .Select((o, c, name) => { o.Remove(name); return (Bytes(o), (string?)c, $"body:{name} missing"); })));
        return Gen.Frequency(bodies.ToArray());

        static byte[]? Bytes(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    static Gen<(IReadOnlyList<(string, string)> Headers, string Shape)> HeadersFor(FuzzOperation op)
    {
        if (!op.Parameters.Any(p => p.In == "header" && p.Name == "Idempotency-Key")) return Gen.Const<(IReadOnlyList<(string, string)>, string)>(([], ""));
        return Gen.Frequency(
            (40, Gen.Const<(IReadOnlyList<(string, string)>, string)>(([], ""))),
            (40, Gen.Guid.Select(g => ((IReadOnlyList<(string, string)>)[("Idempotency-Key", g.ToString("N"))], ""))),
            (12, Gen.Int[0, 7].Select(i => ((IReadOnlyList<(string, string)>)[("Idempotency-Key", "fuzz-shared-" + i.ToString(CultureInfo.InvariantCulture))], "idempotency-key:reused"))),
            (8, Gen.OneOf("", " ", new string('k', 256), new string('k', 5000), "a b", "\"quoted\"", "key;with,separators", "~!@#$%^&*()")
                .Select(k => ((IReadOnlyList<(string, string)>)[("Idempotency-Key", k)], "idempotency-key:odd"))));
    }

    /// <summary>A valid object for the schema: required fields always, optional ones half of the time, values that make sense.</summary>
    Gen<JsonObject> ValidObject(JsonObject schema, string path)
    {
        var required = schema["required"]?.AsArray().Select(r => (string)r!).ToHashSet() ?? [];
        var gen = Gen.Const(0).Select(_ => new JsonObject());
        foreach (var (name, propertySchema) in schema["properties"]?.AsObject() ?? [])
        {
            var value = ValidValue(propertySchema!, name, path);
            var include = required.Contains(name) ? Gen.Const(true) : Gen.Bool;
            gen = gen.SelectMany(o => Gen.Select(include, value).Select((inc, v) =>
            {
                if (inc) o[name] = v();
                return o;
            }));
        }
        return gen;
    }

    /// <summary>
    /// For creates whose fields depend on each other (exactly one customer field, a recurring price, a provider's sign
    /// method), a body that should succeed: the schema alone rarely composes one, and every operation is to reach a 2xx.
    /// </summary>
    Gen<JsonObject>? Plausible(FuzzOperation op) => (op.Method, op.Path) switch
    {
        ("POST", "/v1/orders") => Gen.Select(Gen.Int[0, 1000], Gen.Bool).Select((i, byId) => Customer(new JsonObject
        {
            ["product_id"] = Kept("product"), ["currency"] = "CNY",
        }, i, byId)),
        ("POST", "/v1/subscriptions") => Gen.Select(Gen.Int[0, 1000], Gen.Bool, Gen.Int[0, 3]).Select((i, byId, kind) =>
        {
            var body = Customer(new JsonObject { ["price_id"] = Kept("monthly") }, i, byId);
            if (kind == 0) body["collection_method"] = "send_invoice";
            else { body["provider"] = "sandbox"; body["method"] = kind == 1 ? "qr" : "page"; }
            if (kind == 3) body["test_clock"] = Kept("clock");
            return body;
        }),
        // A one-time price or a monthly one: the schema's independent fields rarely compose a product that validates.
        ("POST", "/v1/products") => Gen.Select(Gen.Int[0, 1000], Gen.Int[1, 100_000], Gen.Bool).Select((i, amount, monthly) =>
        {
            var price = new JsonObject { ["amount"] = amount, ["currency"] = "CNY" };
            if (monthly) price["recurring"] = new JsonObject { ["interval"] = "month" };
            return new JsonObject
            {
                ["creator_id"] = KnownId("cre", i), ["name"] = "Fuzz course " + i.ToString(CultureInfo.InvariantCulture),
                ["kind"] = monthly ? "membership" : "course", ["creator_share_bps"] = 7000, ["prices"] = new JsonArray(price),
            };
        }),
        ("PUT", "/v1/risk/rules") => Gen.Int[1, 1000].Select(n => new JsonObject { ["rules"] = Rules(n) }),
        ("POST", "/v1/risk/backtest") => Gen.Select(Gen.Int[1, 1000], Gen.Int[1, 72]).Select((n, hours) => new JsonObject
        {
            ["rules"] = Rules(n), ["from"] = DateTime.UtcNow.AddHours(-hours).ToString("O", CultureInfo.InvariantCulture),
            ["to"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        }),
        ("PUT", "/v1/risk/lists/{name}") => Gen.Int[0, 255].Array[0, 4].Select(a => new JsonObject
        {
            ["values"] = new JsonArray(a.Select(i => (JsonNode)JsonValue.Create("203.0.113." + i.ToString(CultureInfo.InvariantCulture))).ToArray()),
        }),
        ("PUT", "/v1/fx/rates") => Gen.Int[9_500, 10_500].Select(r => new JsonObject { ["rates"] = FxTable(r / 10_000m) }),
        // Between two adjustment accounts of its own: an operator's correction must not disturb the run's invariants.
        ("POST", "/v1/ledger/journals") => Gen.Int[1, 10_000].Select(n => new JsonObject
        {
            ["description"] = "fuzz correction", ["entries"] = new JsonArray(
                new JsonObject { ["account"] = "adjustment:fuzz_a:CNY", ["currency"] = "CNY", ["amount"] = n },
                new JsonObject { ["account"] = "adjustment:fuzz_b:CNY", ["currency"] = "CNY", ["amount"] = -n }),
        }),
        _ => null,
    };

    /// <summary>Rates between every two of the currencies the quote requests name (CNY per unit × <paramref name="drift"/>).</summary>
    static JsonArray FxTable(decimal drift)
    {
        var cny = new Dictionary<string, decimal> { ["CNY"] = 1m, ["USD"] = 7.1m * drift, ["EUR"] = 7.7m * drift, ["JPY"] = 0.047m * drift };
        var asOf = DateTime.UtcNow.AddMinutes(-5).ToString("O", CultureInfo.InvariantCulture);
        return new JsonArray(cny.SelectMany(a => cny.Where(b => b.Key != a.Key).Select(b => (JsonNode)new JsonObject
        {
            ["base"] = a.Key, ["quote"] = b.Key, ["rate"] = Math.Round(a.Value / b.Value, 6), ["as_of"] = asOf,
        })).ToArray());
    }

    /// <summary>A rule set that parses: the built-in card-testing block and a review no seeded order reaches.</summary>
    static JsonArray Rules(int n) => new(
        new JsonObject { ["id"] = "card_testing", ["rule"] = "block if :failed_attempts_per_ip_10m: >= 30" },
        new JsonObject { ["id"] = "fuzz_large", ["rule"] = $"review if :stage: == 'order' and :amount: >= {1_000_000 + n}" });

    string Kept(string name) => kept.TryGetValue(name, out var id) ? id : name + "_01UNKNOWN";

    JsonObject Customer(JsonObject body, int pick, bool byId)
    {
        if (byId) body["customer_id"] = KnownId("cus", pick);
        else body["customer_external_id"] = ExternalId(pick);
        return body;
    }

    static readonly Func<JsonNode?>[] NullValue = [() => null];

    Gen<Func<JsonNode?>> ValidValue(JsonNode schemaNode, string name, string path)
    {
        var (schema, nullable) = Unwrap(schemaNode);
        var types = Types(schema);
        Gen<Func<JsonNode?>> gen;
        if (schema["enum"] is JsonArray values)
            gen = Gen.OneOf(values.Select(v => (string)v!).ToArray()).Select(s => Text(s));
        else if (types.Contains("object") || schema["properties"] is not null)
            gen = ValidObject(schema, path).Select(o => (Func<JsonNode?>)(() => o.DeepClone()));
        else if (types.Contains("array"))
        {
            var item = schema["items"] is { } items ? ValidValue(items, name, path) : Word.Select(s => Text(s));
            gen = item.Array[1, 3].Select(a => (Func<JsonNode?>)(() => new JsonArray(a.Select(f => f()).ToArray())));
        }
        else if (types.Contains("integer"))
        {
            var (min, max) = name switch
            {
                "creator_share_bps" => (0L, 10_000L), "period_days" => (1L, 400L), "expires_in_seconds" => (60L, 86_400L),
                "amount" => (1L, 20_000L), "minimum_amount" => (0L, 10_000L), "trial_period_days" => (0L, 30L), "progress" => (0L, 100L), _ => (0L, 1000L),
            };
            gen = Gen.Long[min, max].Select(n => (Func<JsonNode?>)(() => JsonValue.Create(n)));
        }
        else if (types.Contains("boolean")) gen = Gen.Bool.Select(b => (Func<JsonNode?>)(() => JsonValue.Create(b)));
        else if (types.Contains("number")) gen = Gen.Int[0, 1000].Select(n => (Func<JsonNode?>)(() => JsonValue.Create(n)));
        else gen = ValidString(name, path).Select(s => Text(s));
        return nullable ? Gen.Frequency((1, Gen.OneOf(NullValue)), (6, gen)) : gen;

        static Func<JsonNode?> Text(string s) => () => JsonValue.Create(s);
    }

    Gen<string> ValidString(string name, string path)
    {
        if (PrefixFor(path, name) is { } prefix && name != "id")
            return Gen.Frequency((9, Gen.Int[0, 1000].Select(i => KnownId(prefix, i))), (1, Gen.Int[0, 1000].Select(i => prefix + "_01NOSUCH" + i.ToString(CultureInfo.InvariantCulture))));
        return name switch
        {
            "currency" => Gen.Frequency((4, Gen.Const("CNY")), (2, Gen.Const("USD")), (1, Gen.OneOf("EUR", "JPY", "cny", "XXX"))),
            "payout_currency" or "settlement_currency" => Gen.Frequency((4, Gen.OneOf("CNY", "USD")), (1, Gen.OneOf("EUR", "JPY", "usd", "XXX"))),
            // Bills are imported from the providers that publish them (Alipay, WeChat Pay, PayPal).
            "provider" when path.StartsWith("/v1/reconciliation", StringComparison.Ordinal) => Gen.Frequency((8, Gen.OneOf("alipay", "wechatpay")), (1, Gen.OneOf("sandbox", "nope"))),
            "provider" => Gen.Frequency((8, Gen.Const("sandbox")), (1, Gen.OneOf("stripe", "paypal", "alipay", "wechatpay", "nope"))),
            "name" when path.StartsWith("/v1/risk/lists", StringComparison.Ordinal) => Gen.OneOf("blocked_ips", "trusted_customers", "Not A Name"),
            "action" when path.StartsWith("/v1/reconciliation", StringComparison.Ordinal) => Gen.OneOf("acknowledge", "acknowledge", "grant", "revoke", "nope"),
            "date" => Gen.Int[-3, 0].Select(d => DateTime.UtcNow.AddHours(8).AddDays(d).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            "method" => Gen.OneOf("qr", "qr", "card", "redirect", "app", "page"),
            "collection_method" => Gen.OneOf("charge_automatically", "send_invoice"),
            "frozen_time" => Gen.Int[1, 48].Select(hours => new DateTime(2028, 2, 1, 0, 0, 0, DateTimeKind.Utc)
                .AddHours(Interlocked.Add(ref clockTicks, hours)).ToString("O", CultureInfo.InvariantCulture)),
            "external_id" => Gen.Int[0, 30].Select(i => "learner-" + i.ToString(CultureInfo.InvariantCulture)),
            "customer_external_id" => Gen.Int[0, 1000].Select(ExternalId),
            "email" => Word.Select(w => w + "@example.com"),
            "url" => Gen.Frequency((3, Word.Select(w => "https://example.com/hooks/" + w)), (1, Gen.OneOf("http://127.0.0.1:9/x", "https://10.0.0.1/x", "ftp://example.com", "not a url"))),
            "return_url" => Word.Select(w => "https://academy.example/return/" + w),
            "event_types" => Gen.OneOf("*", "order.paid", "payment.succeeded", "refund.succeeded", "nope.nope"),
            _ => Gen.Select(Word, Word).Select((a, b) => char.ToUpperInvariant(a[0]) + a[1..] + " " + b),
        };
    }

    JsonObject Resolve(JsonNode schema) => Unwrap(schema).Schema;

    /// <summary>The schema behind a <c>$ref</c> or a <c>oneOf: [null, X]</c>, and whether null is allowed.</summary>
    (JsonObject Schema, bool Nullable) Unwrap(JsonNode node)
    {
        var schema = node.AsObject();
        if (schema["$ref"] is { } reference) return (components[((string)reference!).Split('/')[^1]]!.AsObject(), false);
        if (schema["oneOf"] is JsonArray oneOf && oneOf.Count == 2 && oneOf.FirstOrDefault(s => (string?)s!["type"] == "null") is { } nullType)
            return (Unwrap(oneOf.First(s => s != nullType)!).Schema, true);
        return (schema, Types(schema).Contains("null"));
    }

    static string[] Types(JsonObject schema) => schema["type"] switch
    {
        JsonArray a => a.Select(t => (string)t!).ToArray(),
        JsonValue v => [(string)v!],
        _ => [],
    };

    static string Join(string a, string b) => a.Length == 0 ? b : a + ", " + b;

    // ---------------------------------------------------------------- sending and checking

    /// <summary>Sends <paramref name="count"/> generated requests (CsCheck sampling, several at a time) and checks each answer.</summary>
    /// <param name="serverLog">The server's error log, collected by the host, so that a 5xx is reported with its exception.</param>
    public async Task<FuzzReport> RunAsync(HttpClient merchant, HttpClient anonymous, int count, int threads = 4, string? seed = null,
        ServerErrorLog? serverLog = null)
    {
        var report = new FuzzReport { ServerLog = serverLog };
        await SendAllAsync(Requests, merchant, anonymous, count, threads, seed, report);
        return report;
    }

    /// <summary><paramref name="count"/> more requests of one operation only, checked into <paramref name="report"/>.</summary>
    public Task RunOperationAsync(HttpClient merchant, HttpClient anonymous, string operationId, int count, FuzzReport report) =>
        SendAllAsync(RequestFor(Operations.Single(o => o.Id == operationId)), merchant, anonymous, count, threads: 4, seed: null, report);

    Task SendAllAsync(Gen<FuzzRequest> requests, HttpClient merchant, HttpClient anonymous, int count, int threads, string? seed, FuzzReport report) =>
        requests.SampleAsync(async request => await SendAsync(request.Anonymous ? anonymous : merchant, request, report), iter: count, threads: threads, seed: seed);

    public async Task SendAsync(HttpClient http, FuzzRequest r, FuzzReport report)
    {
        HttpRequestMessage Message()
        {
            var message = new HttpRequestMessage(new HttpMethod(r.Operation.Method), r.Url);
            if (r.Body is not null)
            {
                message.Content = new ByteArrayContent(r.Body);
                if (r.ContentType is not null) message.Content.Headers.TryAddWithoutValidation("Content-Type", r.ContentType);
            }
            foreach (var (name, value) in r.Headers) message.Headers.TryAddWithoutValidation(name, value);
            return message;
        }
        HttpResponseMessage? response = null;
        var sent = DateTimeOffset.UtcNow;
        // A refusal answered before the whole body was read may close the connection under the client's feet: one retry.
        for (var attempt = 1; response is null; attempt++)
        {
            using var message = Message();
            try
            {
                response = await http.SendAsync(message);
            }
            catch (HttpRequestException e) when (e.InnerException is not System.Net.Sockets.SocketException and not IOException)
            {
                report.Refused();   // a header or URL the client itself will not send
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && attempt == 2)
            {
                report.Sent(r.Operation.Id, 0);
                report.Found(true, $"{r.Operation.Id}: no answer ({e.GetType().Name}: {e.Message})", r.ToString());
                report.ServerErrorAt(r, 0, sent, DateTimeOffset.UtcNow);
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            report.Sent(r.Operation.Id, status);
            if (status >= 500) report.ServerErrorAt(r, status, sent, DateTimeOffset.UtcNow);
            if (status is 400 or 414 or 431 && text.Length == 0 && response.Headers.ConnectionClose == true)
            {
                report.RefusedBeforeTheApplication();
                return;
            }
            foreach (var problem in Check(r.Operation, status, response.Content.Headers.ContentType?.MediaType, text))
                report.Found(status >= 500, $"{r.Operation.Id} → {status}: {problem}", $"{r} → {FuzzRequest.Truncate(text, 400)}");
            if (status is >= 200 and < 300 && text.Length > 0 && response.Content.Headers.ContentType?.MediaType == "application/json")
                try { Learn(JsonNode.Parse(text)); } catch (JsonException) { }
        }
    }

    /// <summary>The ways an answer departs from the document (empty when it conforms).</summary>
    public IEnumerable<string> Check(FuzzOperation op, int status, string? mediaType, string body)
    {
        if (status >= 500) { yield return "server error"; yield break; }
        if (!op.Responses.TryGetValue(status, out var documented)) yield return "status not documented";
        if (status >= 400)
        {
            if (mediaType != "application/problem+json") { yield return $"error answer is {mediaType ?? "empty"}, not problem+json"; yield break; }
            string? code = null;
            try { code = JsonNode.Parse(body)?["code"] is JsonValue c && c.TryGetValue<string>(out var s) ? s : null; } catch (JsonException) { }
            if (string.IsNullOrEmpty(code)) yield return "problem without a code";
        }
        if (documented.Schema is null) yield break;
        if (mediaType != documented.MediaType) { yield return $"media type {mediaType ?? "none"}, documented {documented.MediaType}"; yield break; }
        string? error;
        try
        {
            using var json = JsonDocument.Parse(body);
            error = Validate(documented.Schema, json.RootElement);
        }
        catch (JsonException e)
        {
            error = "body is not JSON: " + e.Message;
        }
        if (error is not null) yield return "schema: " + error;
    }

    /// <summary>Validates against a documented schema; null when valid, else the first error with its location.</summary>
    string? Validate(JsonNode schema, JsonElement instance)
    {
        var key = schema.ToJsonString();
        EvaluationResults result;
        lock (schemaLock)
        {
            if (!validators.TryGetValue(key, out var validator))
            {
                var root = new JsonObject { ["$schema"] = "https://json-schema.org/draft/2020-12/schema", ["$defs"] = components.DeepClone() };
                foreach (var (name, value) in JsonNode.Parse(key)!.AsObject()) root[name] = value?.DeepClone();
                var text = root.ToJsonString().Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
                validator = JsonSchema.FromText(text, build, new Uri(schemaBase + validators.Count.ToString(CultureInfo.InvariantCulture)));
                validators.Add(key, validator);
            }
            result = validator.Evaluate(instance, Evaluation);
        }
        if (result.IsValid) return null;
        var detail = result.Details?.FirstOrDefault(d => d.Errors is { Count: > 0 });
        return detail is null ? "invalid" : $"{detail.InstanceLocation} {string.Join("; ", detail.Errors!.Values)} ({detail.EvaluationPath})";
    }

    // ---------------------------------------------------------------- setup and the check after

    /// <summary>
    /// Objects for deep paths: a creator, a product, customers, paid orders (the sandbox buyer pays), a partial refund, a
    /// webhook endpoint; their ids and the events' ids are learned.
    /// </summary>
    public async Task SeedAsync(HttpClient merchant, HttpClient anonymous, int paidOrders = 3)
    {
        async Task<JsonObject> Post(string path, JsonObject body, bool learn = true)
        {
            var response = await merchant.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"seed: POST {path} → {(int)response.StatusCode}: {text}");
            var node = JsonNode.Parse(text)!.AsObject();
            if (learn) Learn(node);
            return node;
        }
        async Task Put(string path, JsonObject body)
        {
            var response = await merchant.PutAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"seed: PUT {path} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        async Task Get(string path)
        {
            var response = await merchant.GetAsync(path);
            if (response.IsSuccessStatusCode) Learn(JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        }

        // The keys that exist now are the run's own; two spare ones are there to be rolled and revoked.
        var keys = JsonNode.Parse(await merchant.GetStringAsync("/v1/api-keys?limit=100"))!;
        foreach (var key in keys["data"]!.AsArray()) ownKeys.TryAdd((string)key!["id"]!, 0);
        for (var i = 0; i < 2; i++) await Post("/v1/api-keys", new JsonObject());
        var creator = await Post("/v1/creators", new JsonObject { ["name"] = "Fuzz Creator", ["email"] = "creator@example.com" });
        var product = await Post("/v1/products", new JsonObject
        {
            ["creator_id"] = (string)creator["id"]!, ["name"] = "Fuzz Course", ["kind"] = "course", ["creator_share_bps"] = 7000,
            ["prices"] = new JsonArray(new JsonObject { ["amount"] = 9900, ["currency"] = "CNY" }, new JsonObject { ["amount"] = 1500, ["currency"] = "USD" }),
        });
        var productId = (string)product["id"]!;
        var column = await Post("/v1/products", new JsonObject
        {
            ["creator_id"] = (string)creator["id"]!, ["name"] = "Fuzz Column", ["kind"] = "column", ["creator_share_bps"] = 7000,
            ["prices"] = new JsonArray(new JsonObject { ["amount"] = 3000, ["currency"] = "CNY", ["recurring"] = new JsonObject { ["interval"] = "month" } }),
        });
        var monthly = (string)column["prices"]![0]!["id"]!;
        // A reconciliation run of today's Alipay bill, so that the run and its items are there to be read.
        var chinaToday = DateTime.UtcNow.AddHours(8).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await Post("/v1/reconciliation/runs", new JsonObject { ["provider"] = "alipay", ["date"] = chinaToday });
        await Post("/v1/test_clocks", new JsonObject { ["frozen_time"] = "2028-01-31T10:00:00Z" });
        // Kept objects: learned by no list, so no fuzzed update archives them or advances the clock out of reach.
        var keptCourse = await Post("/v1/products", new JsonObject
        {
            ["creator_id"] = (string)creator["id"]!, ["name"] = "Fuzz Kept Course", ["kind"] = "course", ["creator_share_bps"] = 7000,
            ["prices"] = new JsonArray(new JsonObject { ["amount"] = 4900, ["currency"] = "CNY" }),
        }, learn: false);
        var keptColumn = await Post("/v1/products", new JsonObject
        {
            ["creator_id"] = (string)creator["id"]!, ["name"] = "Fuzz Kept Column", ["kind"] = "column", ["creator_share_bps"] = 7000,
            ["prices"] = new JsonArray(new JsonObject { ["amount"] = 2000, ["currency"] = "CNY", ["recurring"] = new JsonObject { ["interval"] = "month" } }),
        }, learn: false);
        var keptClock = await Post("/v1/test_clocks", new JsonObject { ["frozen_time"] = "2028-01-01T00:00:00Z" }, learn: false);
        kept["product"] = (string)keptCourse["id"]!;
        kept["product_column"] = (string)keptColumn["id"]!;
        kept["monthly"] = (string)keptColumn["prices"]![0]!["id"]!;
        kept["clock"] = (string)keptClock["id"]!;
        // Subscriptions set to cancel at the period's end: each can be resumed.
        for (var i = 0; i < 6; i++)
        {
            var sub = await Post("/v1/subscriptions", new JsonObject
            {
                ["customer_external_id"] = "learner-resume-" + i.ToString(CultureInfo.InvariantCulture), ["price_id"] = monthly, ["collection_method"] = "send_invoice",
            });
            await Post($"/v1/subscriptions/{(string)sub["id"]!}/cancel", new JsonObject { ["at_period_end"] = true });
        }
        await Post("/v1/subscriptions", new JsonObject { ["customer_external_id"] = "learner-sub", ["price_id"] = monthly, ["provider"] = "sandbox", ["method"] = "page" });
        await Post("/v1/subscriptions", new JsonObject { ["customer_external_id"] = "learner-inv", ["price_id"] = monthly, ["collection_method"] = "send_invoice" });
        var paidPayments = new List<string>();
        for (var i = 0; i < paidOrders; i++)
        {
            var customer = "learner-" + i.ToString(CultureInfo.InvariantCulture);
            await Post("/v1/customers", new JsonObject { ["external_id"] = customer, ["email"] = $"{customer}@example.com" });
            var order = await Post("/v1/orders", new JsonObject { ["customer_external_id"] = customer, ["product_id"] = productId, ["currency"] = "CNY" });
            var orderId = (string)order["id"]!;
            var payment = await Post($"/v1/orders/{orderId}/payments", new JsonObject { ["provider"] = "sandbox", ["method"] = "qr" });
            var paid = await anonymous.PostAsync($"/sandbox/sandboxpay/v1/trades/{(string)payment["id"]!}/pay", null);
            if (!paid.IsSuccessStatusCode) throw new InvalidOperationException($"seed: the sandbox buyer could not pay: {(int)paid.StatusCode}");
            for (var wait = 0; wait < 200; wait++)
            {
                var state = JsonNode.Parse(await merchant.GetStringAsync($"/v1/orders/{orderId}"))!;
                if ((string?)state["status"] == "paid") break;
                await Task.Delay(50);
            }
            if (i == 0) await Post($"/v1/payments/{(string)payment["id"]!}/refunds", new JsonObject { ["amount"] = 100, ["reason"] = "fuzz seed" });
            paidPayments.Add((string)payment["id"]!);
            await Get($"/v1/customers/{customer}/entitlements");
        }
        await SeedRiskFxAndBooksAsync(merchant, anonymous, paidPayments, Post, Put, Get);
        await Post("/v1/orders", new JsonObject { ["customer_external_id"] = "learner-0", ["product_id"] = productId, ["currency"] = "USD" });
        var endpoint = await merchant.PostAsync("/v1/webhook-endpoints", new StringContent(
            new JsonObject { ["url"] = "https://example.com/knowpay", ["event_types"] = new JsonArray("*") }.ToJsonString(), Encoding.UTF8, "application/json"));
        if (endpoint.IsSuccessStatusCode) Learn(JsonNode.Parse(await endpoint.Content.ReadAsStringAsync()));
        await Get("/v1/events?limit=100");
        await Get($"/v1/creators/{(string)creator["id"]!}/statement?limit=100");
        await Get("/v1/payouts");
    }

    /// <summary>
    /// Reviews held by a rule only the seed's price meets, a reconciliation item (a paid trade billed one fen more), a
    /// merchant FX rate, and a closed ledger day two days back: the objects the risk, reconciliation, FX and close
    /// operations act on, so that their valid requests can succeed.
    /// </summary>
    async Task SeedRiskFxAndBooksAsync(HttpClient merchant, HttpClient anonymous, List<string> paidPayments,
        Func<string, JsonObject, bool, Task<JsonObject>> post, Func<string, JsonObject, Task> put, Func<string, Task> get)
    {
        const long HeldPrice = 4242;
        var creator = await post("/v1/creators", new JsonObject { ["name"] = "Fuzz Reviewed Creator", ["email"] = "reviewed@example.com" }, false);
        var held = await post("/v1/products", new JsonObject
        {
            ["creator_id"] = (string)creator["id"]!, ["name"] = "Fuzz Held Course", ["kind"] = "course", ["creator_share_bps"] = 7000,
            ["prices"] = new JsonArray(new JsonObject { ["amount"] = HeldPrice, ["currency"] = "CNY" }),
        }, false);
        await put("/v1/risk/rules", new JsonObject
        {
            ["rules"] = new JsonArray(new JsonObject { ["id"] = "fuzz_held", ["rule"] = $"review if :stage: == 'order' and :amount: == {HeldPrice}" }),
        });
        for (var i = 0; i < 8; i++)
            await post("/v1/orders", new JsonObject
            {
                ["customer_external_id"] = "learner-held-" + i.ToString(CultureInfo.InvariantCulture), ["product_id"] = (string)held["id"]!, ["currency"] = "CNY",
            }, true);
        await get("/v1/reviews?limit=100");
        await put("/v1/risk/lists/blocked_ips", new JsonObject { ["values"] = new JsonArray("203.0.113.250") });
        await put("/v1/fx/rates", new JsonObject { ["rates"] = FxTable(1m) });
        var quote = await merchant.GetAsync("/v1/fx/quote?from=CNY&to=JPY&amount=9900");
        if (!quote.IsSuccessStatusCode) throw new InvalidOperationException($"seed: GET /v1/fx/quote → {(int)quote.StatusCode}: {await quote.Content.ReadAsStringAsync()}");

        if (paidPayments.Count > 1)
        {
            var fault = await anonymous.PostAsync("/sandbox/faults", new StringContent(
                new JsonObject { ["trade"] = paidPayments[1], ["bill_amount_delta"] = 1 }.ToJsonString(), Encoding.UTF8, "application/json"));
            if (!fault.IsSuccessStatusCode) throw new InvalidOperationException($"seed: sandbox fault → {(int)fault.StatusCode}");
            var utcToday = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            var chinaToday = DateTime.UtcNow.AddHours(8).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            var items = 0;
            foreach (var day in new[] { utcToday, chinaToday }.Distinct())
            {
                // The sandbox's day may be a UTC or a China-time day: the one still to come is refused, the other is run.
                var answer = await merchant.PostAsync("/v1/reconciliation/runs", new StringContent(
                    new JsonObject { ["provider"] = "sandbox", ["date"] = day }.ToJsonString(), Encoding.UTF8, "application/json"));
                if (!answer.IsSuccessStatusCode) continue;
                var run = JsonNode.Parse(await answer.Content.ReadAsStringAsync())!;
                var list = JsonNode.Parse(await merchant.GetStringAsync($"/v1/reconciliation/runs/{(string)run["id"]!}/items?limit=100"))!;
                items += list["data"]!.AsArray().Count;
                Learn(list);
            }
            if (items == 0) throw new InvalidOperationException("seed: the sandbox bill's amount fault left no reconciliation item");
            await anonymous.PostAsync("/sandbox/faults", new StringContent(new JsonObject { ["trade"] = paidPayments[1] }.ToJsonString(), Encoding.UTF8, "application/json"));
        }

        var closed = DateTime.UtcNow.AddDays(-2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await post("/v1/ledger/journals", new JsonObject
        {
            ["description"] = "fuzz seed correction", ["date"] = closed, ["entries"] = new JsonArray(
                new JsonObject { ["account"] = "adjustment:fuzz_a:CNY", ["currency"] = "CNY", ["amount"] = 100 },
                new JsonObject { ["account"] = "adjustment:fuzz_b:CNY", ["currency"] = "CNY", ["amount"] = -100 }),
        }, false);
        await post("/v1/ledger/close", new JsonObject { ["date"] = closed }, false);
    }

    /// <summary>Runs the merchant's ledger invariant check and records the outcome in the report.</summary>
    public static async Task CheckInvariantsAsync(HttpClient merchant, FuzzReport report)
    {
        var text = await merchant.GetStringAsync("/v1/ledger/invariants/check");
        report.InvariantsPassed = (bool?)JsonNode.Parse(text)!["passed"] == true;
        report.InvariantReport = text;
    }
}
