using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using KnowPay.Features.Webhooks;
using KnowPay.Infrastructure;
using KnowPay.Tests.Events;
using KnowPay.Tests.Infrastructure;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace KnowPay.Tests.Security;

/// <summary>
/// Secrets are encrypted at rest under the master key: webhook secrets appear nowhere in a dump of the database, Data
/// Protection key files hold no plaintext key, a rotated master key still opens what it sealed and everything is
/// re-sealed under the new one, and a wrong master key stops the start with a message naming the setting.
/// </summary>
[Collection("server")]
public sealed class SecretsAtRestTests : IDisposable
{
    readonly string keysDirectory = Path.Combine(Path.GetTempPath(), "knowpay-keys-" + Guid.NewGuid().ToString("N")[..12]);

    static string NewMasterKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    Task<KnowPayServer> ServerAsync(Db db, string masterKey, string? connection = null, params string[] previousKeys)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Secrets:MasterKey"] = masterKey,
            ["DataProtection:KeysPath"] = keysDirectory,
            ["Webhooks:DispatcherEnabled"] = "false",
        };
        if (connection is not null) settings["ConnectionStrings:KnowPay"] = connection;
        for (var i = 0; i < previousKeys.Length; i++) settings[$"Secrets:PreviousMasterKeys:{i}"] = previousKeys[i];
        return KnowPayServer.StartAsync(db, settings);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WebhookSecrets_AppearNowhereInADumpOfTheDatabase_AndDeliveriesStillVerify(Db db)
    {
        var masterKey = NewMasterKey();
        await using var server = await ServerAsync(db, masterKey);
        var m = await server.NewMerchantAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        var endpointId = await m.RegisterAsync(receiver, "order.paid");
        var first = receiver.Secret!;
        var rotated = (string)(await m.PostOkAsync($"/v1/webhook-endpoints/{endpointId}/rotate-secret", new { }))["secret"]!;
        receiver.Secret = rotated;

        await m.PaidOrderAsync();
        Assert.Equal(1, await server.Services.GetRequiredService<WebhookDispatcher>().RunOnceAsync(DateTime.UtcNow, default));
        Assert.True(receiver.Received.Single().SignatureValid);

        var row = await server.QueryAsync(d => d.WebhookEndpoints.AsNoTracking().SingleAsync(e => e.Id == endpointId));
        var keyId = SecretBox.KeyId(Convert.FromBase64String(masterKey));
        Assert.StartsWith($"v1:{keyId}:", row.Secret);
        Assert.StartsWith($"v1:{keyId}:", row.PreviousSecret);
        var dump = await DumpAsync(server);
        Assert.Contains(row.Secret, dump, StringComparison.Ordinal);   // the dump does hold the rows
        foreach (var secret in new[] { first, rotated })
        {
            Assert.DoesNotContain(secret, dump, StringComparison.Ordinal);
            Assert.DoesNotContain(secret["whsec_".Length..], dump, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task PlaintextSecretsAndKeyFiles_FromBefore_AreSealedAtStart_AndStillWork()
    {
        // A Data Protection key ring written unencrypted, as KnowPay wrote it before, with a payload protected under it.
        var legacy = DataProtectionProvider.Create(new DirectoryInfo(keysDirectory), b => b.SetApplicationName("KnowPay"));
        var payload = legacy.CreateProtector("KnowPay.Tests").Protect("a dashboard session");
        Assert.Contains(KeyFiles(), f => f.Contains("<masterKey", StringComparison.Ordinal));

        var masterKey = NewMasterKey();
        string connection, endpointId, plaintextSecret = WebhookEndpoints.NewSecret();
        await using (var before = await ServerAsync(Db.Sqlite, masterKey))
        {
            connection = before.App.Configuration.GetConnectionString("KnowPay")!;
            var m = await before.NewMerchantAsync();
            await using var receiver = await WebhookReceiver.StartAsync();
            endpointId = await m.RegisterAsync(receiver, "order.paid");
            // As an earlier version stored it: in plaintext.
            await before.QueryAsync(d => d.WebhookEndpoints.Where(e => e.Id == endpointId).ExecuteUpdateAsync(s => s.SetProperty(e => e.Secret, plaintextSecret)));
            // Read as it is until the next start seals it: deliveries keep verifying.
            receiver.Secret = plaintextSecret;
            await m.PaidOrderAsync();
            Assert.Equal(1, await before.Services.GetRequiredService<WebhookDispatcher>().RunOnceAsync(DateTime.UtcNow, default));
            Assert.True(receiver.Received.Single().SignatureValid);
        }
        AssertNoPlaintextKey();

        await using var server = await ServerAsync(Db.Sqlite, masterKey, connection);
        var row = await server.QueryAsync(d => d.WebhookEndpoints.AsNoTracking().SingleAsync(e => e.Id == endpointId));
        Assert.True(SecretBox.IsSealed(row.Secret));
        Assert.Equal(plaintextSecret, server.Services.GetRequiredService<SecretBox>().Open(row.Secret));
        Assert.Equal("a dashboard session", server.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("KnowPay.Tests").Unprotect(payload));
        Assert.StartsWith("v1:", File.ReadAllText(Path.Combine(keysDirectory, "checkout-signing-key.txt")), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task NewDataProtectionKeys_AreWrittenSealed()
    {
        await using var server = await ServerAsync(Db.Sqlite, NewMasterKey());
        var protector = server.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("KnowPay.Tests");
        Assert.Equal("x", protector.Unprotect(protector.Protect("x")));
        Assert.NotEmpty(KeyFiles());
        AssertNoPlaintextKey();
    }

    [SkippableFact]
    public async Task AfterARotation_TheOldKeyListedAsPrevious_OpensOldSecrets_AndEverythingIsResealedUnderTheNewKey()
    {
        string oldKey = NewMasterKey(), newKey = NewMasterKey();
        string connection, endpointId, firstSecret, secondSecret, payload;
        await using var receiver = await WebhookReceiver.StartAsync();
        MerchantClient m;
        await using (var before = await ServerAsync(Db.Sqlite, oldKey))
        {
            connection = before.App.Configuration.GetConnectionString("KnowPay")!;
            m = await before.NewMerchantAsync();
            endpointId = await m.RegisterAsync(receiver, "order.paid");
            firstSecret = receiver.Secret!;
            secondSecret = (string)(await m.PostOkAsync($"/v1/webhook-endpoints/{endpointId}/rotate-secret", new { }))["secret"]!;
            payload = before.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("KnowPay.Tests").Protect("a dashboard session");
        }
        var oldId = SecretBox.KeyId(Convert.FromBase64String(oldKey));
        var newId = SecretBox.KeyId(Convert.FromBase64String(newKey));
        Assert.StartsWith($"v1:{oldId}:", File.ReadAllText(Path.Combine(keysDirectory, "checkout-signing-key.txt")), StringComparison.Ordinal);

        await using (var rotated = await ServerAsync(Db.Sqlite, newKey, connection, oldKey))
        {
            var row = await rotated.QueryAsync(d => d.WebhookEndpoints.AsNoTracking().SingleAsync(e => e.Id == endpointId));
            Assert.StartsWith($"v1:{newId}:", row.Secret);
            Assert.StartsWith($"v1:{newId}:", row.PreviousSecret);
            var box = rotated.Services.GetRequiredService<SecretBox>();
            Assert.Equal((secondSecret, firstSecret), (box.Open(row.Secret), box.Open(row.PreviousSecret!)));
            Assert.StartsWith($"v1:{newId}:", File.ReadAllText(Path.Combine(keysDirectory, "checkout-signing-key.txt")), StringComparison.Ordinal);
            Assert.NotEmpty(KeyFiles());
            Assert.All(KeyFiles(), f => Assert.Contains($"v1:{newId}:", f, StringComparison.Ordinal));
            Assert.All(KeyFiles(), f => Assert.DoesNotContain($"v1:{oldId}:", f, StringComparison.Ordinal));
        }

        // Everything is under the new key now: a node starts without the old one, opens the old session and signs with both secrets.
        await using var server = await ServerAsync(Db.Sqlite, newKey, connection);
        Assert.Equal("a dashboard session", server.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("KnowPay.Tests").Unprotect(payload));
        var owner = m with { Http = new HttpClient { BaseAddress = new Uri(server.BaseUrl) }, Server = server };
        owner.Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", m.Secret);
        await owner.PaidOrderAsync();
        receiver.Secret = secondSecret;
        Assert.Equal(1, await server.Services.GetRequiredService<WebhookDispatcher>().RunOnceAsync(DateTime.UtcNow, default));
        Assert.True(receiver.Received.Last().SignatureValid, "a delivery verifies with the current secret");
        receiver.Secret = firstSecret;
        var eventId = (string)(await owner.GetOkAsync("/v1/events?type=order.paid"))["data"]![0]!["id"]!;
        await owner.PostOkAsync($"/v1/events/{eventId}/redeliver", new { });
        Assert.Equal(1, await server.Services.GetRequiredService<WebhookDispatcher>().RunOnceAsync(DateTime.UtcNow, default));
        Assert.True(receiver.Received.Last().SignatureValid, "a delivery verifies with the previous secret during the overlap");
    }

    [SkippableFact]
    public async Task AWrongMasterKey_StopsTheStart_NamingTheSetting()
    {
        string connection;
        await using (var before = await ServerAsync(Db.Sqlite, NewMasterKey()))
        {
            connection = before.App.Configuration.GetConnectionString("KnowPay")!;
            var m = await before.NewMerchantAsync();
            await using var receiver = await WebhookReceiver.StartAsync();
            await m.RegisterAsync(receiver);
            before.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("KnowPay.Tests").Protect("x");
        }
        var keyFiles = await Record.ExceptionAsync(() => ServerAsync(Db.Sqlite, NewMasterKey(), connection));
        Assert.NotNull(keyFiles);
        Assert.Contains("Secrets:MasterKey", Messages(keyFiles), StringComparison.Ordinal);
        Assert.Contains("Secrets:PreviousMasterKeys", Messages(keyFiles), StringComparison.Ordinal);

        // The database alone (a fresh key directory) is checked too.
        Directory.Delete(keysDirectory, recursive: true);
        var rows = await Record.ExceptionAsync(() => ServerAsync(Db.Sqlite, NewMasterKey(), connection));
        Assert.NotNull(rows);
        Assert.Contains("webhook endpoint secret", Messages(rows), StringComparison.Ordinal);
        Assert.Contains("Secrets:MasterKey", Messages(rows), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task AMalformedMasterKey_StopsTheStart_NamingTheSetting()
    {
        var failure = await Record.ExceptionAsync(() => ServerAsync(Db.Sqlite, "bm90IDMyIGJ5dGVz"));
        Assert.NotNull(failure);
        Assert.Contains("Secrets:MasterKey must be the base64 of 32 random bytes", Messages(failure), StringComparison.Ordinal);
    }

    [Fact]
    public void Production_WithoutAMasterKey_RefusesToStart()
    {
        var failure = Record.Exception(() => KnowPayApp.Build(["--environment=Production"], b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Database:Provider"] = "sqlite",
            ["ConnectionStrings:KnowPay"] = $"Data Source={Path.Combine(Path.GetTempPath(), "knowpay-prod-" + Guid.NewGuid().ToString("N")[..12] + ".db")}",
            ["DataProtection:KeysPath"] = keysDirectory,
        })));
        Assert.NotNull(failure);
        Assert.Contains("Secrets:MasterKey (or Secrets:MasterKeyFile) must be set in Production", Messages(failure), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(keysDirectory, SecretBox.GeneratedKeyFile)));
    }

    [Fact]
    public void AMasterKeyFile_IsRead()
    {
        var file = Path.Combine(Path.GetTempPath(), "knowpay-master-" + Guid.NewGuid().ToString("N")[..12]);
        var key = RandomNumberGenerator.GetBytes(32);
        File.WriteAllText(file, Convert.ToBase64String(key) + "\n");
        try
        {
            var box = SecretBox.Load(new SecretsOptions { MasterKeyFile = file }, keysDirectory, production: true);
            Assert.Equal(SecretBox.KeyId(key), box.ActiveKeyId);
            Assert.Equal("whsec_x", box.Open(box.Seal("whsec_x")));
        }
        finally { File.Delete(file); }
    }

    IEnumerable<string> KeyFiles() => Directory.Exists(keysDirectory) ? Directory.GetFiles(keysDirectory, "*.xml").Select(File.ReadAllText) : [];

    void AssertNoPlaintextKey()
    {
        XNamespace dp = "http://schemas.asp.net/2015/03/dataProtection";
        foreach (var file in Directory.GetFiles(keysDirectory, "*.xml"))
        {
            var xml = XDocument.Load(file);
            Assert.Empty(xml.Descendants("masterKey"));
            Assert.DoesNotContain(xml.Descendants(), e => e.Attribute(dp + "requiresEncryption") is not null);
            Assert.Single(xml.Descendants(dp + "encryptedSecret"));
        }
    }

    static string Messages(Exception e)
    {
        var text = new StringBuilder();
        for (Exception? x = e; x is not null; x = x.InnerException) text.AppendLine(x.Message);
        if (e is AggregateException all) foreach (var inner in all.InnerExceptions) text.AppendLine(inner.Message);
        return text.ToString();
    }

    /// <summary>Every byte the database holds: the SQLite files (with the WAL), or <c>pg_dump</c> of the PostgreSQL database.</summary>
    static async Task<string> DumpAsync(KnowPayServer server)
    {
        var connection = server.App.Configuration.GetConnectionString("KnowPay")!;
        if (server.Db == Db.Sqlite)
        {
            var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connection).DataSource;
            var text = new StringBuilder();
            foreach (var path in new[] { file, file + "-wal" }.Where(File.Exists))
            {
                await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var memory = new MemoryStream();
                await stream.CopyToAsync(memory);
                text.Append(Encoding.Latin1.GetString(memory.ToArray()));
            }
            return text.ToString();
        }
        var pg = new NpgsqlConnectionStringBuilder(connection);
        var bin = Environment.GetEnvironmentVariable("KNOWPAY_PG_BIN") ?? "/usr/lib/postgresql/15/bin";
        var start = new ProcessStartInfo(Path.Combine(bin, "pg_dump"), ["-h", pg.Host!, "-p", pg.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-U", pg.Username!, "--no-password", pg.Database!]) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (pg.Password is { } password) start.Environment["PGPASSWORD"] = password;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, "pg_dump failed: " + await stderr);
        return await stdout;
    }

    public void Dispose()
    {
        if (Directory.Exists(keysDirectory)) Directory.Delete(keysDirectory, recursive: true);
    }
}
