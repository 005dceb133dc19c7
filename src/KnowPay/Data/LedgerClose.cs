using Microsoft.EntityFrameworkCore;

namespace KnowPay.Data;

/// <summary>
/// A closed ledger day (UTC) of one merchant and currency: unique per (merchant, currency, day). No entry dated into it
/// can be written afterwards (a trigger refuses it, see <c>LedgerPeriods</c>); the report is what the day looked like.
/// </summary>
public sealed class LedgerClose
{
    public required string Id { get; init; }
    public required string MerchantId { get; init; }
    public required string Currency { get; init; }
    public DateOnly Day { get; init; }
    public DateTime ClosedAt { get; init; }
    /// <summary>The API key that closed it, or "job".</summary>
    public required string ClosedBy { get; init; }
    public List<LedgerCloseLine> Lines { get; init; } = [];
}

/// <summary>
/// One account class of a close (creators' and customers' accounts summed; providers' kept apart): closing = opening +
/// payments + refunds + fees + payouts + other, each the day's entries of journals of that kind (debit positive).
/// </summary>
public sealed class LedgerCloseLine
{
    public long Id { get; init; }
    public required string CloseId { get; init; }
    public required string AccountClass { get; init; }
    public long Opening { get; init; }
    public long Payments { get; init; }
    public long Refunds { get; init; }
    public long Fees { get; init; }
    public long Payouts { get; init; }
    public long Other { get; init; }
    public long Closing { get; init; }
}

static class LedgerCloseModel
{
    public static void Configure(ModelBuilder model)
    {
        model.Entity<LedgerClose>(e =>
        {
            e.ToTable("ledger_closes");
            e.HasIndex(c => new { c.MerchantId, c.Currency, c.Day }).IsUnique();
            e.Property(c => c.Currency).HasMaxLength(3);
            e.HasMany(c => c.Lines).WithOne().HasForeignKey(l => l.CloseId);
        });
        model.Entity<LedgerCloseLine>(e =>
        {
            e.ToTable("ledger_close_lines");
            e.HasIndex(l => l.CloseId);
        });
    }
}
