using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Checkout;

/// <summary>
/// The checkout token: a short-lived client secret bound to one order, <c>{expires_unix}.{hmac}</c> with
/// HMAC-SHA256 over "order_id.expires_unix". Valid until one hour after the order expires, so the learner still sees
/// "paid" or "expired". The key is <c>Checkout:SigningKey</c> (set it, identical, on every node), else a key generated
/// once and kept under data/ sealed with the master key (<see cref="SecretBox"/>; one node).
/// </summary>
public sealed class CheckoutLinks
{
    public static readonly TimeSpan AfterExpiry = TimeSpan.FromHours(1);
    readonly byte[] key;
    readonly PublicUrl publicUrl;

    public CheckoutLinks(IOptions<CheckoutOptions> checkout, IOptions<KeyStorageOptions> keyStorage, PublicUrl publicUrl, SecretBox box,
        IDataProtectionProvider protection)
    {
        this.publicUrl = publicUrl;
        key = checkout.Value.SigningKey is { Length: > 0 } configured ? Encoding.UTF8.GetBytes(configured) : PersistedKey(keyStorage.Value, box, protection);
    }

    public string UrlFor(Order order) => publicUrl.Combine($"/checkout/{order.Id}?token={TokenFor(order.Id, order.ExpiresAt + AfterExpiry)}");

    public string TokenFor(string orderId, DateTime expiresAt)
    {
        var unix = new DateTimeOffset(expiresAt, TimeSpan.Zero).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return unix + "." + Mac(orderId, unix);
    }

    public bool Verify(string orderId, string? token, DateTime now)
    {
        var parts = (token ?? "").Split('.');
        if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var unix)) return false;
        if (DateTimeOffset.FromUnixTimeSeconds(Math.Min(unix, 253402300799)).UtcDateTime <= now) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(orderId, parts[0])), Encoding.ASCII.GetBytes(parts[1]));
    }

    string Mac(string orderId, string unix) =>
        Base64Url(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(orderId + "." + unix)));

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The generated key, sealed by <see cref="SecretBox"/> in its file and re-sealed when the master key was rotated;
    /// a file from before (protected by Data Protection) is read once and sealed.</summary>
    static byte[] PersistedKey(KeyStorageOptions keyStorage, SecretBox box, IDataProtectionProvider protection)
    {
        var path = Path.Combine(keyStorage.KeysDirectory, "checkout-signing-key.txt");
        if (File.Exists(path))
        {
            var stored = File.ReadAllText(path).Trim();
            if (SecretBox.IsSealed(stored))
            {
                if (!box.CanOpen(stored)) throw box.UnknownKey($"The checkout signing key {path}", stored);
                var opened = Convert.FromBase64String(box.Open(stored));
                if (box.NeedsResealing(stored)) Write(path, box.Seal(Convert.ToBase64String(opened)));
                return opened;
            }
            try
            {
                var legacy = Convert.FromBase64String(protection.CreateProtector("KnowPay.Checkout.SigningKey").Unprotect(stored));
                Write(path, box.Seal(Convert.ToBase64String(legacy)));
                return legacy;
            }
            catch (CryptographicException) { /* keys were lost: make a new one; old links stop working */ }
        }
        var fresh = RandomNumberGenerator.GetBytes(32);
        Write(path, box.Seal(Convert.ToBase64String(fresh)));
        return fresh;
    }

    static void Write(string path, string contents) => WholeFiles.Write(path, temp => File.WriteAllText(temp, contents));
}
