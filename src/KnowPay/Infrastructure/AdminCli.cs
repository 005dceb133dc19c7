using KnowPay.Data;
using KnowPay.Domain;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// Operator commands: <c>dotnet run --project src/KnowPay -- merchants create "Name" [scopes]</c> creates a merchant and
/// prints its secret key once; <c>keys create mer_… [scopes]</c> adds a key to a merchant.
/// </summary>
public static class AdminCli
{
    public static async Task<bool> TryRunAsync(string[] args)
    {
        if (args.Length < 2 || args[0] is not ("merchants" or "keys") || args[1] != "create") return false;
        var rest = args.Skip(2).Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        var app = KnowPayApp.Build(args.Where(a => a.StartsWith("--", StringComparison.Ordinal)).ToArray(),
            b => b.Configuration["Jobs:Enabled"] = "false");
        await app.StartAsync();
        try
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
            var now = DateTime.UtcNow;
            string merchantId;
            if (args[0] == "merchants")
            {
                var name = rest.ElementAtOrDefault(0) ?? "New merchant";
                merchantId = Ids.New("mer");
                db.Merchants.Add(new Merchant { Id = merchantId, Name = name, CreatedAt = now });
            }
            else
            {
                merchantId = rest.ElementAtOrDefault(0) ?? throw new ArgumentException("keys create needs a merchant id");
                if (!await db.Merchants.AnyAsync(m => m.Id == merchantId)) { Console.Error.WriteLine($"No such merchant {merchantId}"); return true; }
            }
            var scopes = rest.ElementAtOrDefault(1) ?? "*";
            var (secret, row) = ApiKeys.Generate(merchantId, scopes, now);
            db.ApiKeys.Add(row);
            await db.SaveChangesAsync();
            await Features.Audit.AuditedRequests.RecordCliAsync(app.Services, args, merchantId, row.Id);
            Console.WriteLine($"merchant: {merchantId}");
            Console.WriteLine($"secret key (shown once): {secret}");
            Console.WriteLine($"scopes: {scopes}");
        }
        finally
        {
            await app.StopAsync();
        }
        return true;
    }
}
