using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

/// <summary>
/// Encrypts secrets at rest with AES-256-GCM under the master key (<c>Secrets:MasterKey</c> or <c>Secrets:MasterKeyFile</c>).
/// A sealed value is <c>v1:&lt;key id&gt;:&lt;base64 of nonce | ciphertext | tag&gt;</c>, the key id being the first 8 hex
/// digits of the key's SHA-256, so a value names the key that opens it: after a rotation the keys listed in
/// <c>Secrets:PreviousMasterKeys</c> still open old values, and <see cref="SecretsAtRest"/> re-seals them under the active key.
/// </summary>
public sealed class SecretBox
{
    const string Version = "v1";
    const int NonceBytes = 12, TagBytes = 16;
    public const int KeyBytes = 32;

    readonly byte[] activeKey;
    readonly Dictionary<string, byte[]> keys = new(StringComparer.Ordinal);

    public SecretBox(byte[] activeKey, IEnumerable<byte[]>? previousKeys = null)
    {
        if (activeKey.Length != KeyBytes) throw new ArgumentException($"A master key is {KeyBytes} bytes.", nameof(activeKey));
        this.activeKey = activeKey;
        ActiveKeyId = KeyId(activeKey);
        keys[ActiveKeyId] = activeKey;
        foreach (var key in previousKeys ?? []) keys.TryAdd(KeyId(key), key);
    }

    /// <summary>The id sealed values carry for the active master key.</summary>
    public string ActiveKeyId { get; }

    public static string KeyId(byte[] key) => Convert.ToHexStringLower(SHA256.HashData(key))[..8];

    /// <summary>How every value sealed under the active master key begins.</summary>
    public string ActivePrefix => Version + ":" + ActiveKeyId + ":";

    /// <summary>The refusal for a value sealed under a master key this node does not have; <paramref name="what"/> names the value.</summary>
    public CryptographicException UnknownKey(string what, string value, string? remedy = null) =>
        new($"{what} is sealed under master key {KeyIdOf(value)}, which is neither Secrets:MasterKey (key {ActiveKeyId}) nor one of " +
            "Secrets:PreviousMasterKeys" + (remedy is null ? "." : ": " + remedy));

    public string Seal(string plaintext)
    {
        var header = Version + ":" + ActiveKeyId;
        var clear = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[NonceBytes + clear.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(activeKey, TagBytes);
        aes.Encrypt(nonce, clear, sealedBytes.AsSpan(NonceBytes, clear.Length), sealedBytes.AsSpan(NonceBytes + clear.Length), Encoding.ASCII.GetBytes(header));
        return header + ":" + Convert.ToBase64String(sealedBytes);
    }

    /// <summary>The plaintext of a sealed value. A value not in the sealed format is a plaintext row written before secrets
    /// were sealed (or by a node not yet upgraded) and is returned as it is; <see cref="SecretsAtRest"/> seals it at start.</summary>
    public string Open(string value)
    {
        if (!IsSealed(value)) return value;
        var parts = value.Split(':', 3);
        if (!keys.TryGetValue(parts[1], out var key)) throw UnknownKey("A secret", value);
        var sealedBytes = Convert.FromBase64String(parts[2]);
        if (sealedBytes.Length < NonceBytes + TagBytes) throw new CryptographicException("A sealed secret is truncated.");
        var clear = new byte[sealedBytes.Length - NonceBytes - TagBytes];
        using var aes = new AesGcm(key, TagBytes);
        aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, clear.Length), sealedBytes.AsSpan(NonceBytes + clear.Length), clear,
            Encoding.ASCII.GetBytes(parts[0] + ":" + parts[1]));
        return Encoding.UTF8.GetString(clear);
    }

    public static bool IsSealed(string value) => value.StartsWith(Version + ":", StringComparison.Ordinal) && value.Split(':', 3).Length == 3;

    /// <summary>Sealed under a key other than the active one, or not sealed at all: to be re-sealed.</summary>
    public bool NeedsResealing(string value) => !value.StartsWith(ActivePrefix, StringComparison.Ordinal);

    /// <summary>The key id a sealed value names, or null for a plaintext value.</summary>
    public static string? KeyIdOf(string value) => IsSealed(value) ? value.Split(':', 3)[1] : null;

    public bool CanOpen(string value) => KeyIdOf(value) is not { } id || keys.ContainsKey(id);

    /// <summary>
    /// The master keys from <c>Secrets:*</c>. Without a configured key: outside Production one is generated once into
    /// <paramref name="keysDirectory"/> (next to the Data Protection keys, so a developer's data stays readable across
    /// restarts); in Production the start is refused, since a key written next to the data it protects protects nothing.
    /// </summary>
    public static SecretBox Load(SecretsOptions options, string keysDirectory, bool production)
    {
        byte[] active;
        if (options.MasterKey is { Length: > 0 } && options.MasterKeyFile is { Length: > 0 })
            throw Refusal("Set Secrets:MasterKey or Secrets:MasterKeyFile, not both.");
        if (options.MasterKey is { Length: > 0 } configured) active = Parse(configured, "Secrets:MasterKey");
        else if (options.MasterKeyFile is { Length: > 0 } file)
        {
            if (!File.Exists(file)) throw Refusal($"Secrets:MasterKeyFile names {file}, which does not exist.");
            active = Parse(File.ReadAllText(file).Trim(), "Secrets:MasterKeyFile (" + file + ")");
        }
        else if (production)
            throw Refusal("Secrets:MasterKey (or Secrets:MasterKeyFile) must be set in Production: the master key encrypts webhook secrets, " +
                          "the checkout signing key and the Data Protection keys at rest. Make one with `openssl rand -base64 32`.");
        else active = GeneratedKey(Path.Combine(keysDirectory, GeneratedKeyFile));
        var previous = (options.PreviousMasterKeys ?? []).Where(k => k is { Length: > 0 }).Select((k, i) => Parse(k, $"Secrets:PreviousMasterKeys:{i}"));
        return new SecretBox(active, previous.ToList());
    }

    /// <summary>The master key generated outside Production when none is configured.</summary>
    public const string GeneratedKeyFile = "secrets-master-key.txt";

    static byte[] Parse(string base64, string setting)
    {
        var bytes = new byte[KeyBytes + 1];
        if (!Convert.TryFromBase64String(base64.Trim(), bytes, out var written) || written != KeyBytes)
            throw Refusal($"{setting} must be the base64 of {KeyBytes} random bytes (`openssl rand -base64 32`).");
        return bytes[..KeyBytes];
    }

    /// <summary>Reads the generated key, or creates it; two processes starting together agree on one (the file appears whole, once).</summary>
    static byte[] GeneratedKey(string path)
    {
        if (File.Exists(path)) return Parse(File.ReadAllText(path).Trim(), path);
        var fresh = RandomNumberGenerator.GetBytes(KeyBytes);
        var mode = OperatingSystem.IsWindows() ? (FileStreamOptions?)null : new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        var written = WholeFiles.Write(path, temp =>
        {
            using var writer = mode is null ? new StreamWriter(temp) : new StreamWriter(temp, mode);
            writer.Write(Convert.ToBase64String(fresh));
        }, overwrite: false);
        return written ? fresh : Parse(File.ReadAllText(path).Trim(), path);
    }

    static OptionsValidationException Refusal(string message) => new(SecretsOptions.Section, typeof(SecretsOptions), [message]);
}
