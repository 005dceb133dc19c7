using System.ComponentModel.DataAnnotations;
using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Features.Billing;

/// <summary><c>Billing:*</c>: subscriptions' dunning and access.</summary>
public sealed class BillingOptions : IBoundOptions
{
    public static string Section => "Billing";
    /// <summary>Days after an invoice's first failed charge when it is retried; empty = [1, 3, 5, 7].</summary>
    [RetryDays] public List<int>? RetryDays { get; set; }
    /// <summary>What a subscription becomes when every retry failed: unpaid (the invoice stays open) or canceled.</summary>
    [AllowedValues("unpaid", "canceled", ErrorMessage = "Billing:AfterRetries must be unpaid or canceled")]
    public string AfterRetries { get; set; } = "unpaid";
    /// <summary>Days the learner keeps access after the retries are exhausted, before the entitlement is revoked.</summary>
    [Between(0, 365)] public double GraceDays { get; set; } = 3;
    /// <summary>Days a send_invoice invoice's checkout link stays payable.</summary>
    [Between(1, 365)] public int DaysUntilDue { get; set; } = 7;
    /// <summary>How long a charge with no final answer waits before the engine asks the provider again (same payment, no second charge).</summary>
    [Between(1, 86400)] public int PendingRecheckSeconds { get; set; } = 3600;
    /// <summary>How many claimed subscriptions one node renews at once (PostgreSQL; SQLite renews one at a time).</summary>
    [Between(1, 64)] public int RenewalConcurrency { get; set; } = 8;
    /// <summary>How long a node's claim on due subscriptions holds: after a crash, other nodes renew them once it has passed.</summary>
    [Between(1, 3600)] public int RenewalLeaseSeconds { get; set; } = 300;

    public DunningSchedule Dunning => RetryDays is { Count: > 0 } days ? new DunningSchedule(days) : DunningSchedule.Default;
    public bool CancelAfterRetries => AfterRetries == "canceled";

    [AttributeUsage(AttributeTargets.Property)]
    sealed class RetryDaysAttribute : ValidationAttribute
    {
        public RetryDaysAttribute() => ErrorMessage = "{0} must be increasing positive days (at most 20), e.g. [1, 3, 5, 7]";
        public override bool IsValid(object? value) => value is not List<int> days || DunningSchedule.IsValid(days);
    }
}
