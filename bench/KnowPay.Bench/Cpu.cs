using System.Globalization;

namespace KnowPay.Bench;

/// <summary>
/// CPU seconds used so far (user + system, from /proc/&lt;pid&gt;/stat) by KnowPay, by this PostgreSQL server (the
/// postmaster and its children) and by the load generator: divided by the paid orders of a run, it says where the
/// machine's cores go per paid order.
/// </summary>
static class Cpu
{
    public sealed record Sample(double KnowPay, double Postgres, double Bench, long KnowPaySwitches);

    public static Sample Take(int knowPayPid, int? postmasterPid) =>
        new(Seconds(knowPayPid), postmasterPid is { } pm ? Seconds(pm) + Children(pm).Sum(Seconds) : 0, Seconds(Environment.ProcessId), Switches(knowPayPid));

    /// <summary>Context switches (voluntary + involuntary) of the process's live threads, from /proc/&lt;pid&gt;/task/*/status:
    /// each is a thread going to sleep or being preempted, so per order they show how often KnowPay's work hops threads.</summary>
    static long Switches(int pid)
    {
        long sum = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                            sum += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                }
                catch (IOException) { } // the thread exited meanwhile
            }
        }
        catch (IOException) { }
        return sum;
    }

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
