namespace KnowPay.Features.Payouts;

/// <summary>A transfer to send: the payout id doubles as the provider's idempotency key (out_transfer_no).</summary>
public sealed record TransferRequest(string PayoutId, string Payee, long Amount, string Currency);

public enum TransferStatus { Processing, Succeeded, Failed }

/// <summary>What the provider says about a transfer, from its answer, a query or a notification.</summary>
public sealed record TransferResult(TransferStatus Status, string? ProviderTransferNo, string? FailureCode = null);

/// <summary>A provider that can pay creators out. Sending is idempotent at the provider, so it may be repeated (that is also how a payout is queried).</summary>
public interface IPayoutRail
{
    string Name { get; }
    Task<TransferResult> SendAsync(TransferRequest request, CancellationToken ct);
}

public sealed class PayoutRails(IEnumerable<IPayoutRail> rails)
{
    readonly Dictionary<string, IPayoutRail> byName = rails.ToDictionary(r => r.Name, StringComparer.Ordinal);

    public bool TryGet(string? name, out IPayoutRail rail) => byName.TryGetValue(name ?? "", out rail!);

    public IReadOnlyCollection<string> Names => byName.Keys;
}
