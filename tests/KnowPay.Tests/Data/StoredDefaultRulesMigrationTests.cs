using System.Text.Json;
using KnowPay.Data;
using KnowPay.Data.Migrations;
using KnowPay.Features.Risk;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Data;

/// <summary>
/// Migration AnomalySameHourRates (its data step): a merchant whose policy row was stored with the three built-in rules that
/// preceded <c>card_testing_cards</c> (by changing a limit) gets today's four, with a new version; a merchant who edited
/// its rules keeps them, version and all. The database is taken back to the migration before, the rows written as the
/// older code wrote them, then migrated up again, as an upgrade does.
/// </summary>
[Collection("server")]
public sealed class StoredDefaultRulesMigrationTests(Servers servers)
{
    /// <summary>The three rules a merchant's first policy change stored before <c>card_testing_cards</c>.</summary>
    static readonly RuleInput[] EarlierDefaults = [.. RiskPolicies.Defaults.Where(r => r.Id != "card_testing_cards")];

    [Fact]
    public void TheFrozenTexts_AreWhatTheOlderAndTodaysCodeStore()
    {
        Assert.Equal(CardTestingCardsBackfill.ThreeEarlierDefaults, JsonSerializer.Serialize<IReadOnlyList<RuleInput>>(EarlierDefaults));
        Assert.Equal(CardTestingCardsBackfill.FourDefaults, JsonSerializer.Serialize(RiskPolicies.Defaults));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StoredEarlierDefaults_GetCardTestingCards_EditedRulesAreLeftAlone(Db db)
    {
        _ = servers;
        await using var server = await KnowPayServer.StartAsync(db);
        var untouched = await server.NewMerchantAsync();
        var edited = await server.NewMerchantAsync();
        RuleInput[] custom = [new("card_testing", "block if :failed_attempts_per_ip_10m: >= 10"), new("refund_abuse", "review if :stage: == 'refund' and :consumed_progress: >= 80")];

        await server.QueryAsync(async d =>
        {
            var migrations = d.Database.GetMigrations().ToList();
            var backfill = migrations.FindIndex(m => m.EndsWith("_AnomalySameHourRates", StringComparison.Ordinal));
            Assert.True(backfill > 0, "migration AnomalySameHourRates not found");
            await d.GetService<IMigrator>().MigrateAsync(migrations[backfill - 1]);
            d.RiskPolicies.AddRange(
                new RiskPolicy { MerchantId = untouched.MerchantId, Rules = JsonSerializer.Serialize<IReadOnlyList<RuleInput>>(EarlierDefaults), SinglePaymentMax = 500_000, Version = 1, UpdatedAt = DateTime.UtcNow },
                new RiskPolicy { MerchantId = edited.MerchantId, Rules = JsonSerializer.Serialize(custom), Version = 3, UpdatedAt = DateTime.UtcNow });
            await d.SaveChangesAsync();
            await d.GetService<IMigrator>().MigrateAsync();
            return 0;
        });

        var upgraded = await untouched.GetOkAsync("/v1/risk/rules");
        Assert.Equal(RiskPolicies.Defaults.Select(r => r.Id), upgraded["rules"]!.AsArray().Select(r => (string?)r!["id"]));
        Assert.Equal(RiskPolicies.Defaults.Select(r => r.Rule), upgraded["rules"]!.AsArray().Select(r => (string?)r!["rule"]));
        Assert.Equal(2, (long)upgraded["version"]!);
        var kept = await edited.GetOkAsync("/v1/risk/rules");
        Assert.Equal(custom.Select(r => r.Rule), kept["rules"]!.AsArray().Select(r => (string?)r!["rule"]));
        Assert.Equal(3, (long)kept["version"]!);
        // The limit the merchant set stays.
        var limits = await server.QueryAsync(d => d.RiskPolicies.AsNoTracking().SingleAsync(p => p.MerchantId == untouched.MerchantId));
        Assert.Equal(500_000L, limits.SinglePaymentMax!.Value);
    }
}
