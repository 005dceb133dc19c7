using KnowPay.Fuzzing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KnowPay.Tests.Security;

/// <summary>A 5xx found by the fuzzer is reported with the exception the server logged while answering it.</summary>
public sealed class OpenApiFuzzerServerLogTests
{
    [Fact]
    public async Task ServerError_IsReportedWithTheExceptionTheServerLoggedForIt()
    {
        var builder = WebApplication.CreateBuilder(["--environment=Testing"]);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        var serverLog = new ServerErrorLog();
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(new ServerErrorLogProvider(serverLog));
        app.UseExceptionHandler(errors => errors.Run(http => Results.Problem(statusCode: 500).ExecuteAsync(http)));
        app.MapGet("/openapi/v1.json", () => Results.Text("""
            {"paths": {"/v1/boom": {"post": {"operationId": "Boom", "responses": {"201": {}}}}}, "components": {"schemas": {}}}
            """, "application/json"));
        app.MapPost("/v1/boom", IResult () => throw new InvalidOperationException("boom-marker: the write failed"));
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

        var fuzzer = await OpenApiFuzzer.LoadAsync(http);
        var report = await fuzzer.RunAsync(http, http, 5, threads: 1, serverLog: serverLog);

        Assert.True(report.ServerErrors > 0, report.Summary());
        var summary = report.Summary();
        Assert.Contains("boom-marker: the write failed", summary);
        Assert.Contains("/v1/boom", summary);
        Assert.Contains("System.InvalidOperationException", summary);
        await app.StopAsync();
    }
}
