using System.Net;
using KnowPay.Infrastructure;
using KnowPay.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace KnowPay.Tests.Security;

/// <summary>Two nodes on one database: a key revoked and a dashboard signed out on one node are refused by the other too —
/// the key within <see cref="ApiKeyCache.Lifetime"/>, the session at once.</summary>
public sealed class TwoNodeRevocationTests
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RevokeAndLogoutOnOneNode_AreRefusedOnTheOther(Db db)
    {
        var keys = Path.Combine(Path.GetTempPath(), "knowpay-keys-" + Guid.NewGuid().ToString("N")[..12]);
        await using var a = await KnowPayServer.StartAsync(db, new Dictionary<string, string?> { ["DataProtection:KeysPath"] = keys });
        await using var b = await KnowPayServer.StartAsync(db, new Dictionary<string, string?>
        {
            ["DataProtection:KeysPath"] = keys, ["ConnectionStrings:KnowPay"] = a.App.Configuration["ConnectionStrings:KnowPay"],
        });
        var m = await a.NewMerchantAsync();
        var spare = await m.PostOkAsync("/v1/api-keys", new { });
        using var onB = ApiKeyLifecycleTests.Client(b, (string)spare["secret"]!);
        Assert.Equal(HttpStatusCode.OK, (await onB.GetAsync("/v1/orders")).StatusCode);   // cached on node b

        using var browserA = DashboardLogoutTests.Browser(a);
        using var browserB = DashboardLogoutTests.Browser(b);
        var cookie = await DashboardLogoutTests.SignInAsync(browserA, m.Secret);
        Assert.Equal(HttpStatusCode.OK, (await DashboardLogoutTests.SendAsync(browserB, HttpMethod.Get, "/dashboard/snapshot", cookie)).StatusCode);
        await DashboardLogoutTests.SendAsync(browserA, HttpMethod.Post, "/dashboard/logout", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, (await DashboardLogoutTests.SendAsync(browserB, HttpMethod.Get, "/dashboard/snapshot", cookie)).StatusCode);

        await m.PostOkAsync($"/v1/api-keys/{spare["id"]}/revoke", new { });
        var revokedAt = DateTime.UtcNow;
        HttpStatusCode status;
        do
        {
            status = (await onB.GetAsync("/v1/orders")).StatusCode;
            if (status == HttpStatusCode.OK) await Task.Delay(200);
        } while (status == HttpStatusCode.OK && DateTime.UtcNow - revokedAt < ApiKeyCache.Lifetime + TimeSpan.FromSeconds(2));
        await ApiKeyLifecycleTests.ExpectProblem(await onB.GetAsync("/v1/orders"), HttpStatusCode.Unauthorized, "api_key_revoked");
        Assert.True(DateTime.UtcNow - revokedAt < ApiKeyCache.Lifetime + TimeSpan.FromSeconds(2));
    }
}
