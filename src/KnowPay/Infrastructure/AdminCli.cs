using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Keys;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Infrastructure;

/// <summary>
/// Operator commands (<c>dotnet run --project src/KnowPay -- …</c>; other <c>--Setting=value</c> arguments configure the
/// database as for the server):
/// <c>merchants create "Name" [scopes]</c> creates a merchant and prints its secret key once;
/// <c>keys create mer_… [scopes]</c> adds a key to a merchant; <c>keys list mer_…</c> lists its keys (never a secret);
/// <c>keys roll key_… [--overlap-seconds N]</c> makes a new key with the same scopes and lets the old one expire after the
/// overlap (default 86400); <c>keys revoke key_…</c> refuses a key from now on — also a merchant's last one, which the
/// API does not allow. A failed command sets exit code 1.
/// </summary>
public static class AdminCli
{
    const string OverlapOption = "--overlap-seconds";

    public static async Task<bool> TryRunAsync(string[] args, TextWriter? output = null, TextWriter? errors = null)
    {
        if (args.Length < 2 || (args[0], args[1]) is not (("merchants", "create") or ("keys", "create" or "list" or "roll" or "revoke"))) return false;
        output ??= Console.Out;
        errors ??= Console.Error;
        var (rest, overlapSeconds, settings) = Split(args.Skip(2));
        var app = KnowPayApp.Build(settings, b => b.Configuration["Jobs:Enabled"] = "false");
        await app.StartAsync();
        try
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
            var (error, merchantId, keyId) = (args[0], args[1]) switch
            {
                ("keys", "list") => await ListAsync(db, rest, output),
                ("keys", "roll") => await RollAsync(db, rest, overlapSeconds, output),
                ("keys", "revoke") => await RevokeAsync(db, rest, output),
                _ => await CreateAsync(db, args[0] == "merchants", rest, output),
            };
            if (error is not null)
            {
                await errors.WriteLineAsync(error);
                Environment.ExitCode = 1;
            }
            // Every command that did something is on the merchant's audit trail (a refused one changed nothing).
            else if (merchantId is not null) await Features.Audit.AuditedRequests.RecordCliAsync(app.Services, args, merchantId, keyId);
        }
        finally
        {
            await app.StopAsync();
        }
        return true;
    }

    /// <summary>Positional arguments, the value of --overlap-seconds, and the remaining --settings for the host.</summary>
    static (string[] Positional, string? OverlapSeconds, string[] Settings) Split(IEnumerable<string> args)
    {
        var rest = new List<string>();
        var settings = new List<string>();
        string? overlap = null;
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            var arg = e.Current;
            if (arg == OverlapOption) overlap = e.MoveNext() ? e.Current : "";
            else if (arg.StartsWith(OverlapOption + "=", StringComparison.Ordinal)) overlap = arg[(OverlapOption.Length + 1)..];
            else if (arg.StartsWith("--", StringComparison.Ordinal)) settings.Add(arg);
            else rest.Add(arg);
        }
        return ([.. rest], overlap, [.. settings]);
    }

    /// <summary>A command's error (null when it succeeded) and the merchant and key it acted on, for the audit trail.</summary>
    readonly record struct Outcome(string? Error, string? MerchantId = null, string? KeyId = null)
    {
        public static implicit operator Outcome(string error) => new(error);
    }

    static async Task<Outcome> CreateAsync(KnowPayDb db, bool newMerchant, string[] rest, TextWriter output)
    {
        var now = DateTime.UtcNow;
        string merchantId;
        if (newMerchant)
        {
            var name = rest.ElementAtOrDefault(0) ?? "New merchant";
            merchantId = Ids.New("mer");
            db.Merchants.Add(new Merchant { Id = merchantId, Name = name, CreatedAt = now });
        }
        else
        {
            merchantId = rest.ElementAtOrDefault(0) ?? "";
            if (!await db.Merchants.AnyAsync(m => m.Id == merchantId)) return $"No such merchant '{merchantId}' (keys create mer_… [scopes]).";
        }
        var scopes = rest.ElementAtOrDefault(1) ?? "*";
        var (secret, row) = ApiKeys.Generate(merchantId, scopes, now);
        db.ApiKeys.Add(row);
        await db.SaveChangesAsync();
        await output.WriteLineAsync($"merchant: {merchantId}");
        await output.WriteLineAsync($"key: {row.Id}");
        await output.WriteLineAsync($"secret key (shown once): {secret}");
        await output.WriteLineAsync($"scopes: {scopes}");
        return new(null, merchantId, row.Id);
    }

    static async Task<Outcome> ListAsync(KnowPayDb db, string[] rest, TextWriter output)
    {
        var merchantId = rest.ElementAtOrDefault(0) ?? "";
        if (!await db.Merchants.AnyAsync(m => m.Id == merchantId)) return $"No such merchant '{merchantId}' (keys list mer_…).";
        var now = DateTime.UtcNow;
        await output.WriteLineAsync("id\tprefix\tstatus\tscopes\tcreated_at\texpires_at\tlast_used_at\trevoked_at");
        foreach (var key in await ListApiKeys.ListAsync(db, merchantId, int.MaxValue, null, CancellationToken.None))
            await output.WriteLineAsync(string.Join('\t', key.Id, key.Prefix, ApiKeyView.StatusOf(key, now), key.Scopes,
                Time(key.CreatedAt), Time(key.ExpiresAt), Time(key.LastUsedAt), Time(key.RevokedAt)));
        return new(null, merchantId);
    }

    static async Task<Outcome> RollAsync(KnowPayDb db, string[] rest, string? overlapSeconds, TextWriter output)
    {
        long? seconds = null;
        if (overlapSeconds is not null)
        {
            if (!long.TryParse(overlapSeconds, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                return $"{OverlapOption} takes a number of seconds, not '{overlapSeconds}'.";
            seconds = parsed;
        }
        if (RollApiKey.Overlap(seconds) is not { } overlap)
            return $"{OverlapOption} is between 0 and {(long)RollApiKey.MaxOverlap.TotalSeconds}.";
        var keyId = rest.ElementAtOrDefault(0) ?? "";
        var old = await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Id == keyId);
        if (old is null) return $"No such key '{keyId}' (keys roll key_… [{OverlapOption} N]).";
        var now = DateTime.UtcNow;
        if (await RollApiKey.RollAsync(db, old, overlap, now, CancellationToken.None) is not { } rolled)
            return $"Key {keyId} is {ApiKeyView.StatusOf(old, now)}: only an active key can be rolled.";
        await output.WriteLineAsync($"merchant: {old.MerchantId}");
        await output.WriteLineAsync($"key: {rolled.Key.Id}");
        await output.WriteLineAsync($"secret key (shown once): {rolled.Secret}");
        await output.WriteLineAsync($"scopes: {rolled.Key.Scopes}");
        var oldExpiresAt = await db.ApiKeys.Where(k => k.Id == old.Id).Select(k => k.ExpiresAt).SingleAsync();
        await output.WriteLineAsync($"old key {old.Id} expires at {Time(oldExpiresAt)}");
        return new(null, old.MerchantId, rolled.Key.Id);
    }

    static async Task<Outcome> RevokeAsync(KnowPayDb db, string[] rest, TextWriter output)
    {
        var keyId = rest.ElementAtOrDefault(0) ?? "";
        var key = await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Id == keyId);
        if (key is null) return $"No such key '{keyId}' (keys revoke key_…).";
        var outcome = await RevokeApiKey.RevokeAsync(db, key, DateTime.UtcNow, allowLastActive: true, CancellationToken.None);
        await output.WriteLineAsync(outcome == RevokeOutcome.AlreadyRevoked ? $"key {keyId} was already revoked" : $"key {keyId} revoked");
        return new(null, key.MerchantId, key.Id);
    }

    static string Time(DateTime? t) => t?.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-";
}
