using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace KnowPay.Infrastructure;

/// <summary>
/// The "t=&lt;unix&gt;,v1=&lt;hex HMAC-SHA256 of "t.payload"&gt;" scheme: KnowPay-Signature on outgoing webhooks,
/// SandboxPay's signatures, and Stripe-Signature all share it.
/// </summary>
public static class HmacSignature
{
    public static string Sign(string secret, string payload, DateTimeOffset now)
    {
        var t = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"t={t},v1={Hex(secret, t + "." + payload)}";
    }

    public static string Hex(string secret, string payload) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(payload)));

    /// <summary>True when any v1 matches "t.payload" and t is within the tolerance either way. Constant-time compare.</summary>
    public static bool Verify(string secret, string? header, string payload, DateTimeOffset now, TimeSpan tolerance)
    {
        if (string.IsNullOrEmpty(header)) return false;
        string? t = null;
        var candidates = new List<string>();
        foreach (var part in header.Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2) continue;
            var (k, v) = (kv[0].Trim(), kv[1].Trim());
            if (k == "t") t = v;
            else if (k == "v1") candidates.Add(v);
        }
        if (t is null || candidates.Count == 0 || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var unix)) return false;
        if (Math.Abs(now.ToUnixTimeSeconds() - unix) > tolerance.TotalSeconds) return false;
        var expected = Encoding.ASCII.GetBytes(Hex(secret, t + "." + payload));
        return candidates.Any(c => CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(c)));
    }
}
