using System.Security.Cryptography;

namespace KnowPay.Domain;

/// <summary>
/// Prefixed, time-sortable ids: prefix + "_" + 26 Crockford base32 characters of 128 bits laid out like a monotonic
/// ULID (48-bit Unix milliseconds, then 80 random bits; within one millisecond the random part is incremented so
/// ids made by one process sort in creation order). Across nodes they sort by millisecond.
/// </summary>
public static class Ids
{
    const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
    static readonly Lock Gate = new();
    static long lastMs;
    static UInt128 lastRandom;

    public static string New(string prefix) => prefix + "_" + Encode(Next());

    static UInt128 Next()
    {
        var ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        lock (Gate)
        {
            if (ms <= lastMs)
            {
                ms = lastMs;
                lastRandom++;
            }
            else
            {
                Span<byte> r = stackalloc byte[10];
                RandomNumberGenerator.Fill(r);
                lastRandom = 0;
                foreach (var b in r) lastRandom = (lastRandom << 8) | b;
                lastRandom &= (UInt128.One << 79) - 1; // leave headroom so increments never overflow into the time
                lastMs = ms;
            }
            return ((UInt128)(ulong)ms << 80) | lastRandom;
        }
    }

    static string Encode(UInt128 value)
    {
        Span<char> chars = stackalloc char[26];
        for (var i = 25; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value & 31)];
            value >>= 5;
        }
        return new string(chars);
    }
}
