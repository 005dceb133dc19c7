namespace KnowPay.Domain;

public static class Allocation
{
    /// <summary>
    /// Splits <paramref name="total"/> into parts proportional to <paramref name="weights"/> by the largest
    /// remainder method: each part gets the floor of its exact share, and the units left over go one each to
    /// the parts with the largest remainders (ties to the earlier part). The parts always sum to the total.
    /// </summary>
    public static long[] LargestRemainder(long total, IReadOnlyList<long> weights)
    {
        if (total < 0) throw new ArgumentOutOfRangeException(nameof(total), "total must not be negative");
        if (weights.Count == 0) throw new ArgumentException("at least one weight", nameof(weights));
        if (weights.Any(w => w < 0)) throw new ArgumentException("weights must not be negative", nameof(weights));
        var sum = weights.Sum();
        if (sum == 0) throw new ArgumentException("weights must not all be zero", nameof(weights));

        var parts = new long[weights.Count];
        var remainders = new (Int128 Remainder, int Index)[weights.Count];
        long given = 0;
        for (var i = 0; i < weights.Count; i++)
        {
            var exact = (Int128)total * weights[i];
            parts[i] = (long)(exact / sum);
            remainders[i] = (exact % sum, i);
            given += parts[i];
        }
        var left = total - given;
        foreach (var (_, index) in remainders.OrderByDescending(r => r.Remainder).ThenBy(r => r.Index).Take((int)left))
            parts[index]++;
        return parts;
    }
}
