using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using KnowPay.Providers.Stripe;
using KnowPay.Sandbox;
using KnowPay.Sandbox.Stripe;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// Stripe saved cards through the real server and the Stripe sandbox over HTTP: the mandate and payment rows are written
/// directly, as the billing engine would, and the adapter is called as <see cref="RecurringProviders"/> hands it out.
/// </summary>
[Collection("server")]
public sealed class StripeSavedCardTests(Servers servers)
{
    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SetupIntentConfirmed_ActivatesTheMandate_AndAnOffSessionChargeTwicePaysTheOrderOnce_WithABalancedJournal(Db db)
    {
        var server = await servers.Get(db);
        var (m, creatorId, productId) = await MerchantAsync(server);
        var order = await OrderAsync(server, m, productId);
        var mandate = await PendingMandateAsync(server, order);
        var stripe = Recurring(server);

        var started = await stripe.StartSigningAsync(await SigningAsync(server, mandate), default);
        Assert.StartsWith("seti_", started.ClientSecret);
        Assert.StartsWith("cus_", started.ProviderCustomerRef);
        Assert.Equal(started, await stripe.StartSigningAsync(await SigningAsync(server, mandate), default));   // asked twice: one Customer, one SetupIntent
        Assert.Single(Sandbox(server).FindSetupIntents("mandate_id", mandate.Id));
        Assert.Equal(MandateStatus.Pending, (await stripe.QueryMandateAsync(await BoundAsync(server, mandate, started), default)).Status);

        await ConfirmSetupAsync(server, started.ClientSecret!, StripeSimulator.CardSucceeds);
        var active = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Active);
        Assert.StartsWith("pm_", active.ProviderMandateId);
        Assert.Equal(started.ProviderCustomerRef, active.ProviderCustomerRef);
        Assert.Equal(1, await EventsAsync(server, m, "mandate.created"));
        var queried = await stripe.QueryMandateAsync(active, default);
        Assert.Equal((MandateStatus.Active, active.ProviderMandateId), (queried.Status, queried.ProviderMandateId));

        var payment = await PendingPaymentAsync(server, order);
        var charged = await stripe.ChargeAsync(Charge(server, payment, order, active), default);
        Assert.Equal(TradeStatus.Paid, charged.Status);
        Assert.Equal((1999L, "USD"), (charged.Amount, charged.Currency));
        var again = await stripe.ChargeAsync(Charge(server, payment, order, active), default);
        Assert.Equal((TradeStatus.Paid, charged.ProviderTradeNo), (again.Status, again.ProviderTradeNo));
        var intent = Assert.Single(Sandbox(server).IntentsOfCustomer(active.ProviderCustomerRef!));
        Assert.Equal((charged.ProviderTradeNo, active.ProviderMandateId, payment.Id), ((string?)intent["id"], (string?)intent["payment_method"], (string?)intent["metadata"]!["payment_id"]));

        await m.WaitForOrderAsync(order.Id, "paid");
        var confirmed = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == payment.Id));
        Assert.Equal((PaymentStatus.Succeeded, charged.ProviderTradeNo, "notification"), (confirmed.Status, confirmed.ProviderTradeNo, confirmed.ConfirmedBy));
        var split = RevenueSplit.For(1999, 7000, ProviderFee.None);
        Assert.Equal(new Dictionary<string, long>
        {
            ["provider:stripe:clearing:USD"] = 1999, [$"creator:{creatorId}:pending:USD"] = -split.Creator, ["platform:revenue:USD"] = -split.Platform,
        }, await JournalAsync(server, m, payment.Id));
        var setupId = started.ClientSecret![..started.ClientSecret!.IndexOf("_secret_", StringComparison.Ordinal)];
        Assert.Contains($"POST /sandbox/stripe/v1/setup_intents/{setupId}/confirm", server.Services.GetRequiredService<SandboxRequestLog>().Snapshot());
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OffSessionCharges_TestCardsDecide_AuthenticationRequiredDeclinedHardDeclineAndDeclineOnDemand(Db db)
    {
        var server = await servers.Get(db);
        var (m, _, productId) = await MerchantAsync(server);
        var stripe = Recurring(server);
        foreach (var (card, expected) in new[]
        {
            (StripeSimulator.CardAlwaysAuthenticate, RecurringFailures.AuthenticationRequired),
            (StripeSimulator.CardInsufficientFunds, RecurringFailures.Declined),
            (StripeSimulator.CardStolen, RecurringFailures.HardDecline),
            (StripeSimulator.CardAuthenticateUnlessSetUp, null),   // set up for off-session: later charges need no authentication
        })
        {
            var order = await OrderAsync(server, m, productId);
            var mandate = await SignedMandateAsync(server, order, card);
            var payment = await PendingPaymentAsync(server, order);
            var result = await stripe.ChargeAsync(Charge(server, payment, order, mandate), default);
            Assert.Equal((expected is null ? TradeStatus.Paid : TradeStatus.Failed, expected), (result.Status, result.FailureCode));
            Assert.StartsWith("pi_", result.ProviderTradeNo);
            Assert.Single(Sandbox(server).IntentsOfCustomer(mandate.ProviderCustomerRef!));
        }

        // Declines on demand: the next off-session charge declines once, the retry (a new payment) pays.
        var retried = await OrderAsync(server, m, productId);
        var signed = await SignedMandateAsync(server, retried, StripeSimulator.CardSucceeds);
        Sandbox(server).DeclineNextCharge(signed.ProviderCustomerRef!);
        var first = await stripe.ChargeAsync(Charge(server, await PendingPaymentAsync(server, retried), retried, signed), default);
        Assert.Equal((TradeStatus.Failed, RecurringFailures.Declined), (first.Status, first.FailureCode));
        var second = await stripe.ChargeAsync(Charge(server, await PendingPaymentAsync(server, retried), retried, signed), default);
        Assert.Equal(TradeStatus.Paid, second.Status);
        await m.WaitForOrderAsync(retried.Id, "paid");

        var capped = await Assert.ThrowsAsync<ProviderException>(async () =>
            await stripe.ChargeAsync(Charge(server, await PendingPaymentAsync(server, retried), retried, Bound(signed, maxAmount: 1000)), default));
        Assert.Equal(RecurringFailures.AmountExceedsMandate, capped.Code);
        Assert.Equal(2, Sandbox(server).IntentsOfCustomer(signed.ProviderCustomerRef!).Count);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CardRemovedAtStripe_RevokesTheMandateWithAnEvent_AndMerchantTerminationDetachesOnce(Db db)
    {
        var server = await servers.Get(db);
        var (m, _, productId) = await MerchantAsync(server);
        var stripe = Recurring(server);
        var order = await OrderAsync(server, m, productId);
        var mandate = await SignedMandateAsync(server, order, StripeSimulator.CardSucceeds);

        var removed = await server.Anonymous.PostAsync($"/sandbox/stripe/payment_methods/{mandate.ProviderMandateId}/remove", null);
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        var revoked = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Revoked);
        Assert.Equal("user", revoked.RevokedReason);
        Assert.Equal(1, await EventsAsync(server, m, "mandate.revoked"));
        Assert.Equal(MandateStatus.Revoked, (await stripe.QueryMandateAsync(revoked, default)).Status);
        // A stale copy still Active: Stripe refuses the detached card, and nothing is charged.
        var stale = await stripe.ChargeAsync(Charge(server, await PendingPaymentAsync(server, order), order, mandate), default);
        Assert.Equal((TradeStatus.Failed, RecurringFailures.MandateRevoked), (stale.Status, stale.FailureCode));
        Assert.Empty(Sandbox(server).IntentsOfCustomer(mandate.ProviderCustomerRef!));

        var other = await SignedMandateAsync(server, await OrderAsync(server, m, productId), StripeSimulator.CardSucceeds);
        var ended = await stripe.TerminateMandateAsync(other, "learner cancelled the membership", default);
        Assert.Equal((MandateStatus.Revoked, "merchant"), (ended.Status, ended.Reason));
        await using (var scope = server.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<IMandateUpdates>().ApplyAsync("stripe", other.Id, ended, default);
        Assert.Equal(MandateStatus.Revoked, (await stripe.TerminateMandateAsync(other, "again", default)).Status);
        await Task.Delay(300);   // the payment_method.detached event arrives and changes nothing
        var after = await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == other.Id));
        Assert.Equal((MandateStatus.Revoked, "merchant"), (after.Status, after.RevokedReason));
        Assert.Equal(2, await EventsAsync(server, m, "mandate.revoked"));
        Assert.Single(server.Services.GetRequiredService<SandboxRequestLog>().Snapshot(),
            r => r == $"POST /sandbox/stripe/v1/payment_methods/{other.ProviderMandateId}/detach");
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ForgedSavedCardWebhooks_AreRefused_AndWriteNothing(Db db)
    {
        var server = await servers.Get(db);
        var (m, _, productId) = await MerchantAsync(server);
        var order = await OrderAsync(server, m, productId);
        var pending = await PendingMandateAsync(server, order);
        var active = await SignedMandateAsync(server, await OrderAsync(server, m, productId), StripeSimulator.CardSucceeds);
        var secret = server.Services.GetRequiredService<SandboxOptions>().StripeWebhookSecret;
        var now = DateTimeOffset.UtcNow;

        var succeeded = Event("setup_intent.succeeded", new JsonObject
        {
            ["id"] = "seti_forged", ["object"] = "setup_intent", ["status"] = "succeeded", ["payment_method"] = "pm_forged",
            ["customer"] = "cus_forged", ["metadata"] = new JsonObject { ["mandate_id"] = pending.Id },
        });
        var detached = Event("payment_method.detached", new JsonObject { ["id"] = active.ProviderMandateId, ["object"] = "payment_method", ["customer"] = null });
        foreach (var body in new[] { succeeded, detached })
        {
            Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, body, HmacSignature.Sign("whsec_other", body, now))).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, body, HmacSignature.Sign(secret, body, now.AddSeconds(-301)))).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(server, body, null)).StatusCode);
        }
        Assert.Equal(MandateStatus.Pending, (await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == pending.Id))).Status);
        Assert.Equal(MandateStatus.Active, (await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == active.Id))).Status);
        Assert.Equal(0, await EventsAsync(server, m, "mandate.revoked"));
        Assert.Equal(1, await EventsAsync(server, m, "mandate.created"));   // the genuine signing only
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task FirstPaymentSavedForOffSession_PaysTheOrderAndActivatesTheMandate_ThenARenewalChargesTheSavedCard(Db db)
    {
        var server = await servers.Get(db);
        var (m, _, productId) = await MerchantAsync(server);
        var order = await OrderAsync(server, m, productId);
        var mandate = await PendingMandateAsync(server, order);
        var payment = await PendingPaymentAsync(server, order);
        var stripe = (StripeProvider)Recurring(server);
        var customer = await server.QueryAsync(d => d.Customers.AsNoTracking().SingleAsync(c => c.Id == order.CustomerId));

        var (started, customerRef) = await stripe.StartSavingAsync(
            new PaymentStart(payment, order, "Membership, first month", server.BaseUrl + "/v1/notify/stripe", null), mandate, customer, default);
        await server.QueryAsync(d => d.Payments.Where(p => p.Id == payment.Id).ExecuteUpdateAsync(s => s.SetProperty(p => p.ProviderTradeNo, started.ProviderTradeNo)));
        await BoundAsync(server, mandate, new MandateSignStarted(ProviderCustomerRef: customerRef));
        await StripeTests.ConfirmAsync(server, started.ClientSecret!, StripeSimulator.CardSucceeds);
        await m.WaitForOrderAsync(order.Id, "paid");
        var active = await WaitForMandateAsync(server, mandate.Id, MandateStatus.Active);
        Assert.Equal((string?)Assert.Single(Sandbox(server).FindIntents("payment_id", payment.Id))["payment_method"], active.ProviderMandateId);
        Assert.Equal(customerRef, active.ProviderCustomerRef);

        var renewal = await OrderAsync(server, m, productId);
        var charged = await stripe.ChargeAsync(Charge(server, await PendingPaymentAsync(server, renewal), renewal, active), default);
        Assert.Equal(TradeStatus.Paid, charged.Status);
        await m.WaitForOrderAsync(renewal.Id, "paid");
        Assert.Equal(2, Sandbox(server).IntentsOfCustomer(customerRef).Count);
    }

    // ---- the rows the billing engine would write, and the learner's side ----

    static async Task<(MerchantClient M, string CreatorId, string ProductId)> MerchantAsync(KnowPayServer server)
    {
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (1999, "USD"));
        return (m, creatorId, productId);
    }

    static async Task<Order> OrderAsync(KnowPayServer server, MerchantClient m, string productId)
    {
        var created = await m.OrderAsync(productId, "USD", customer: "learner-" + Guid.NewGuid().ToString("N")[..8]);
        return await server.QueryAsync(d => d.Orders.AsNoTracking().SingleAsync(o => o.Id == (string)created["id"]!));
    }

    static async Task<Mandate> PendingMandateAsync(KnowPayServer server, Order order)
    {
        var mandate = new Mandate
        {
            Id = Ids.New("mdt"), MerchantId = order.MerchantId, CustomerId = order.CustomerId, Provider = "stripe", Method = "card",
            Status = MandateStatus.Pending, Currency = "USD", MaxAmount = 100_000, CreatedAt = DateTime.UtcNow,
        };
        await server.QueryAsync(async d =>
        {
            d.Mandates.Add(mandate);
            return await d.SaveChangesAsync();
        });
        return mandate;
    }

    /// <summary>Signs a fresh mandate for the order's learner with <paramref name="card"/> and waits for the webhook to activate it.</summary>
    static async Task<Mandate> SignedMandateAsync(KnowPayServer server, Order order, string card)
    {
        var mandate = await PendingMandateAsync(server, order);
        var started = await Recurring(server).StartSigningAsync(await SigningAsync(server, mandate), default);
        await BoundAsync(server, mandate, started);
        var confirmed = await ConfirmSetupAsync(server, started.ClientSecret!, card);
        if ((string?)confirmed["status"] == "requires_action") await ConfirmSetupAsync(server, started.ClientSecret!, card);   // the learner authenticates
        return await WaitForMandateAsync(server, mandate.Id, MandateStatus.Active);
    }

    /// <summary>Stores the Customer the signing created, as the billing engine does with <see cref="MandateSignStarted"/>.</summary>
    static async Task<Mandate> BoundAsync(KnowPayServer server, Mandate mandate, MandateSignStarted started)
    {
        await server.QueryAsync(d => d.Mandates.Where(x => x.Id == mandate.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.ProviderCustomerRef, started.ProviderCustomerRef).SetProperty(x => x.SignAction, started.ClientSecret)));
        return await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == mandate.Id));
    }

    static Mandate Bound(Mandate m, long maxAmount) => new()
    {
        Id = m.Id, MerchantId = m.MerchantId, CustomerId = m.CustomerId, Provider = m.Provider, Method = m.Method, Status = m.Status,
        Currency = m.Currency, MaxAmount = maxAmount, ProviderMandateId = m.ProviderMandateId, ProviderCustomerRef = m.ProviderCustomerRef, CreatedAt = m.CreatedAt,
    };

    static async Task<Payment> PendingPaymentAsync(KnowPayServer server, Order order)
    {
        var payment = new Payment
        {
            Id = Ids.New("pay"), MerchantId = order.MerchantId, OrderId = order.Id, Provider = "stripe", Method = "card",
            Status = PaymentStatus.Pending, Amount = order.Amount, Currency = order.Currency, CreatedAt = DateTime.UtcNow,
        };
        await server.QueryAsync(async d =>
        {
            d.Payments.Add(payment);
            return await d.SaveChangesAsync();
        });
        return payment;
    }

    static async Task<MandateSigning> SigningAsync(KnowPayServer server, Mandate mandate) => new(mandate,
        await server.QueryAsync(d => d.Customers.AsNoTracking().SingleAsync(c => c.Id == mandate.CustomerId)),
        "Monthly membership", "month", 1, DateTime.UtcNow.AddMonths(1), server.BaseUrl + "/v1/notify/stripe", null);

    static RecurringCharge Charge(KnowPayServer server, Payment payment, Order order, Mandate mandate) =>
        new(payment, order, mandate, "Membership renewal", server.BaseUrl + "/v1/notify/stripe");

    static IRecurringProvider Recurring(KnowPayServer server)
    {
        using var scope = server.Services.CreateScope();
        Assert.True(scope.ServiceProvider.GetRequiredService<RecurringProviders>().TryGet("stripe", out var stripe));
        return stripe;
    }

    static StripeSimulator Sandbox(KnowPayServer server) => server.Services.GetRequiredService<StripeSimulator>();

    /// <summary>The learner confirms the SetupIntent with a test card, as Stripe.js confirmCardSetup would.</summary>
    static async Task<JsonObject> ConfirmSetupAsync(KnowPayServer server, string clientSecret, string card)
    {
        var id = clientSecret[..clientSecret.IndexOf("_secret_", StringComparison.Ordinal)];
        var response = await server.Anonymous.PostAsync($"/sandbox/stripe/v1/setup_intents/{id}/confirm", new FormUrlEncodedContent(
            [new("client_secret", clientSecret), new("payment_method_data[card][number]", card)]));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"confirm setup → {(int)response.StatusCode}: {text}");
        return Json.Parse(text);
    }

    static async Task<Mandate> WaitForMandateAsync(KnowPayServer server, string mandateId, MandateStatus status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var mandate = await server.QueryAsync(d => d.Mandates.AsNoTracking().SingleAsync(x => x.Id == mandateId));
            if (mandate.Status == status) return mandate;
            Assert.True(DateTime.UtcNow < until, $"mandate {mandateId} is {mandate.Status}, not {status}");
            await Task.Delay(50);
        }
    }

    static Task<int> EventsAsync(KnowPayServer server, MerchantClient m, string type) =>
        server.QueryAsync(d => d.Events.CountAsync(e => e.MerchantId == m.MerchantId && e.Type == type));

    static Task<Dictionary<string, long>> JournalAsync(KnowPayServer server, MerchantClient m, string paymentId) =>
        server.QueryAsync(async d => (await d.LedgerEntries.Where(e => e.MerchantId == m.MerchantId)
            .Join(d.Journals.Where(j => j.SourceType == "payment_confirmed" && j.SourceId == paymentId), e => e.JournalId, j => j.Id, (e, _) => e)
            .ToListAsync()).ToDictionary(e => e.Account, e => e.Amount));

    static string Event(string type, JsonObject obj) => new JsonObject
    {
        ["id"] = "evt_" + Guid.NewGuid().ToString("N"), ["object"] = "event", ["type"] = type, ["api_version"] = StripeProvider.ApiVersion,
        ["data"] = new JsonObject { ["object"] = obj },
    }.ToJsonString();

    static Task<HttpResponseMessage> PostAsync(KnowPayServer server, string body, string? signature)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notify/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (signature is not null) request.Headers.Add("Stripe-Signature", signature);
        return server.Anonymous.SendAsync(request);
    }
}
