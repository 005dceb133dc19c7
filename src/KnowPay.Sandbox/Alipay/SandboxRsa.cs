using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace KnowPay.Sandbox;

/// <summary>The providers' side of SHA256withRSA (PKCS#1 v1.5, base64), written independently of KnowPay's adapters.</summary>
public static class SandboxRsa
{
    public static string Sign(string content, string privateKeyPem)
    {
        using var rsa = RSA.Create();
        rsa.ImportFromPem(privateKeyPem);
        return Convert.ToBase64String(rsa.SignData(Encoding.UTF8.GetBytes(content), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    public static bool Verify(string content, string? signature, string publicKeyPem)
    {
        if (string.IsNullOrEmpty(signature) || string.IsNullOrEmpty(publicKeyPem)) return false;
        var bytes = new byte[signature.Length];
        if (!Convert.TryFromBase64String(signature, bytes, out var length)) return false;
        using var rsa = RSA.Create();
        rsa.ImportFromPem(publicKeyPem);
        return rsa.VerifyData(Encoding.UTF8.GetBytes(content), bytes.AsSpan(0, length), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    /// <summary>Alipay's string to sign: without sign (and sign_type for notifications), without empty values, keys in ASCII order, k=v joined by &amp;.</summary>
    public static string AlipayContent(IEnumerable<KeyValuePair<string, string>> parameters, bool withoutSignType)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (k == "sign" || (withoutSignType && k == "sign_type") || string.IsNullOrEmpty(v)) continue;
            if (sb.Length > 0) sb.Append('&');
            sb.Append(k).Append('=').Append(v);
        }
        return sb.ToString();
    }

    /// <summary>Fen → "99.00" (CNY has two decimals; decimal, never floating point).</summary>
    public static string Yuan(long fen) => (fen * 0.01m).ToString("0.00", CultureInfo.InvariantCulture);

    public static bool TryFen(string? yuan, out long fen)
    {
        fen = 0;
        if (!decimal.TryParse(yuan, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)) return false;
        var scaled = value * 100m;
        if (scaled != decimal.Truncate(scaled) || scaled <= 0 || scaled > long.MaxValue) return false;
        fen = (long)scaled;
        return true;
    }

    public static string Beijing(DateTimeOffset t) => t.ToOffset(TimeSpan.FromHours(8)).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
