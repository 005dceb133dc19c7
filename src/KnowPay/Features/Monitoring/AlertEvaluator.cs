using System.Globalization;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Events;
using KnowPay.Features.Risk;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Monitoring;

/// <summary>
/// Evaluates <c>Alerts:Rules</c> from the DATABASE (so every node reaches the same verdict): a newly true condition
/// inserts an alert and an <c>alert.fired</c> event in one transaction; a cleared one resolves it with
/// <c>alert.resolved</c>. Besides the configured rules it judges the anomalies of <c>Risk:Anomaly</c>
/// (<see cref="Anomalies"/>: success rate, refund rate, risk block rate, order volume). Concurrent nodes: the filtered unique index admits one open alert, the conditional
/// resolve admits one resolver.
/// </summary>
public sealed class AlertEvaluator(IServiceScopeFactory scopes, IOptions<AlertsOptions> alerts, ILogger<AlertEvaluator> log) : IJob
{
    public string Name => "alert_evaluator";
    /// <summary><c>Alerts:EvaluateEverySeconds</c> (default 30): the rules look back minutes (success rate over 900 s), and
    /// each evaluation aggregates every payment of the window, so evaluating more often costs the database work that
    /// grows with the payment rate and tells nothing new.</summary>
    public TimeSpan Every => TimeSpan.FromSeconds(alerts.Value.EvaluateEverySeconds);

    /// <summary>Threshold: what the alert stores, when not the rule's. Undecided: too little data to clear an open alert.
    /// Baseline: an anomaly's baseline the threshold comes from.</summary>
    sealed record Condition(string MerchantId, AlertRule Rule, string Subject, double Value, bool Firing, string Message,
        double? Threshold = null, bool Undecided = false, string? Baseline = null);

    static readonly Dictionary<string, AlertRule> AnomalyRules = AnomalyMetric.All.ToDictionary(m => m.Rule, m => new AlertRule { Name = m.Rule, Kind = m.Rule });

    public async Task<int> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        if (!alerts.Value.Enabled) return 0;
        var rules = alerts.Value.Rules ?? AlertRule.Defaults;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<KnowPayDb>();
        var conditions = new List<Condition>();
        var failedRules = new HashSet<string>();
        foreach (var rule in rules)
        {
            // A rule that cannot be evaluated never stops the others; its open alerts stay as they are.
            try
            {
                conditions.AddRange(await EvaluateAsync(db, scope.ServiceProvider, rule, now, ct));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Alert rule {Rule} could not be evaluated; the others go on", rule.Name);
                KnowPayMetrics.JobItemFailed(Name, "");
                failedRules.Add(rule.Name);
            }
        }
        if (scope.ServiceProvider.GetService<Anomalies>() is { Enabled: true } anomalies)
        {
            try
            {
                conditions.AddRange((await anomalies.EvaluateAsync(db, now, ct)).Select(f => new Condition(f.MerchantId, AnomalyRules[f.Rule], f.Provider,
                    f.Verdict.Rate, f.Verdict.Anomalous, f.Message, f.Verdict.BaselineRate, f.Verdict.TooFew, BaselineName(f.Baseline))));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Anomalies could not be evaluated; the other rules go on");
                KnowPayMetrics.JobItemFailed(Name, "");
                failedRules.UnionWith(AnomalyRules.Keys);
            }
        }

        var open = await db.Alerts.AsNoTracking().Where(a => a.ResolvedAt == null).ToListAsync(ct);
        var changes = 0;
        foreach (var c in conditions.Where(c => c.Firing))
        {
            if (open.Any(a => a.MerchantId == c.MerchantId && a.Rule == c.Rule.Name && a.Subject == c.Subject)) continue;
            var alert = new Alert
            {
                Id = Ids.New("alr"), MerchantId = c.MerchantId, Rule = c.Rule.Name, Kind = c.Rule.Kind, Subject = c.Subject,
                Value = c.Value, Threshold = c.Threshold ?? c.Rule.Threshold, Baseline = c.Baseline, Message = c.Message, FiredAt = now,
            };
            db.Add(alert);
            Outbox.Add(db, c.MerchantId, "alert.fired", alert.Id, AlertView.From(alert), now);
            try
            {
                await db.SaveChangesAsync(ct);
                changes++;
                KnowPayMetrics.AlertTransition(c.Rule.Name, "fired");
                log.LogWarning("Alert {Rule} fired for {Merchant}/{Subject}: {Message}", c.Rule.Name, c.MerchantId, c.Subject, c.Message);
            }
            catch (DbUpdateException e) when (DbErrors.IsUniqueViolation(e))
            {
                // Another node fired it first.
            }
            db.ChangeTracker.Clear();
        }
        foreach (var alert in open)
        {
            var still = conditions.Any(c => (c.Firing || c.Undecided) && c.MerchantId == alert.MerchantId && c.Rule.Name == alert.Rule && c.Subject == alert.Subject);
            if (still || failedRules.Contains(alert.Rule)) continue;
            // The value at resolution (e.g. the recovered success rate); no data at all keeps the value it fired with.
            var current = conditions.FirstOrDefault(c => c.MerchantId == alert.MerchantId && c.Rule.Name == alert.Rule && c.Subject == alert.Subject);
            var value = current?.Value ?? alert.Value;
            var message = current?.Message ?? alert.Message;
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var won = await db.Alerts.Where(a => a.Id == alert.Id && a.ResolvedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.ResolvedAt, now).SetProperty(a => a.Value, value).SetProperty(a => a.Message, message), ct);
            if (won == 0) continue;
            alert.ResolvedAt = now;
            alert.Value = value;
            alert.Message = message;
            Outbox.Add(db, alert.MerchantId, "alert.resolved", alert.Id, AlertView.From(alert), now);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            db.ChangeTracker.Clear();
            changes++;
            KnowPayMetrics.AlertTransition(alert.Rule, "resolved");
            log.LogInformation("Alert {Rule} resolved for {Merchant}/{Subject}", alert.Rule, alert.MerchantId, alert.Subject);
        }
        return changes;
    }

    static string BaselineName(AnomalyBaselineKind kind) => kind == AnomalyBaselineKind.SameHour ? "same_hour" : "every_hour";

    async Task<IEnumerable<Condition>> EvaluateAsync(KnowPayDb db, IServiceProvider services, AlertRule rule, DateTime now, CancellationToken ct)
    {
        var from = now.AddSeconds(-rule.WindowSeconds);
        var graceCutoff = now.AddSeconds(-rule.PendingGraceSeconds);
        var payments = db.Payments.AsNoTracking().Where(p => p.CreatedAt >= from && p.CreatedAt <= now);
        if (rule.Provider is { Length: > 0 } only) payments = payments.Where(p => p.Provider == only);
        switch (rule.Kind)
        {
            case "success_rate":
            {
                var rows = await payments.Where(p => p.Status != PaymentStatus.Pending || p.CreatedAt <= graceCutoff)
                    .GroupBy(p => new { p.MerchantId, p.Provider })
                    .Select(g => new { g.Key.MerchantId, g.Key.Provider, Settled = g.Count(), Succeeded = g.Count(p => p.Status == PaymentStatus.Succeeded) })
                    .ToListAsync(ct);
                return rows.Select(r =>
                {
                    var rate = r.Settled == 0 ? 1.0 : (double)r.Succeeded / r.Settled;
                    return new Condition(r.MerchantId, rule, r.Provider, rate, r.Settled >= rule.MinCount && rate < rule.Threshold,
                        string.Create(CultureInfo.InvariantCulture, $"{r.Provider} success rate {rate:P1} ({r.Succeeded}/{r.Settled}) over {rule.WindowSeconds} s; alert below {rule.Threshold:P0}"));
                });
            }
            case "pending_backlog":
            {
                var rows = await payments.Where(p => p.Status == PaymentStatus.Pending && p.CreatedAt <= graceCutoff)
                    .GroupBy(p => new { p.MerchantId, p.Provider }).Select(g => new { g.Key.MerchantId, g.Key.Provider, Count = g.Count() }).ToListAsync(ct);
                return rows.Select(r => new Condition(r.MerchantId, rule, r.Provider, r.Count, r.Count >= rule.Threshold,
                    string.Create(CultureInfo.InvariantCulture, $"{r.Count} {r.Provider} payments unconfirmed after {rule.PendingGraceSeconds} s")));
            }
            case "error_spike":
            {
                var rows = await payments.Where(p => p.Status == PaymentStatus.Failed)
                    .GroupBy(p => new { p.MerchantId, p.Provider }).Select(g => new { g.Key.MerchantId, g.Key.Provider, Count = g.Count() }).ToListAsync(ct);
                return rows.Select(r => new Condition(r.MerchantId, rule, r.Provider, r.Count, r.Count >= rule.Threshold,
                    string.Create(CultureInfo.InvariantCulture, $"{r.Count} {r.Provider} payments failed in {rule.WindowSeconds} s")));
            }
            case "outbox_lag":
            {
                var backlog = await services.GetRequiredService<IOutboxBacklog>().MeasureAsync(db, now, ct);
                return backlog.Select(b => new Condition(b.MerchantId, rule, "outbox", b.OldestAgeSeconds, b.OldestAgeSeconds >= rule.Threshold,
                    string.Create(CultureInfo.InvariantCulture, $"{b.Undelivered} webhook deliveries pending; oldest {b.OldestAgeSeconds:F0} s")));
            }
            case "reconciliation_difference":
            {
                // Open differences a bill cannot explain: a success the provider never had, or an amount off.
                var rows = await db.ReconciliationItems.AsNoTracking()
                    .Where(i => i.Resolution == null && i.MerchantId != null && (i.Kind == "missing_at_provider" || i.Kind == "amount_mismatch"))
                    .Join(db.ReconciliationRuns, i => i.RunId, r => r.Id, (i, r) => new { i.MerchantId, r.Provider })
                    .Where(x => rule.Provider == null || rule.Provider == "" || x.Provider == rule.Provider)
                    .GroupBy(x => new { x.MerchantId, x.Provider }).Select(g => new { g.Key.MerchantId, g.Key.Provider, Count = g.Count() }).ToListAsync(ct);
                return rows.Select(r => new Condition(r.MerchantId!, rule, r.Provider, r.Count, r.Count >= rule.Threshold,
                    string.Create(CultureInfo.InvariantCulture, $"{r.Count} {r.Provider} reconciliation differences open (missing at the provider or amount mismatch)")));
            }
            default:
                log.LogWarning("Alert rule {Rule} has unknown kind '{Kind}'; ignored", rule.Name, rule.Kind);
                return [];
        }
    }
}
