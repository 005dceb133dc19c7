namespace KnowPay.Providers;

/// <summary>Used until the refunds feature registers its own <see cref="IRefundUpdates"/>: logs and ignores.</summary>
sealed class PendingRefundUpdates(ILogger<PendingRefundUpdates> log) : IRefundUpdates
{
    public Task ApplyAsync(string provider, string refundId, ProviderRefundResult result, CancellationToken ct)
    {
        log.LogWarning("Refund update from {Provider} for {RefundId} ({Status}) not applied: refunds are not enabled", provider, refundId, result.Status);
        return Task.CompletedTask;
    }
}
