namespace KnowPay.Features.Billing;

/// <summary>Every billing endpoint: subscriptions, invoices, mandates, test clocks.</summary>
public static class BillingEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        CreateSubscription.Map(v1);
        GetSubscriptions.Map(v1);
        ChangeSubscriptionPrice.Map(v1);
        CancelSubscription.Map(v1);
        ResumeSubscription.Map(v1);
        GetInvoices.Map(v1);
        Mandates.Map(v1);
        TestClocks.Map(v1);
    }
}
