using System.Diagnostics;
using System.Text.Json.Nodes;
using KnowPay.Infrastructure;
using KnowPay.Tests.Infrastructure;
using Xunit.Abstractions;

namespace KnowPay.Tests.Api;

/// <summary>
/// The served <c>/openapi/v1.json</c> is a contract a generated client can use unedited: checked structurally, and by
/// generating a Kiota client from it, compiling it and running the README's flow with it.
/// </summary>
[Collection("server")]
public sealed class OpenApiContractTests(ITestOutputHelper output)
{
    static readonly string[] ResourceTags =
        ["Orders", "Payments", "Refunds", "Products", "Customers", "Creators", "Entitlements", "Events", "Webhook endpoints", "API keys", "Ledger", "Payouts", "Audit events", "Notifications",
         "Subscriptions", "Invoices", "Mandates", "Test clocks", "Reconciliation", "Risk", "Reviews", "FX"];

    [SkippableFact]
    public async Task Document_EveryOperation_HasIdTagProblemsExamplesAndPostsTakeAnIdempotencyKey()
    {
        await using var server = (await KnowPayServer.StartAsync(Db.Sqlite, new Dictionary<string, string?> { ["KnowPay:PublicUrl"] = "https://pay.academy.example/" }))!;
        using var http = new HttpClient { BaseAddress = new Uri(server.App.Urls.First()) };
        var doc = Json.Parse(await http.GetStringAsync("/openapi/v1.json"));

        Assert.Equal("https://pay.academy.example", (string?)doc["servers"]![0]!["url"]);
        Assert.Equal("http", (string?)doc["components"]!["securitySchemes"]!["bearer"]!["type"]);
        Assert.Equal("bearer", (string?)doc["components"]!["securitySchemes"]!["bearer"]!["scheme"]);
        Assert.NotNull(doc["security"]![0]!["bearer"]);
        var intro = (string)doc["info"]!["description"]!;
        foreach (var topic in new[] { "## Authentication", "## Idempotency", "## Errors", "## Pagination", "## Webhooks", "KnowPay-Signature" })
            Assert.Contains(topic, intro);

        var problem = doc["components"]!["schemas"]!["Problem"]!;
        Assert.NotNull(problem["properties"]!["code"]);
        Assert.NotNull(problem["properties"]!["errors"]);

        var ids = new HashSet<string>();
        var operations = 0;
        foreach (var (path, item) in doc["paths"]!.AsObject())
        foreach (var (method, op) in item!.AsObject())
        {
            operations++;
            var where = $"{method.ToUpperInvariant()} {path}";
            var id = (string?)op!["operationId"];
            Assert.False(string.IsNullOrEmpty(id), $"{where}: no operationId");
            Assert.Matches("^[a-z][A-Za-z]+$", id);
            Assert.True(ids.Add(id!), $"{where}: operationId {id} twice");
            var tags = op["tags"]!.AsArray().Select(t => (string)t!).ToList();
            Assert.True(tags.Count == 1 && ResourceTags.Contains(tags[0]), $"{where}: tags {string.Join(",", tags)}");

            var responses = op["responses"]!.AsObject();
            foreach (var status in new[] { "400", "401", "403", "429" })
                Assert.True(responses[status]?["content"]?["application/problem+json"]?["schema"]?["$ref"] is not null, $"{where}: no {status} problem");
            var success = responses.Where(r => r.Key.StartsWith('2')).Select(r => r.Value).ToList();
            Assert.NotEmpty(success);
            foreach (var r in success)
                if (r!["content"]?["application/json"] is { } json) Assert.True(json["example"] is not null, $"{where}: no response example");

            if (method == "post")
            {
                foreach (var status in new[] { "409", "413", "415", "422" }) Assert.True(responses[status] is not null, $"{where}: no {status}");
                var key = op["parameters"]?.AsArray().SingleOrDefault(p => (string?)p!["name"] == OpenApiContract.IdempotencyKeyHeader);
                Assert.True(key is not null, $"{where}: no Idempotency-Key parameter");
                Assert.Equal("header", (string?)key["in"]);
                Assert.NotEqual(true, (bool?)key["required"]);
                if (op["requestBody"]?["content"]?["application/json"] is { } body) Assert.True(body["example"] is not null, $"{where}: no request example");
            }
            if (path.Contains('{')) Assert.True(responses["404"] is not null, $"{where}: no 404");
        }
        output.WriteLine($"{operations} operations, tags: {string.Join(", ", doc["tags"]!.AsArray().Select(t => (string?)t!["name"]))}");
        Assert.Contains("createOrder", ids);
        Assert.Contains("getOrder", ids);
        Assert.Contains("listOrders", ids);
        Assert.Contains("createRefund", ids);
        Assert.Contains("createWebhookEndpoint", ids);

        foreach (var (name, schema) in doc["components"]!["schemas"]!.AsObject()) AssertClientFriendly(name, schema!);
        foreach (var (_, item) in doc["paths"]!.AsObject())
        foreach (var (_, op) in item!.AsObject())
        foreach (var parameter in op!["parameters"]?.AsArray() ?? [])
            AssertClientFriendly((string)parameter!["name"]!, parameter["schema"]!);

        // Fields an answer leaves out while they have no value, including in types first met nested in another.
        foreach (var (schema, property) in new[] { ("OrderView", "paid_at"), ("OrderView", "payment"), ("PaymentView", "succeeded_at"),
                     ("PaymentView", "provider_trade_no"), ("PaymentView", "next_action"), ("NextActionQrCodeNextAction", "redirect_url"), ("WebhookEndpointView", "secret") })
            Assert.DoesNotContain(property, doc["components"]!["schemas"]![schema]!["required"]!.AsArray().Select(r => (string?)r));
        var refund = doc["components"]!["schemas"]!["CreateRefundRequest"]!;
        Assert.Null(refund["required"]);
        Assert.Equal(["product_id", "currency"], doc["components"]!["schemas"]!["CreateOrderRequest"]!["required"]!.AsArray().Select(r => (string)r!));
        Assert.Equal("integer", (string?)doc["components"]!["schemas"]!["PriceInput"]!["properties"]!["amount"]!["type"]);
    }

    /// <summary>No required property may be null (answers omit nulls), enums are strings, integers are not also strings, amounts are int64.</summary>
    static void AssertClientFriendly(string name, JsonNode schema)
    {
        if (schema["enum"] is not null) Assert.True((string?)schema["type"] == "string", $"{name}: enum without type string");
        var types = schema["type"] switch { JsonArray a => a.Select(t => (string)t!).ToList(), JsonValue v => [(string)v!], _ => [] };
        Assert.False(types.Contains("integer") && types.Contains("string"), $"{name}: integer | string");
        if (name.EndsWith("amount", StringComparison.Ordinal))
            Assert.True(types.Where(t => t != "null").SequenceEqual(["integer"]) && (string?)schema["format"] == "int64", $"{name}: not an int64 amount in minor units");
        var required = schema["required"]?.AsArray().Select(r => (string)r!).ToHashSet() ?? [];
        foreach (var (property, propertySchema) in schema["properties"]?.AsObject() ?? [])
        {
            var nullable = propertySchema!["type"] is JsonArray t && t.Any(x => (string?)x == "null")
                           || propertySchema["oneOf"]?.AsArray().Any(o => (string?)o!["type"] == "null") == true;
            Assert.False(required.Contains(property) && nullable, $"{name}.{property}: required but nullable");
            AssertClientFriendly($"{name}.{property}", propertySchema);
        }
        if (schema["items"] is { } items) AssertClientFriendly(name + "[]", items);
    }

    [SkippableFact]
    public async Task GeneratedKiotaClient_RunsTheReadmeFlow_Unedited()
    {
        var root = RepoRoot();
        await using var server = (await KnowPayServer.StartAsync(Db.Sqlite, new Dictionary<string, string?> { ["Demo:Seed"] = "true" }))!;
        var work = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "knowpay-client-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        try
        {
            foreach (var file in Directory.GetFiles(Path.Combine(root, "tests", "KnowPay.ContractClient")))
                File.Copy(file, Path.Combine(work, Path.GetFileName(file)));
            var document = Path.Combine(work, "openapi.json");
            await File.WriteAllTextAsync(document, await server.Anonymous.GetStringAsync("/openapi/v1.json"));

            var clock = Stopwatch.StartNew();
            await RunAsync(root, "dotnet", ["tool", "restore"]);
            string[] generate = ["kiota", "generate", "-l", "CSharp", "-d", document, "-o", Path.Combine(work, "Client"),
                "-c", "KnowPayClient", "-n", "KnowPay.Client", "--exclude-backward-compatible", "--log-level", "Warning"];
            // Kiota gives its own regexes a time limit that a loaded machine can exceed: that failure alone is retried once.
            try { await RunAsync(root, "dotnet", generate); }
            catch (Xunit.Sdk.XunitException e) when (e.Message.Contains("Regex engine has timed out", StringComparison.Ordinal))
            {
                await RunAsync(root, "dotnet", generate);
            }
            output.WriteLine($"generated in {clock.Elapsed.TotalSeconds:F1} s");
            await RunAsync(work, "dotnet", ["build", "--disable-build-servers", "-nologo", "-v", "q", "-p:UseSharedCompilation=false", "-nodeReuse:false"]);
            output.WriteLine($"built in {clock.Elapsed.TotalSeconds:F1} s");
            var flow = await RunAsync(work, "dotnet",
                [Path.Combine(work, "bin", "Debug", "net10.0", "KnowPay.ContractClient.dll"), server.BaseUrl, DemoSeed.DefaultApiKey, "prod_demo_course"]);
            output.WriteLine($"flow ran in {clock.Elapsed.TotalSeconds:F1} s");
            Assert.Contains("flow ok", flow);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Runs a command to completion (5 minutes at most) and returns its output; a non-zero exit fails the test with it.</summary>
    async Task<string> RunAsync(string directory, string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        // The test host's MSBuild variables would point a child build at the test run's SDK state.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "MSBUILD_EXE_PATH").ToList())
            start.Environment.Remove(name);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["KIOTA_OFFLINE_ENABLED"] = "true";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var text = await stdout + await stderr;
        output.WriteLine($"$ {file} {string.Join(' ', arguments)}\n{text}");
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited {process.ExitCode}:\n{text}");
        return text;
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "KnowPay.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
