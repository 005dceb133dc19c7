using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KnowPay.Providers.Alipay;

/// <summary>
/// Alipay RSA2 as the official SDK does it (AlipaySignature.getSignContent / getSignCheckContentV1 / V2):
/// drop <c>sign</c> (and <c>sign_type</c> for async notifications), drop empty values, sort keys by ASCII, join the
/// raw values as k=v with &amp;, SHA256withRSA PKCS#1 v1.5 over the UTF-8 bytes, base64.
/// </summary>
public static class AlipaySignature
{
    public static string Content(IEnumerable<KeyValuePair<string, string?>> parameters, bool dropSignType) =>
        string.Join("&", parameters
            .Where(p => p.Key != "sign" && !(dropSignType && p.Key == "sign_type") && !string.IsNullOrEmpty(p.Value))
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => p.Key + "=" + p.Value));

    public static string Sign(string content, string privateKeyPem)
    {
        using var rsa = ProviderKeys.Rsa(privateKeyPem);
        return Convert.ToBase64String(rsa.SignData(Encoding.UTF8.GetBytes(content), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    public static bool Verify(string content, string? sign, string publicKeyPem)
    {
        if (string.IsNullOrEmpty(sign)) return false;
        var bytes = new byte[sign.Length];
        if (!Convert.TryFromBase64String(sign, bytes, out var length)) return false;
        using var rsa = ProviderKeys.Rsa(publicKeyPem);
        return rsa.VerifyData(Encoding.UTF8.GetBytes(content), bytes.AsSpan(0, length), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    /// <summary>The method's response key: alipay.trade.precreate → alipay_trade_precreate_response.</summary>
    public static string ResponseKey(string method) => method.Replace('.', '_') + "_response";

    /// <summary>
    /// Finds the top-level <paramref name="key"/> object in a synchronous response and returns its exact raw text
    /// (the bytes Alipay signed, never re-serialised) and the top-level <c>sign</c>.
    /// </summary>
    public static bool TryExtract(string body, string key, out string raw, out string? sign)
    {
        raw = "";
        sign = null;
        var bytes = Encoding.UTF8.GetBytes(body);
        var reader = new Utf8JsonReader(bytes);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                if (name == key && reader.TokenType == JsonTokenType.StartObject)
                {
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    raw = Encoding.UTF8.GetString(bytes, start, (int)reader.TokenStartIndex + 1 - start);
                }
                else if (name == "sign" && reader.TokenType == JsonTokenType.String) sign = reader.GetString();
                else reader.Skip();
            }
        }
        catch (JsonException) { return false; }
        return raw.Length > 0;
    }

    /// <summary>"yyyy-MM-dd HH:mm:ss" in China Standard Time (UTC+8, no daylight saving), as Alipay expects.</summary>
    public static string Timestamp(DateTimeOffset now) =>
        now.ToOffset(ProviderProtocol.ChinaStandardTimeOffset).ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);

    public static DateTime? ParseTimestamp(string? text) =>
        DateTime.TryParseExact(text, "yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.None, out var local)
            ? new DateTimeOffset(local, ProviderProtocol.ChinaStandardTimeOffset).UtcDateTime : null;
}
