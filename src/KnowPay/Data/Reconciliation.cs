using Microsoft.EntityFrameworkCore;

namespace KnowPay.Data;

/// <summary>
/// A reconciliation run (rec_): one provider's bill for one day (the provider's own day: China time for Alipay and WeChat
/// Pay), imported and matched. One per provider and day; running it again re-imports (idempotently) and re-matches.
/// </summary>
public sealed class ReconciliationRun
{
    public required string Id { get; init; }
    public required string Provider { get; init; }
    public DateOnly Day { get; init; }
    /// <summary>pending, waiting (the bill is not ready yet), completed, failed.</summary>
    public required string Status { get; set; }
    /// <summary>Why it failed or waits; with <see cref="FailedLine"/> when a line of the bill is at fault.</summary>
    public string? Reason { get; set; }
    public int? FailedLine { get; set; }
    public int LineCount { get; set; }
    /// <summary>SHA-256 of the bill as downloaded: a re-import of a changed bill shows here.</summary>
    public string? Checksum { get; set; }
    public int Matched { get; set; }
    public int Differences { get; set; }
    public int Attempts { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? StartedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
}

/// <summary>One row of a provider's bill as imported; unique per provider, day and <see cref="Key"/> (payment:… / refund:…).</summary>
public sealed class BillLineRow
{
    public long Id { get; init; }
    public required string Provider { get; init; }
    public DateOnly Day { get; init; }
    public required string Key { get; init; }
    public required string RunId { get; init; }
    public int LineNumber { get; init; }
    /// <summary>payment or refund.</summary>
    public required string Kind { get; init; }
    public required string OutTradeNo { get; init; }
    public string? ProviderTradeNo { get; init; }
    public string? OutRefundNo { get; init; }
    public string? ProviderRefundNo { get; init; }
    public long Amount { get; init; }
    public required string Currency { get; init; }
    public long Fee { get; init; }
    /// <summary>succeeded, pending or failed, as the bill states it.</summary>
    public required string Status { get; init; }
    public DateTime? At { get; init; }
}

/// <summary>A difference found by a run (or a match, which is counted, not stored): what KnowPay holds against what the bill says.</summary>
public sealed class ReconciliationItem
{
    public required string Id { get; init; }
    public required string RunId { get; init; }
    /// <summary>
    /// missing_in_knowpay, missing_at_provider, amount_mismatch, status_mismatch, currency_mismatch, fee_mismatch,
    /// ledger_difference, entitlement_missing, entitlement_without_payment.
    /// </summary>
    public required string Kind { get; init; }
    /// <summary>The merchant whose payment or refund it is; null when the bill names a trade KnowPay does not know.</summary>
    public string? MerchantId { get; init; }
    public string? PaymentId { get; init; }
    public string? RefundId { get; init; }
    public string? LineKey { get; init; }
    public long? ExpectedAmount { get; init; }
    public long? BillAmount { get; init; }
    public string? Currency { get; init; }
    /// <summary>The order an entitlement difference concerns (grant); else the payment's order is used.</summary>
    public string? OrderId { get; init; }
    /// <summary>The entitlement a difference concerns (revoke); else the order's active one is used.</summary>
    public string? EntitlementId { get; init; }
    /// <summary>
    /// What was done about it: "confirmed" (a provider's success confirmed through the normal path), or an operator's
    /// acknowledge, grant or revoke (<see cref="ResolvedBy"/>, <see cref="ResolvedAt"/>, <see cref="ResolutionNote"/>).
    /// </summary>
    public string? Resolution { get; set; }
    public string? Note { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? ResolvedAt { get; set; }
    /// <summary>The API key that resolved it.</summary>
    public string? ResolvedBy { get; set; }
    public string? ResolutionNote { get; set; }
    /// <summary>The fix offered, never applied by the run: grant or revoke (entitlement differences).</summary>
    public string? OfferedAction { get; init; }
    /// <summary>The journal the run posted for it (a fee true-up).</summary>
    public string? JournalId { get; init; }
}

static class ReconciliationModel
{
    public static void Configure(ModelBuilder model)
    {
        model.Entity<ReconciliationRun>(e =>
        {
            e.ToTable("reconciliation_runs");
            e.HasIndex(r => new { r.Provider, r.Day }).IsUnique();
            e.Property(r => r.Status).HasMaxLength(16);
            e.Property(r => r.Reason).HasMaxLength(1000);
        });
        model.Entity<BillLineRow>(e =>
        {
            e.ToTable("bill_lines");
            e.HasIndex(l => new { l.Provider, l.Day, l.Key }).IsUnique();
            e.HasIndex(l => new { l.Provider, l.OutTradeNo });
            e.HasIndex(l => l.RunId);
            e.Property(l => l.Kind).HasMaxLength(16);
            e.Property(l => l.Status).HasMaxLength(16);
        });
        model.Entity<ReconciliationItem>(e =>
        {
            e.ToTable("reconciliation_items");
            e.HasIndex(i => new { i.RunId, i.Kind, i.Id });
            e.Property(i => i.Kind).HasMaxLength(32);
            e.Property(i => i.Note).HasMaxLength(1000);
            e.Property(i => i.ResolutionNote).HasMaxLength(1000);
            e.Property(i => i.OfferedAction).HasMaxLength(16);
        });
    }
}
