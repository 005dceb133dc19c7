using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace KnowPay.Providers.PayPal;

/// <summary>
/// PayPal's offline webhook verification: SHA256withRSA over "transmission_id|transmission_time|webhook_id|crc32(raw body)"
/// (the CRC-32 as an unsigned decimal) with the public key of the certificate at PAYPAL-CERT-URL. The certificate is
/// fetched only over HTTP(S) from PayPal's own API host (the configured ApiBaseUrl's host, or api.… for api-m.…), checked
/// for validity, and cached by URL.
/// </summary>
public sealed class PayPalWebhookVerifier(PayPalSettings settings, IHttpClientFactory httpFactory, TimeProvider clock, ILogger<PayPalWebhookVerifier> log)
{
    readonly ConcurrentDictionary<string, X509Certificate2> certificates = new();

    public async Task<bool> VerifyAsync(IHeaderDictionary headers, byte[] rawBody, CancellationToken ct)
    {
        string id = headers["PAYPAL-TRANSMISSION-ID"].ToString(), time = headers["PAYPAL-TRANSMISSION-TIME"].ToString(),
            sig = headers["PAYPAL-TRANSMISSION-SIG"].ToString(), certUrl = headers["PAYPAL-CERT-URL"].ToString(),
            algo = headers["PAYPAL-AUTH-ALGO"].ToString();
        if (id.Length == 0 || time.Length == 0 || sig.Length == 0 || algo != "SHA256withRSA") return false;
        if (!AllowedCertUrl(certUrl, out var uri))
        {
            log.LogWarning("Security: PayPal webhook names certificate URL {Url} outside the PayPal API host; refused", certUrl);
            return false;
        }
        var certificate = await CertificateAsync(uri, ct);
        if (certificate is null) return false;
        var now = clock.GetUtcNow();
        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime()) return false;
        var crc = Crc32.HashToUInt32(rawBody).ToString(CultureInfo.InvariantCulture);
        var message = Encoding.UTF8.GetBytes($"{id}|{time}|{settings.WebhookId}|{crc}");
        byte[] signature;
        try { signature = Convert.FromBase64String(sig); }
        catch (FormatException) { return false; }
        using var key = certificate.GetRSAPublicKey();
        return key is not null && key.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    bool AllowedCertUrl(string url, out Uri uri)
    {
        uri = null!;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || !Uri.TryCreate(settings.ApiBaseUrl, UriKind.Absolute, out var api)) return false;
        uri = parsed;
        var hosts = new[] { api.Host, api.Host.StartsWith("api-m.", StringComparison.OrdinalIgnoreCase) ? "api." + api.Host[6..] : api.Host };
        return parsed.Scheme == api.Scheme && parsed.Port == api.Port && hosts.Contains(parsed.Host, StringComparer.OrdinalIgnoreCase)
               && string.IsNullOrEmpty(parsed.UserInfo);
    }

    async Task<X509Certificate2?> CertificateAsync(Uri uri, CancellationToken ct)
    {
        if (certificates.TryGetValue(uri.AbsoluteUri, out var cached)) return cached;
        try
        {
            using var http = httpFactory.CreateClient(PayPalProvider.HttpClientName);
            var pem = await http.GetStringAsync(uri, ct);
            var certificate = X509Certificate2.CreateFromPem(pem);
            return certificates.GetOrAdd(uri.AbsoluteUri, certificate);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or CryptographicException or ArgumentException
                                      or Polly.Timeout.TimeoutRejectedException && !ct.IsCancellationRequested)
        {
            log.LogWarning(e, "Could not fetch the PayPal certificate at {Url}", uri);
            return null;
        }
    }
}
