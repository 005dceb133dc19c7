using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Catalog;
using KnowPay.Features.Entitlements;
using KnowPay.Features.Events;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace KnowPay.Features.Billing;

/// <param name="Currency">Optional: when given, it must be the price's currency.</param>
/// <param name="MandateId">Optional: charge under this agreement of the customer (else an active one is reused or a new one signed).</param>
/// <param name="TestClock">Sandbox mode only: the subscription lives by this test clock's frozen time.</param>
public sealed record CreateSubscriptionRequest(
    string? CustomerId, string? CustomerExternalId, [property: Required] string? PriceId, string? CollectionMethod, string? Provider, string? Method,
    int? TrialPeriodDays, string? Currency, string? MandateId, string? TestClock, [property: ColumnLength(TextInput.ReturnUrl)] string? ReturnUrl);

/// <summary>
/// POST /v1/subscriptions. charge_automatically: the customer's active agreement with the provider is reused, or a pending one
/// is started at the provider (its id is the provider's external agreement number, so asking twice signs one) and returned as
/// <c>pending_mandate.next_action</c>; the first invoice is charged once it is active. send_invoice: the open invoice has a
/// checkout link. The provider is asked before anything is written; subscription, invoice, order, agreement and events then
/// commit together.
/// </summary>
public static class CreateSubscription
{
    public static void Map(RouteGroupBuilder v1) =>
        v1.MapPost("/subscriptions", Handle).RequireScope("billing:write").Produces(StatusCodes.Status404NotFound);

    static async Task<Results<Created<SubscriptionView>, ProblemHttpResult>> Handle(
        CreateSubscriptionRequest body, AuthenticatedMerchant merchant, IServiceProvider services, CancellationToken ct)
    {
        var s = BillingServices.From(services);
        var db = s.Db;
        var collection = body.CollectionMethod ?? CollectionMethods.ChargeAutomatically;
        if (collection is not (CollectionMethods.ChargeAutomatically or CollectionMethods.SendInvoice))
            return Problems.Invalid("collection_method_invalid", "collection_method", "collection_method is charge_automatically or send_invoice.");
        if (string.IsNullOrEmpty(body.CustomerId) == string.IsNullOrEmpty(body.CustomerExternalId) || body.CustomerExternalId is { Length: > 200 })
            return Problems.Invalid("customer_invalid", "customer_id", "Give exactly one of customer_id or customer_external_id (at most 200 characters).");
        if (body.ReturnUrl is not null && !Uri.TryCreate(body.ReturnUrl, UriKind.Absolute, out _))
            return Problems.Invalid("return_url_invalid", "return_url", "return_url must be an absolute URL.");

        var found = await db.ProductPrices.AsNoTracking().Where(p => p.Id == body.PriceId)
            .Join(db.Products.AsNoTracking().Where(p => p.MerchantId == merchant.Id), x => x.ProductId, p => p.Id, (x, p) => new { Price = x, Product = p })
            .SingleOrDefaultAsync(ct);
        if (found is null) return Problems.NotFound("price", body.PriceId ?? "");
        var (price, product) = (found.Price, found.Product);
        if (!BillingSchedule.TryParse(price.RecurringInterval, price.RecurringIntervalCount, out var schedule, out _))
            return Problems.Invalid("price_not_recurring", "price_id", $"Price '{price.Id}' is a one-time price; a subscription needs a price with recurring.");
        if (!price.Active) return Problems.Conflict("price_inactive", $"Price '{price.Id}' was replaced by a newer version; subscribe to the active one.");
        if (product.Status != ProductStatus.Published)
            return Problems.Conflict("product_not_published", $"Product '{product.Id}' is {product.Status.ToString().ToLowerInvariant()}; only published products sell.");
        if (body.Currency is not null && !string.Equals(body.Currency, price.Currency, StringComparison.OrdinalIgnoreCase))
            return Problems.Invalid("currency_unsupported", "currency", $"Price '{price.Id}' is in {price.Currency}, not {body.Currency}.");
        var trialDays = body.TrialPeriodDays ?? price.TrialPeriodDays ?? 0;
        if (trialDays is < 0 or > 730) return Problems.Invalid("trial_period_days_invalid", "trial_period_days", "trial_period_days is 0–730.");

        IRecurringProvider? recurring = null;
        string method = "checkout";
        if (collection == CollectionMethods.ChargeAutomatically)
        {
            if (!s.Recurring.TryGet(body.Provider, out recurring))
                return Problems.Invalid("provider_unsupported", "provider", s.Payments.TryGet(body.Provider, out _)
                    ? $"Provider '{body.Provider}' has no payment agreements (PayPal is send_invoice only): use collection_method send_invoice, or one of {string.Join(", ", s.Recurring.Names)}."
                    : $"Provider '{body.Provider}' cannot charge under an agreement here. Enabled: {string.Join(", ", s.Recurring.Names)}.");
            method = body.Method ?? recurring.SignMethods.First();
            if (!recurring.SignMethods.Contains(method))
                return Problems.Invalid("method_unsupported", "method", $"{recurring.Name} signs agreements by {string.Join(", ", recurring.SignMethods)}.");
        }
        else if (body.Provider is not null && !s.Payments.TryGet(body.Provider, out _))
            return Problems.Invalid("provider_unsupported", "provider", $"Provider '{body.Provider}' is not enabled.");

        var now = s.RealNow;
        if (body.TestClock is not null)
        {
            if (!TestClocks.Available(services)) return TestClocks.Unavailable;
            var clock = await db.TestClocks.AsNoTracking().SingleOrDefaultAsync(c => c.Id == body.TestClock && c.MerchantId == merchant.Id, ct);
            if (clock is null) return Problems.NotFound("test_clock", body.TestClock);
            now = clock.FrozenTime;
        }

        Customer? customer = body.CustomerId is { Length: > 0 }
            ? await db.Customers.AsNoTracking().SingleOrDefaultAsync(c => c.Id == body.CustomerId && c.MerchantId == merchant.Id, ct)
            : (await Customers.FindOrCreateAsync(db, merchant.Id, body.CustomerExternalId!, null, null, s.Clock, ct)).Customer;
        if (customer is null) return Problems.NotFound("customer", body.CustomerId!);

        Mandate? mandate = null;
        var newMandate = false;
        if (recurring is not null)
        {
            if (body.MandateId is not null)
            {
                mandate = await db.Mandates.AsNoTracking().SingleOrDefaultAsync(m => m.Id == body.MandateId && m.MerchantId == merchant.Id
                    && m.CustomerId == customer.Id && m.Provider == recurring.Name, ct);
                if (mandate is null) return Problems.NotFound("mandate", body.MandateId);
                if (mandate.Status == MandateStatus.Revoked) return Problems.Conflict("mandate_revoked", $"Agreement '{mandate.Id}' was revoked.");
                if (mandate.MaxAmount < price.Amount || mandate.Currency != price.Currency)
                    return Problems.Conflict(RenewalAttempt.AmountExceeded,
                        $"Agreement '{mandate.Id}' allows at most {mandate.MaxAmount} {mandate.Currency} per charge; the price is {price.Amount} {price.Currency}.");
            }
            else
                mandate = await db.Mandates.AsNoTracking().Where(m => m.MerchantId == merchant.Id && m.CustomerId == customer.Id && m.Provider == recurring.Name
                        && m.Status == MandateStatus.Active && m.Currency == price.Currency && m.MaxAmount >= price.Amount)
                    .OrderByDescending(m => m.Id).FirstOrDefaultAsync(ct);
            if (mandate is null)
            {
                newMandate = true;
                mandate = new Mandate
                {
                    Id = Ids.New("mdt"), MerchantId = merchant.Id, CustomerId = customer.Id, Provider = recurring.Name, Method = method,
                    Status = MandateStatus.Pending, Currency = price.Currency, MaxAmount = price.Amount, CreatedAt = s.RealNow,
                };
                try
                {
                    var started = await recurring.StartSigningAsync(new MandateSigning(mandate, customer, product.Name, schedule.IntervalName, schedule.Count,
                        now.AddDays(trialDays), s.PublicUrl.Combine($"/v1/notify/{recurring.Name}"), body.ReturnUrl), ct);
                    mandate.ProviderMandateId = started.ProviderMandateId;
                    mandate.ProviderCustomerRef = started.ProviderCustomerRef;
                    mandate.SignAction = SignAction(started).ToJsonString();
                }
                catch (ProviderException e)
                {
                    s.Log.LogWarning(e, "{Provider} refused to start signing an agreement for customer {CustomerId}", recurring.Name, customer.Id);
                    return Problems.Of(StatusCodes.Status502BadGateway, "provider_error", $"{recurring.Name} did not start the agreement: {e.Code}.");
                }
            }
        }

        var trialEnd = trialDays > 0 ? now.AddDays(trialDays) : (DateTime?)null;
        var anchor = trialEnd ?? now;
        var status = SubscriptionTransitions.Initial(trialDays);
        var sub = new Subscription
        {
            Id = Ids.New("sub"), MerchantId = merchant.Id, CustomerId = customer.Id, ProductId = product.Id, PriceId = price.Id, Currency = price.Currency,
            Amount = price.Amount, Interval = schedule.IntervalName, IntervalCount = schedule.Count, CollectionMethod = collection,
            Provider = recurring?.Name ?? body.Provider ?? "checkout", Method = method, Status = status, MandateId = mandate?.Id, TestClockId = body.TestClock,
            BillingCycleAnchor = anchor, CurrentPeriodStart = now, CurrentPeriodEnd = trialEnd ?? schedule.PeriodEnd(anchor, 0), TrialEnd = trialEnd,
            NextActionAt = trialEnd ?? (mandate is { Status: MandateStatus.Active } ? now : now + Renewals.IncompleteExpiry), CreatedAt = now,
        };
        if (trialEnd is not null)
        {
            // A trial gives access until trial_end; the first paid invoice extends this entitlement. No order exists yet, so it
            // carries the subscription's id in order_id (unique, as an order's).
            var trialAccess = new Entitlement
            {
                Id = Ids.New("ent"), MerchantId = merchant.Id, CustomerId = customer.Id, ProductId = product.Id, OrderId = sub.Id, GrantedAt = now,
                ExpiresAt = trialEnd,
            };
            db.Entitlements.Add(trialAccess);
            sub.EntitlementId = trialAccess.Id;
            Outbox.Add(db, merchant.Id, EventTypes.EntitlementGranted, trialAccess.Id, EntitlementView.From(trialAccess, now), now);
        }
        db.Subscriptions.Add(sub);
        if (newMandate) db.Mandates.Add(mandate!);
        Outbox.Add(db, merchant.Id, EventTypes.SubscriptionCreated, sub.Id, SubscriptionView.From(sub), now);
        if (trialEnd is null)
        {
            var rows = new StagedRows();
            sub.LatestInvoiceId = InvoiceWriter.Add(rows, sub, product, 0, "subscription_create", now, s.RealNow, s.Options.DaysUntilDue).Invoice.Id;
            rows.AddTo(db);
        }
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();

        // An agreement already active: the first invoice is charged now (the renewal job would within seconds; the answer shows it).
        if (sub.NextActionAt <= now) await Renewals.StepAsync(s, sub.Id, now, CancellationToken.None);
        return TypedResults.Created($"/v1/subscriptions/{sub.Id}", await GetSubscriptions.ExpandedAsync(s, sub.Id, ct));
    }

    /// <summary>The learner's next step as the API shows a next action.</summary>
    static JsonObject SignAction(MandateSignStarted started) =>
        started switch
        {
            { QrCode: { } qr } => new JsonObject { ["type"] = "qr_code", ["qr_code"] = qr, ["redirect_url"] = started.RedirectUrl },
            { RedirectUrl: { } url } => new JsonObject { ["type"] = "redirect_to_url", ["redirect_url"] = url },
            { ClientSecret: { } secret } => new JsonObject { ["type"] = "client_secret", ["client_secret"] = secret },
            _ => new JsonObject { ["type"] = "none" },
        };

    /// <summary>A stored sign action back as JSON (null when there is none).</summary>
    public static JsonNode? ParseSignAction(string? stored)
    {
        if (stored is null) return null;
        try { return JsonNode.Parse(stored); }
        catch (JsonException) { return null; }
    }
}
