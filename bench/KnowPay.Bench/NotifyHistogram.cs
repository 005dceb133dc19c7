using System.Globalization;

namespace KnowPay.Bench;

/// <summary>
/// Notification handling latency read from KnowPay's own Prometheus histogram
/// (<c>knowpay_notification_duration_seconds</c> at <c>/metrics</c>, the one monitoring uses): a snapshot of the
/// cumulative buckets at the start and at the end of the measured window, subtracted, summed over statuses for one
/// provider. Percentiles are interpolated linearly inside the bucket that holds them (as PromQL's
/// histogram_quantile does); the buckets are 1 ms wide up to 10 ms, 2.5 ms up to 20 ms, 5 ms up to 30 ms and 10 ms
/// up to 50 ms, so a p99 near the 25 ms target is within a 5 ms bucket. The maximum is only known to the bucket: reported as its upper bound.
/// </summary>
sealed class NotifyHistogram
{
    const string Metric = "knowpay_notification_duration_seconds_bucket";
    readonly SortedDictionary<double, double> cumulative = [];

    public double Count => cumulative.Count == 0 ? 0 : cumulative.Last().Value;

    /// <summary>Parses the /metrics text: every bucket line of the metric whose labels include provider="…".</summary>
    public static NotifyHistogram Parse(string text, string provider)
    {
        var h = new NotifyHistogram();
        var wanted = $"provider=\"{provider}\"";
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(Metric + "{", StringComparison.Ordinal) || !line.Contains(wanted, StringComparison.Ordinal)) continue;
            var le = line.IndexOf("le=\"", StringComparison.Ordinal) + 4;
            var bound = line[le..line.IndexOf('"', le)];
            var upper = bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture);
            h.cumulative[upper] = h.cumulative.GetValueOrDefault(upper) + ValueOf(line, Metric.Length);
        }
        return h;
    }

    /// <summary>The sum of every sample of a counter in the /metrics text (all label sets), 0 when absent.</summary>
    public static double Sum(string text, string metric)
    {
        double sum = 0;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(metric, StringComparison.Ordinal) || line.Length == metric.Length || line[metric.Length] is not ('{' or ' ')) continue;
            sum += ValueOf(line, metric.Length);
        }
        return sum;
    }

    /// <summary>The sample's value: the first field after the metric name and its labels (if any).</summary>
    static double ValueOf(string line, int nameLength)
    {
        var labelsEnd = line.LastIndexOf('}');
        return double.Parse(line[(labelsEnd >= 0 ? labelsEnd + 1 : nameLength)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>The observations between two snapshots.</summary>
    public NotifyHistogram Minus(NotifyHistogram earlier)
    {
        var h = new NotifyHistogram();
        foreach (var (upper, value) in cumulative) h.cumulative[upper] = value - earlier.cumulative.GetValueOrDefault(upper);
        return h;
    }

    /// <summary>The q-quantile in milliseconds (linear inside its bucket; the last finite bound if it falls in +Inf).</summary>
    public double QuantileMs(double q)
    {
        var total = Count;
        if (total <= 0) return 0;
        var rank = q * total;
        double lower = 0, below = 0;
        foreach (var (upper, cum) in cumulative)
        {
            if (cum >= rank)
            {
                if (double.IsPositiveInfinity(upper)) return lower * 1000;
                var inBucket = cum - below;
                return (lower + (upper - lower) * (inBucket <= 0 ? 1 : (rank - below) / inBucket)) * 1000;
            }
            (lower, below) = (upper, cum);
        }
        return lower * 1000;
    }

    /// <summary>Upper bound of the highest non-empty bucket, in ms (the last finite bound if only +Inf holds it).</summary>
    public double MaxMs()
    {
        double below = 0, lastFinite = 0, max = 0;
        foreach (var (upper, cum) in cumulative)
        {
            if (cum > below) max = double.IsPositiveInfinity(upper) ? lastFinite : upper;
            if (!double.IsPositiveInfinity(upper)) lastFinite = upper;
            below = cum;
        }
        return max * 1000;
    }
}

/// <summary>KnowPay's runtime meter at <c>/metrics</c>: cumulative allocated bytes, GC count, GC pause and JIT seconds.</summary>
readonly record struct RuntimeCounters(double Allocated, double Gcs, double Paused, double Jit)
{
    public static RuntimeCounters Parse(string text) => new(NotifyHistogram.Sum(text, "dotnet_gc_heap_total_allocated_bytes_total"),
        NotifyHistogram.Sum(text, "dotnet_gc_collections_total"), NotifyHistogram.Sum(text, "dotnet_gc_pause_time_seconds_total"),
        NotifyHistogram.Sum(text, Load.JitSecondsMetric));

    /// <summary>What happened between two readings.</summary>
    public RuntimeCounters Minus(RuntimeCounters earlier) =>
        new(Allocated - earlier.Allocated, Gcs - earlier.Gcs, Paused - earlier.Paused, Jit - earlier.Jit);
}
