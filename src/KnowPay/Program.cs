using KnowPay;
using KnowPay.Infrastructure;

if (await AdminCli.TryRunAsync(args)) return;

var app = KnowPayApp.Build(args);
app.Lifetime.ApplicationStarted.Register(() => Banner.Print(app));
await app.RunAsync();

public partial class Program;
