using System.Globalization;
using System.Reflection;
using KnowPay.Infrastructure;

namespace KnowPay.Tests.Domain;

/// <summary>README's configuration section lists every bound setting, with the default the options type really has.</summary>
public sealed class ConfigurationDocsTests
{
    /// <summary>Every public settable property of every <see cref="IBoundOptions"/> type, as "Section:Property", with its default.</summary>
    public static IEnumerable<(string Key, object? Default)> Settings() =>
        from type in typeof(IBoundOptions).Assembly.GetTypes()
        where type.IsClass && !type.IsAbstract && typeof(IBoundOptions).IsAssignableFrom(type)
        let section = (string)type.GetProperty(nameof(IBoundOptions.Section), BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!
        let defaults = Activator.CreateInstance(type)
        from property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        where property.SetMethod?.IsPublic == true
        orderby section, property.Name
        select ($"{section}:{property.Name}", property.GetValue(defaults));

    static string ConfigurationSection()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var start = readme.IndexOf("\n## Configuration\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no '## Configuration' section");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        return end < 0 ? readme[start..] : readme[start..end];
    }

    static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "README.md"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("README.md not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void TheOptionsTypes_AreFound()
    {
        var keys = Settings().Select(s => s.Key).ToList();
        Assert.Contains("Providers:Stripe:TimeoutMs", keys);
        Assert.Contains("Webhooks:RetryForHours", keys);
        Assert.Contains("Sandbox:Enabled", keys);
        Assert.True(keys.Count >= 60, $"only {keys.Count} settings found");
    }

    [Fact]
    public void EverySetting_IsInReadmesConfigurationTable_WithItsDefault()
    {
        var rows = ConfigurationSection().Split('\n')
            .Select(Cells)
            .Where(cells => cells.Length >= 4 && cells[1].StartsWith('`'))
            .ToDictionary(cells => cells[1].Trim('`'), cells => cells[2], StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var (key, value) in Settings())
        {
            if (!rows.TryGetValue(key, out var documented)) problems.Add($"{key} is not in README's configuration table");
            else if (Formatted(value) is { } expected && !documented.Contains(expected, StringComparison.Ordinal))
                problems.Add($"{key}: README says the default is '{documented}', the options type has {expected}");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void ReadmesConfigurationTable_NamesNoSettingThatDoesNotExist()
    {
        var keys = Settings().Select(s => s.Key).ToHashSet(StringComparer.Ordinal);
        var documented = ConfigurationSection().Split('\n')
            .Select(Cells)
            .Where(cells => cells.Length >= 4 && cells[1].StartsWith('`'))
            .Select(cells => cells[1].Trim('`'))
            .Where(key => !key.StartsWith("ConnectionStrings:", StringComparison.Ordinal) && !key.StartsWith("OTEL_", StringComparison.Ordinal));
        var unknown = documented.Where(key => !keys.Contains(key)).ToList();
        Assert.True(unknown.Count == 0, "README documents settings no options type has: " + string.Join(", ", unknown));
    }

    /// <summary>A table row's cells; <c>\|</c> is a pipe inside a cell (Markdown's escape), e.g. Alipay's sign_scene INDUSTRY|DIGITAL_MEDIA.</summary>
    static string[] Cells(string line) =>
        System.Text.RegularExpressions.Regex.Split(line, @"(?<!\\)\|").Select(cell => cell.Replace(@"\|", "|", StringComparison.Ordinal).Trim()).ToArray();

    /// <summary>How a default is written in the table: numbers and booleans as C# invariant text; nulls and lists are described instead.</summary>
    static string? Formatted(object? value) => value switch
    {
        null or System.Collections.IEnumerable and not string => null,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
