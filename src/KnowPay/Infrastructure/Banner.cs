using KnowPay.Providers;
using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

/// <summary>What a newcomer needs on start: where KnowPay listens, where the docs are, the demo key.</summary>
public static class Banner
{
    public static void Print(WebApplication app)
    {
        var url = app.Services.GetRequiredService<PublicUrl>().Base;
        var demo = app.Services.GetRequiredService<IOptions<DemoOptions>>().Value;
        var disabled = app.Services.GetRequiredService<DisabledProviders>();
        foreach (var reason in disabled.Reasons)
            app.Logger.LogWarning("Provider disabled: {Reason}", reason);
        Console.WriteLine();
        Console.WriteLine($"  KnowPay is running at  {url}");
        Console.WriteLine($"  API docs:              {url}/docs");
        Console.WriteLine($"  OpenAPI:               {url}/openapi/v1.json");
        if (app.Services.GetService<Sandbox.SandboxOptions>() is not null)
            Console.WriteLine($"  Sandbox providers:     {url}/sandbox/");
        if (demo.Seed)
        {
            Console.WriteLine($"  Demo merchant key:     {demo.ApiKey ?? DemoSeed.DefaultApiKey}");
            Console.WriteLine("  Demo products:         prod_demo_course, prod_demo_column, prod_demo_membership");
        }
        Console.WriteLine();
    }
}
