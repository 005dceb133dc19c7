using KnowPay.Infrastructure;

namespace KnowPay.Features.Reconciliation;

/// <summary><c>Reconciliation:*</c>: when the daily bill import runs and how long an unbilled payment waits before it is called missing.</summary>
public sealed class ReconciliationOptions : IBoundOptions
{
    public static string Section => "Reconciliation";
    /// <summary>Yesterday's bill is imported from this hour of the provider's day (China time for Alipay and WeChat Pay, ready ~09:00–10:00).</summary>
    [Between(0, 23)] public int BillHour { get; set; } = 10;
    /// <summary>A payment or refund missing from its day's bill waits this many later bills (cut-off differences) before it is missing_at_provider.</summary>
    [Between(0, 30)] public int CarryDays { get; set; } = 1;
}
