using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KnowPay.Providers;

/// <summary>
/// RSA keys from configuration: PEM text, a path to a PEM file, or bare base64 DER as the Alipay console shows
/// them (PKCS#8 / PKCS#1 private, SubjectPublicKeyInfo / PKCS#1 public, or an X.509 certificate). Normalised to PEM.
/// </summary>
public static class ProviderKeys
{
    public static string PrivatePem(string value)
    {
        using var rsa = RSA.Create();
        var text = Resolve(value);
        if (text.Contains("-----BEGIN", StringComparison.Ordinal)) rsa.ImportFromPem(text);
        else
        {
            var der = Convert.FromBase64String(text);
            try { rsa.ImportPkcs8PrivateKey(der, out _); }
            catch (CryptographicException) { rsa.ImportRSAPrivateKey(der, out _); }
        }
        return rsa.ExportPkcs8PrivateKeyPem();
    }

    public static string PublicPem(string value)
    {
        var text = Resolve(value);
        if (text.Contains("-----BEGIN CERTIFICATE", StringComparison.Ordinal))
        {
            using var cert = X509Certificate2.CreateFromPem(text);
            using var fromCert = cert.GetRSAPublicKey() ?? throw new CryptographicException("the certificate has no RSA key");
            return fromCert.ExportSubjectPublicKeyInfoPem();
        }
        using var rsa = RSA.Create();
        if (text.Contains("-----BEGIN", StringComparison.Ordinal)) rsa.ImportFromPem(text);
        else
        {
            var der = Convert.FromBase64String(text);
            try { rsa.ImportSubjectPublicKeyInfo(der, out _); }
            catch (CryptographicException) { rsa.ImportRSAPublicKey(der, out _); }
        }
        return rsa.ExportSubjectPublicKeyInfoPem();
    }

    /// <summary>A fresh RSA instance per use: RSA objects are not documented as thread-safe.</summary>
    public static RSA Rsa(string pem)
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(pem);
        return rsa;
    }

    static string Resolve(string value)
    {
        var text = value.Trim();
        if (!text.Contains("-----BEGIN", StringComparison.Ordinal) && text.Length < 1024 && File.Exists(text)) text = File.ReadAllText(text).Trim();
        return text;
    }
}
