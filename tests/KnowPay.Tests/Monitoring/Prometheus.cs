using System.Globalization;

namespace KnowPay.Tests.Monitoring;

/// <summary>Reads Prometheus text exposition: the value of a sample by metric name and a subset of its labels.</summary>
public static class Prometheus
{
    public static double Value(string text, string metric, params (string Name, string Value)[] labels)
    {
        double sum = 0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(metric, StringComparison.Ordinal)) continue;
            var rest = line[metric.Length..];
            if (rest.Length > 0 && rest[0] != '{' && rest[0] != ' ') continue;
            var labelText = rest.StartsWith('{') ? rest[1..rest.IndexOf('}')] : "";
            if (!labels.All(l => labelText.Contains($"{l.Name}=\"{l.Value}\"", StringComparison.Ordinal))) continue;
            var valueText = rest[(rest.StartsWith('{') ? rest.IndexOf('}') + 1 : 0)..].Trim().Split(' ')[0];
            sum += double.Parse(valueText, CultureInfo.InvariantCulture);
        }
        return sum;
    }
}
