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
/// once and kept under data/ encrypted with ASP.NET Data Protection (one node).
/// </summary>
public sealed class CheckoutLinks
{
    public static readonly TimeSpan AfterExpiry = TimeSpan.FromHours(1);
    readonly byte[] key;
    readonly PublicUrl publicUrl;

    public CheckoutLinks(IOptions<CheckoutOptions> checkout, IOptions<KeyStorageOptions> keyStorage, PublicUrl publicUrl, IDataProtectionProvider protection)
    {
        this.publicUrl = publicUrl;
        key = checkout.Value.SigningKey is { Length: > 0 } configured ? Encoding.UTF8.GetBytes(configured) : PersistedKey(keyStorage.Value, protection);
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

    static byte[] PersistedKey(KeyStorageOptions keyStorage, IDataProtectionProvider protection)
    {
        var protector = protection.CreateProtector("KnowPay.Checkout.SigningKey");
        var path = Path.Combine(keyStorage.KeysDirectory, "checkout-signing-key.txt");
        if (File.Exists(path))
        {
            try { return Convert.FromBase64String(protector.Unprotect(File.ReadAllText(path).Trim())); }
            catch (CryptographicException) { /* keys were lost: make a new one; old links stop working */ }
        }
        var fresh = RandomNumberGenerator.GetBytes(32);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, protector.Protect(Convert.ToBase64String(fresh)));
        return fresh;
    }
}
