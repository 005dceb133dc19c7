using System.Net;
using System.Text.Json.Nodes;
using KnowPay.Features.Audit;
using KnowPay.Infrastructure;
using KnowPay.Tests.Events;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Tests.Security;

/// <summary>The audit trail: who did what, when, from where and with what outcome; append-only, per merchant, without secrets.</summary>
[Collection("server")]
public sealed class AuditLogTests(Servers servers)
{
    const string RefundRoute = "POST /v1/payments/{paymentId}/refunds";

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RefundOfAPaidOrder_IsAudited_WithKeyId_Ip_Status_AndRefundId(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var keyId = await KeyIdAsync(server, m);
        var (orderId, paymentId, _, _) = await m.PaidOrderAsync(9900, customer: "learner-audit");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/payments/{paymentId}/refunds")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { amount = 3000, reason = "requested_by_customer" }),
        };
        request.Headers.UserAgent.ParseAdd("AuditTest/1.0");
        var answer = await m.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, answer.StatusCode);
        var refundId = (string)Json.Parse(await answer.Content.ReadAsStringAsync())["id"]!;

        var refund = Assert.Single(await EventsAsync(m, $"object_id={refundId}"));
        Assert.Equal(RefundRoute, (string?)refund["operation"]);
        Assert.Equal("api_key", (string?)refund["actor_type"]);
        Assert.Equal(keyId, (string?)refund["actor_id"]);
        Assert.Equal("refund", (string?)refund["object_type"]);
        Assert.Equal(201, (int)refund["status"]!);
        Assert.Equal("succeeded", (string?)refund["outcome"]);
        Assert.Equal("127.0.0.1", (string?)refund["ip"]);
        Assert.Equal("AuditTest/1.0", (string?)refund["user_agent"]);
        Assert.False(string.IsNullOrEmpty((string?)refund["request_id"]));
        Assert.StartsWith("aud_", (string?)refund["id"]);
        Assert.InRange(DateTime.Parse((string)refund["occurred_at"]!).ToUniversalTime(), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));

        // The whole trail, newest first: catalog, order, payment, refund. Reads (GET) are not audited.
        var trail = await EventsAsync(m, "limit=100");
        Assert.Equal([RefundRoute, "POST /v1/orders/{orderId}/payments", "POST /v1/orders", "POST /v1/products", "POST /v1/creators"],
            trail.Select(e => (string)e["operation"]!).ToArray());
        var payment = trail.Single(e => (string?)e["operation"] == "POST /v1/orders/{orderId}/payments");
        Assert.Equal(("payment", paymentId), ((string?)payment["object_type"], (string?)payment["object_id"]));
        var order = trail.Single(e => (string?)e["operation"] == "POST /v1/orders");
        Assert.Equal(("order", orderId), ((string?)order["object_type"], (string?)order["object_id"]));

        // Filters: by actor, operation, time window; paging with the cursor.
        Assert.Equal(5, (await EventsAsync(m, $"actor_id={keyId}&limit=100")).Count);
        Assert.Empty(await EventsAsync(m, "actor_id=key_someone_else"));
        Assert.Single(await EventsAsync(m, "operation=" + Uri.EscapeDataString(RefundRoute)));
        Assert.Equal(5, (await EventsAsync(m, $"since={DateTime.UtcNow.AddMinutes(-5):yyyy-MM-ddTHH:mm:ssZ}&limit=100")).Count);
        Assert.Empty(await EventsAsync(m, $"until={DateTime.UtcNow.AddMinutes(-5):yyyy-MM-ddTHH:mm:ssZ}"));
        var first = await m.GetOkAsync("/v1/audit-events?limit=2");
        Assert.True((bool)first["has_more"]!);
        var next = await m.GetOkAsync($"/v1/audit-events?limit=10&starting_after={first["next_cursor"]}");
        Assert.Equal(3, next["data"]!.AsArray().Count);
        var badSince = await m.Http.GetAsync("/v1/audit-events?since=yesterday");
        Assert.Equal(HttpStatusCode.BadRequest, badSince.StatusCode);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task FailedCall_IsAudited_WithItsStatus(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var bad = await m.PostAsync("/v1/orders", new { customer_external_id = "learner-x", currency = "CNY" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var missing = await m.PostAsync("/v1/payments/pay_doesnotexist/refunds", new { amount = 1 });
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        var events = await EventsAsync(m);
        var refused = events.Single(e => (string?)e["operation"] == "POST /v1/orders");
        Assert.Equal(400, (int)refused["status"]!);
        Assert.Equal("failed", (string?)refused["outcome"]);
        Assert.Null((string?)refused["object_id"]);
        var notFound = events.Single(e => (string?)e["operation"] == RefundRoute);
        Assert.Equal(404, (int)notFound["status"]!);
        Assert.Equal(("payment", "pay_doesnotexist"), ((string?)notFound["object_type"], (string?)notFound["object_id"]));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AuditEvents_CannotBeUpdatedOrDeleted_ByTheDatabase(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        await m.PostOkAsync("/v1/creators", new { name = "Audited" });
        Assert.Single(await EventsAsync(m));

        await Assert.ThrowsAnyAsync<Exception>(() => server.QueryAsync(d =>
            d.Database.ExecuteSqlRawAsync("UPDATE audit_events SET outcome = 'succeeded', status = 200 WHERE merchant_id = {0}", m.MerchantId)));
        await Assert.ThrowsAnyAsync<Exception>(() => server.QueryAsync(d =>
            d.Database.ExecuteSqlRawAsync("DELETE FROM audit_events WHERE merchant_id = {0}", m.MerchantId)));
        if (db == Db.Postgres)
            await Assert.ThrowsAnyAsync<Exception>(() => server.QueryAsync(d => d.Database.ExecuteSqlRawAsync("TRUNCATE audit_events")));
        Assert.Equal(1, await server.QueryAsync(d => d.AuditEvents.CountAsync(e => e.MerchantId == m.MerchantId)));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AnotherMerchant_SeesNoneOfTheEvents_AndTheScopeIsNeeded(Db db)
    {
        var server = await servers.Get(db);
        var owner = await server.NewMerchantAsync();
        var creator = await owner.PostOkAsync("/v1/creators", new { name = "Mine" });
        Assert.Single(await EventsAsync(owner, $"object_id={creator["id"]}"));

        var other = await server.NewMerchantAsync();
        Assert.Empty(await EventsAsync(other));
        Assert.Empty(await EventsAsync(other, $"object_id={creator["id"]}"));

        var withoutScope = await server.NewMerchantAsync("orders:read orders:write");
        Assert.Equal(HttpStatusCode.Forbidden, (await withoutScope.Http.GetAsync("/v1/audit-events")).StatusCode);
        var auditor = await server.NewMerchantAsync("audit:read");
        Assert.Equal(HttpStatusCode.OK, (await auditor.Http.GetAsync("/v1/audit-events")).StatusCode);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task NoSecret_IsInAnyAuditRow_AfterCreatingAndRotatingAWebhookEndpoint(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        var endpointId = await m.RegisterAsync(receiver, "refund.succeeded");
        var rotated = await m.PostOkAsync($"/v1/webhook-endpoints/{endpointId}/rotate-secret?secret={receiver.Secret}", new { });
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(server.BaseUrl) };
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync("/dashboard/login", Form(m.Secret))).StatusCode);

        var events = await EventsAsync(m);
        Assert.Equal([("dashboard.login", "dashboard", 302), ("POST /v1/webhook-endpoints/{id}/rotate-secret", "api_key", 200), ("POST /v1/webhook-endpoints", "api_key", 201)],
            events.Select(e => ((string)e["operation"]!, (string)e["actor_type"]!, (int)e["status"]!)).ToArray());
        Assert.All(events.Skip(1), e => Assert.Equal(endpointId, (string?)e["object_id"]));

        var secrets = new[] { m.Secret, m.Secret[..12], receiver.Secret!, (string)rotated["secret"]! };
        var rows = await server.QueryAsync(d => d.AuditEvents.AsNoTracking().ToListAsync());
        var everything = string.Join("\n", rows.Select(r => System.Text.Json.JsonSerializer.Serialize(r)));
        Assert.All(secrets, s => Assert.DoesNotContain(s, everything));
    }

    [SkippableFact]
    public async Task DashboardLogins_AreAudited_SuccessAndFailure()
    {
        var server = await servers.Get(Db.Sqlite);
        var m = await server.NewMerchantAsync();
        var narrow = await server.NewMerchantAsync("catalog:read");
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(server.BaseUrl) };
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.PostAsync("/dashboard/login", Form(narrow.Secret))).StatusCode);
        var login = await browser.PostAsync("/dashboard/login", Form(m.Secret));
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        using var logout = new HttpRequestMessage(HttpMethod.Post, "/dashboard/logout");
        logout.Headers.Add("Cookie", login.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0]));
        Assert.Equal(HttpStatusCode.Redirect, (await browser.SendAsync(logout)).StatusCode);

        var keyId = await KeyIdAsync(server, m);
        Assert.Equal([("dashboard.logout", 302, "succeeded"), ("dashboard.login", 302, "succeeded")],
            (await EventsAsync(m)).Select(e => ((string)e["operation"]!, (int)e["status"]!, (string)e["outcome"]!)).ToArray());
        Assert.All(await EventsAsync(m), e => Assert.Equal(("dashboard", keyId), ((string?)e["actor_type"], (string?)e["actor_id"])));
        var refused = Assert.Single(await server.QueryAsync(d => d.AuditEvents.AsNoTracking().Where(e => e.MerchantId == narrow.MerchantId).ToListAsync()));
        Assert.Equal(("dashboard.login", 401, AuditEvent.Failed), (refused.Operation, refused.Status, refused.Outcome));
    }

    [SkippableFact]
    public async Task AdminCommand_IsAudited_AsCli()
    {
        var file = Path.Combine(Path.GetTempPath(), "knowpay-audit-cli-" + Guid.NewGuid().ToString("N")[..12] + ".db");
        var output = new StringWriter();
        var original = Console.Out;
        Console.SetOut(output);
        try
        {
            Assert.True(await AdminCli.TryRunAsync(["merchants", "create", "CLI Academy", "catalog:read",
                "--environment=Testing", "--Database:Provider=sqlite", $"--ConnectionStrings:KnowPay=Data Source={file}", "--urls=http://127.0.0.1:0",
                "--Demo:Seed=false", "--Sandbox:Enabled=false", "--Logging:LogLevel:Default=Warning"]));
        }
        finally { Console.SetOut(original); }
        var merchantId = output.ToString().Split('\n').Single(l => l.StartsWith("merchant: ", StringComparison.Ordinal))["merchant: ".Length..].Trim();

        await using var server = await KnowPayServer.StartAsync(Db.Sqlite, new Dictionary<string, string?> { ["ConnectionStrings:KnowPay"] = $"Data Source={file}" });
        var row = Assert.Single(await server.QueryAsync(d => d.AuditEvents.AsNoTracking().Where(e => e.MerchantId == merchantId).ToListAsync()));
        Assert.Equal((AuditEvent.CliActor, "cli merchants create", "api_key", AuditEvent.Succeeded), (row.ActorType, row.Operation, row.ObjectType, row.Outcome));
        Assert.StartsWith("cli:", row.ActorId);
        Assert.DoesNotContain("sk_test_", System.Text.Json.JsonSerializer.Serialize(row));
    }

    static FormUrlEncodedContent Form(string secret) => new([new("api_key", secret)]);

    static async Task<string> KeyIdAsync(KnowPayServer server, MerchantClient m) =>
        await server.QueryAsync(d => d.ApiKeys.Where(k => k.MerchantId == m.MerchantId).Select(k => k.Id).SingleAsync());

    static async Task<List<JsonObject>> EventsAsync(MerchantClient m, string query = "")
    {
        var page = await m.GetOkAsync("/v1/audit-events?" + query);
        return page["data"]!.AsArray().Select(e => e!.AsObject()).ToList();
    }
}
