using System.Globalization;

namespace KnowPay.Bench;

/// <summary>
/// CPU seconds used so far (user + system, from /proc/&lt;pid&gt;/stat) by KnowPay, by this PostgreSQL server (the
/// postmaster and its children) and by the load generator: divided by the paid orders of a run, it says where the
/// machine's cores go per paid order.
/// </summary>
static class Cpu
{
    public sealed record Sample(double KnowPay, double Postgres, double Bench);

    public static Sample Take(int knowPayPid, int? postmasterPid) =>
        new(Seconds(knowPayPid), postmasterPid is { } pm ? Seconds(pm) + Children(pm).Sum(Seconds) : 0, Seconds(Environment.ProcessId));

    static double Seconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is state (field 3); utime and stime are fields 14 and 15.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException) { return 0; }
    }

    static IEnumerable<int> Children(int parent)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (IOException) { continue; }
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields[1] == parent.ToString(CultureInfo.InvariantCulture)) yield return pid;
        }
    }
}
