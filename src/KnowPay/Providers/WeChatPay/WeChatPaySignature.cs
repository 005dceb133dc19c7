using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace KnowPay.Providers.WeChatPay;

/// <summary>
/// WeChat Pay API v3 as the official SDKs do it (wechatpay-apache-httpclient / wechatpay-go): requests signed
/// "METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n", answers and notifications "TIMESTAMP\nNONCE\nBODY\n", both
/// SHA256withRSA PKCS#1 v1.5, base64; resources decrypted with AEAD_AES_256_GCM under the APIv3 key.
/// </summary>
public static class WeChatPaySignature
{
    public const string Scheme = "WECHATPAY2-SHA256-RSA2048";
    public static readonly TimeSpan Tolerance = ProviderProtocol.SignatureTolerance;

    public static string Message(params string[] lines) => string.Concat(lines.Select(l => l + "\n"));

    public static string Sign(string message, string privateKeyPem)
    {
        using var rsa = ProviderKeys.Rsa(privateKeyPem);
        return Convert.ToBase64String(rsa.SignData(Encoding.UTF8.GetBytes(message), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    public static bool Verify(string message, string? signature, string publicKeyPem)
    {
        if (string.IsNullOrEmpty(signature)) return false;
        var bytes = new byte[signature.Length];
        if (!Convert.TryFromBase64String(signature, bytes, out var length)) return false;
        using var rsa = ProviderKeys.Rsa(publicKeyPem);
        return rsa.VerifyData(Encoding.UTF8.GetBytes(message), bytes.AsSpan(0, length), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    public static string Authorization(string mchId, string serialNo, string privateKeyPem, string method, string pathAndQuery, string body,
        long timestamp, string nonce)
    {
        var ts = timestamp.ToString(CultureInfo.InvariantCulture);
        var signature = Sign(Message(method, pathAndQuery, ts, nonce, body), privateKeyPem);
        return $"{Scheme} mchid=\"{mchId}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{ts}\",serial_no=\"{serialNo}\"";
    }

    /// <summary>Checks Wechatpay-Serial/-Timestamp/-Nonce/-Signature over the raw body: known serial, ±5 minutes, valid signature.</summary>
    public static bool VerifyHeaders(string? serial, string? timestamp, string? nonce, string? signature, string body,
        string platformSerialNo, string platformPublicKeyPem, DateTimeOffset now) =>
        VerifyHeaders(serial, timestamp, nonce, signature, body, s => s == platformSerialNo ? platformPublicKeyPem : null, now);

    /// <summary>The same with the key the header's serial names (<paramref name="publicKeyOf"/> null = unknown serial, refused).</summary>
    public static bool VerifyHeaders(string? serial, string? timestamp, string? nonce, string? signature, string body,
        Func<string, string?> publicKeyOf, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(serial) || publicKeyOf(serial) is not { } publicKeyPem || nonce is null || timestamp is null) return false;
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var unix)) return false;
        if (Math.Abs(now.ToUnixTimeSeconds() - unix) > Tolerance.TotalSeconds) return false;
        return Verify(Message(timestamp, nonce, body), signature, publicKeyPem);
    }

    /// <summary>AES-256-GCM: ciphertext is base64 of ciphertext‖16-byte tag, IV the nonce, AAD associated_data. Null when the tag fails.</summary>
    public static string? Decrypt(string apiV3Key, string? nonce, string? associatedData, string? ciphertext)
    {
        if (nonce is null || ciphertext is null) return null;
        var key = Encoding.UTF8.GetBytes(apiV3Key);
        if (key.Length != 32) return null;
        byte[] data;
        try { data = Convert.FromBase64String(ciphertext); }
        catch (FormatException) { return null; }
        if (data.Length < 16) return null;
        var plain = new byte[data.Length - 16];
        try
        {
            using var aes = new AesGcm(key, 16);
            aes.Decrypt(Encoding.UTF8.GetBytes(nonce), data.AsSpan(0, plain.Length), data.AsSpan(plain.Length), plain,
                Encoding.UTF8.GetBytes(associatedData ?? ""));
        }
        catch (CryptographicException) { return null; }
        return Encoding.UTF8.GetString(plain);
    }

    public static string Nonce() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
}
