using System.Security.Cryptography;
using System.Xml.Linq;
using KnowPay.Data;
using KnowPay.Features.Checkout;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// Secrets at rest, sealed by <see cref="SecretBox"/>: webhook endpoint secrets (current and previous), the generated
/// checkout signing key, and the Data Protection key ring. At start, before anything is served, every value not sealed
/// under the active master key — plaintext from before, or sealed under a key rotated into <c>Secrets:PreviousMasterKeys</c>
/// — is re-sealed; one sealed under a key KnowPay does not have stops the start, naming the settings.
/// </summary>
public static class SecretsAtRestSetup
{
    public static void AddKnowPaySecrets(this WebApplicationBuilder builder)
    {
        var keysDirectory = builder.AddBoundOptions<KeyStorageOptions>().KeysDirectory;
        var box = SecretBox.Load(builder.AddBoundOptions<SecretsOptions>(), keysDirectory, builder.Environment.IsProduction());
        builder.Services.AddSingleton(box);
        builder.Services.Configure<KeyManagementOptions>(o => o.XmlEncryptor = new MasterKeyXmlEncryptor(box));
        DataProtectionKeyFiles.Reseal(keysDirectory, box);
        builder.Services.AddHostedService<SecretsAtRest>();
    }
}

/// <summary>Re-seals the database's secrets and the checkout key under the active master key at start (after the migrations).</summary>
sealed class SecretsAtRest(IServiceProvider services, SecretBox box, ILogger<SecretsAtRest> log) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        services.GetRequiredService<CheckoutLinks>();   // opens (and re-seals) the generated checkout key now, not at the first checkout
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var active = box.ActivePrefix;
        var stale = await db.WebhookEndpoints.AsNoTracking()
            .Where(e => !e.Secret.StartsWith(active) || e.PreviousSecret != null && !e.PreviousSecret.StartsWith(active))
            .Select(e => new { e.Id, e.Secret, e.PreviousSecret }).ToListAsync(ct);
        var unreadable = stale.Select(e => (e.Id, Value: new[] { e.Secret, e.PreviousSecret }.OfType<string>().FirstOrDefault(v => !box.CanOpen(v))))
            .Where(e => e.Value is not null).ToList();
        if (unreadable.Count > 0)
            throw box.UnknownKey($"{unreadable.Count} webhook endpoint secret(s) (e.g. {unreadable[0].Id})", unreadable[0].Value!,
                "start with the master key they were sealed with, listing it in Secrets:PreviousMasterKeys after a rotation.");
        var resealed = 0;
        foreach (var row in stale)
        {
            var secret = Reseal(row.Secret);
            var previous = row.PreviousSecret is { } p ? Reseal(p) : null;
            // Only if unchanged since read: a rotation in between keeps its new secret.
            resealed += await db.WebhookEndpoints.Where(e => e.Id == row.Id && e.Secret == row.Secret && e.PreviousSecret == row.PreviousSecret)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.Secret, secret).SetProperty(e => e.PreviousSecret, previous), ct);
        }
        if (resealed > 0) log.LogInformation("Sealed {Count} webhook endpoint secret(s) under master key {KeyId}", resealed, box.ActiveKeyId);
    }

    string Reseal(string value) => box.NeedsResealing(value) ? box.Seal(box.Open(value)) : value;

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

/// <summary>Data Protection's key XML: each key's <c>masterKey</c> element sealed by <see cref="SecretBox"/>.</summary>
public sealed class MasterKeyXmlEncryptor(SecretBox box) : IXmlEncryptor
{
    public static readonly XName SealedElement = XName.Get("sealedWithMasterKey", "urn:knowpay:secrets");

    public EncryptedXmlInfo Encrypt(XElement plaintextElement) =>
        new(new XElement(SealedElement, box.Seal(plaintextElement.ToString(SaveOptions.DisableFormatting))), typeof(MasterKeyXmlDecryptor));
}

/// <summary>Opens what <see cref="MasterKeyXmlEncryptor"/> sealed; Data Protection creates it by type name, with the app's services.</summary>
public sealed class MasterKeyXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement) =>
        XElement.Parse(services.GetRequiredService<SecretBox>().Open(encryptedElement.Value));
}

/// <summary>
/// Seals the Data Protection key files already on disk: a key written in plaintext (before the key ring was protected)
/// or sealed under a previous master key is rewritten sealed under the active one, so no key file keeps its key readable.
/// </summary>
public static class DataProtectionKeyFiles
{
    static readonly XNamespace DataProtection = "http://schemas.asp.net/2015/03/dataProtection";
    static readonly XName RequiresEncryption = DataProtection + "requiresEncryption";
    static readonly XName EncryptedSecret = DataProtection + "encryptedSecret";
    static readonly XName DecryptorType = "decryptorType";

    public static void Reseal(string keysDirectory, SecretBox box)
    {
        if (!Directory.Exists(keysDirectory)) return;
        var encryptor = new MasterKeyXmlEncryptor(box);
        foreach (var file in Directory.GetFiles(keysDirectory, "*.xml"))
        {
            var document = XDocument.Load(file);
            var changed = false;
            foreach (var plaintext in document.Descendants().Where(e => (string?)e.Attribute(RequiresEncryption) == "true").ToList())
            {
                plaintext.ReplaceWith(Wrapped(encryptor.Encrypt(new XElement(plaintext))));
                changed = true;
            }
            foreach (var sealedSecret in document.Descendants(MasterKeyXmlEncryptor.SealedElement).ToList())
            {
                if (!box.CanOpen(sealedSecret.Value))
                    throw box.UnknownKey($"The Data Protection key {Path.GetFileName(file)} in {keysDirectory}", sealedSecret.Value,
                        "start with the master key it was sealed with (or delete the key file; dashboard sessions end).");
                if (!box.NeedsResealing(sealedSecret.Value)) continue;
                sealedSecret.Value = box.Seal(box.Open(sealedSecret.Value));
                changed = true;
            }
            if (!changed) continue;
            WholeFiles.Write(file, document.Save);
        }
    }

    /// <summary>The element Data Protection puts in place of an encrypted one (as its own XmlKeyManager writes it).</summary>
    static XElement Wrapped(EncryptedXmlInfo info) =>
        new(EncryptedSecret, new XAttribute(DecryptorType, info.DecryptorType.AssemblyQualifiedName!), info.EncryptedElement);
}
