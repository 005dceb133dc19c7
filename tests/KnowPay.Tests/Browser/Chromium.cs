using Microsoft.Playwright;
using Xunit.Abstractions;

namespace KnowPay.Tests.Browser;

/// <summary>
/// Real headless Chromium (Debian's /usr/bin/chromium, or CHROMIUM_PATH) driven by Playwright; every page records its
/// console errors and uncaught page errors so that a test can assert there were none.
/// </summary>
public sealed class Chromium : IAsyncDisposable
{
    public static string ExecutablePath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    /// <summary>Where screenshots go: artifacts/screenshots at the repository root.</summary>
    public static string ScreenshotDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "KnowPay.slnx"))) dir = dir.Parent;
            var path = Path.Combine(dir?.FullName ?? AppContext.BaseDirectory, "artifacts", "screenshots");
            Directory.CreateDirectory(path);
            return path;
        }
    }

    public required IPlaywright Playwright { get; init; }
    public required IBrowser Browser { get; init; }
    public List<string> Errors { get; } = [];

    /// <summary>Launches Chromium; skips the test when it is missing ([SkippableFact]), fails instead when CI is set.</summary>
    public static async Task<Chromium> LaunchAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) throw new InvalidOperationException($"Chromium not found at {ExecutablePath}");
            throw new SkipException($"Chromium not found at {ExecutablePath} (set CHROMIUM_PATH; CI=true makes this a failure)");
        }
        var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ExecutablePath, Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run",
                    "--disable-component-update", "--disable-sync"],
        });
        return new Chromium { Playwright = playwright, Browser = browser };
    }

    /// <summary>
    /// A new page (own context: own cookies) at the given viewport, recording console and page errors; <paramref name="locale"/>
    /// (e.g. zh-CN) sets the browser's language and so its Accept-Language; <paramref name="userAgent"/> plays a phone or WeChat.
    /// </summary>
    public async Task<IPage> NewPageAsync(int width = 1280, int height = 800, string? locale = null, string? userAgent = null)
    {
        var context = await Browser.NewContextAsync(new()
        {
            ViewportSize = new() { Width = width, Height = height }, Locale = locale, UserAgent = userAgent,
            IsMobile = userAgent is not null, HasTouch = userAgent is not null,
        });
        var page = await context.NewPageAsync();
        page.Console += (_, message) =>
        {
            if (message.Type == "error") lock (Errors) Errors.Add($"console: {message.Text} ({page.Url})");
        };
        page.PageError += (_, error) =>
        {
            lock (Errors) Errors.Add($"pageerror: {error} ({page.Url})");
        };
        return page;
    }

    /// <summary>
    /// Waits until the page's address matches: the navigation committed, not its "load" event, since what comes next waits
    /// for its own element; a timeout says where the page stayed and what it showed, so a failure can be read.
    /// </summary>
    public async Task ArriveAsync(IPage page, Func<string, bool> url, float timeoutMs = 60_000)
    {
        try
        {
            await page.WaitForURLAsync(url, new() { WaitUntil = WaitUntilState.Commit, Timeout = timeoutMs });
        }
        catch (TimeoutException e)
        {
            string? shown;
            try { shown = await page.Locator("#error").TextContentAsync(new() { Timeout = 5_000 }); }
            catch (Exception none) when (none is PlaywrightException or TimeoutException) { shown = "?"; }   // Playwright's timeouts are System.TimeoutException
            throw new TimeoutException($"The page stayed at {page.Url} (error text: '{shown}'; page errors: {string.Join("; ", Errors)})", e);
        }
    }

    /// <summary>Saves a full-page screenshot and prints where it went.</summary>
    public static async Task<string> ScreenshotAsync(IPage page, string name, ITestOutputHelper output)
    {
        var path = Path.Combine(ScreenshotDir, name + ".png");
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        output.WriteLine($"screenshot: {path}");
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
    }
}
