using System.Globalization;

namespace KnowPay.Bench;

/// <summary>
/// CPU seconds used so far (user + system, from /proc/&lt;pid&gt;/stat) by KnowPay, by this PostgreSQL server (the
/// postmaster and its children) and by the load generator: divided by the paid orders of a run, it says where the
/// machine's cores go per paid order.
/// </summary>
static class Cpu
{
    public sealed record Sample(double KnowPay, double Postgres, double Bench, IReadOnlyDictionary<int, long> KnowPaySwitches);

    /// <summary>KnowPay's context switches between two samples: per thread, the end's count less the start's (0 for a
    /// thread started meanwhile). A thread that exited in between is missing from the end and not counted: an undercount,
    /// where a sum over the live threads at each end could even come out negative (threads with many switches exited).</summary>
    public static long SwitchesBetween(Sample start, Sample end) =>
        end.KnowPaySwitches.Sum(t => t.Value - start.KnowPaySwitches.GetValueOrDefault(t.Key));

    public static Sample Take(int knowPayPid, int? postmasterPid) =>
        new(Seconds(knowPayPid), postmasterPid is { } pm ? Seconds(pm, withReapedChildren: true) + Children(pm).Sum(pid => Seconds(pid)) : 0,
            Seconds(Environment.ProcessId), Switches(knowPayPid));

    /// <summary>Context switches (voluntary + involuntary) of each of the process's live threads, from /proc/&lt;pid&gt;/task/*/status:
    /// each is a thread going to sleep or being preempted, so per order they show how often KnowPay's work hops threads.</summary>
    static Dictionary<int, long> Switches(int pid)
    {
        var byThread = new Dictionary<int, long>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    long sum = 0;
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                            sum += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                    byThread[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = sum;
                }
                catch (IOException) { } // the thread exited meanwhile
            }
        }
        catch (IOException) { }
        return byThread;
    }

    /// <param name="withReapedChildren">Adds the CPU of children the process has waited for (cutime, cstime): for the postmaster,
    /// the backends that exited meanwhile, whose CPU would otherwise vanish from the sum over live processes.</param>
    static double Seconds(int pid, bool withReapedChildren = false)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is state (field 3); utime and stime are fields 14 and 15.
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            if (withReapedChildren) ticks += long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
            return ticks / 100.0;
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
