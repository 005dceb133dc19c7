namespace KnowPay.Domain;

/// <summary>Prefixed, time-sortable ids: prefix + 26 Crockford base32 characters of a UUIDv7.</summary>
public static class Ids
{
    const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

    public static string New(string prefix) => prefix + "_" + Encode(Guid.CreateVersion7());

    static string Encode(Guid guid)
    {
        Span<byte> bytes = stackalloc byte[16];
        guid.TryWriteBytes(bytes, bigEndian: true, out _);
        var value = (UInt128)0;
        foreach (var b in bytes) value = (value << 8) | b;
        Span<char> chars = stackalloc char[26];
        for (var i = 25; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value & 31)];
            value >>= 5;
        }
        return new string(chars);
    }
}
