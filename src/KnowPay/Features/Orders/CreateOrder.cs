using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Features.Catalog;
using KnowPay.Features.Payments;
using KnowPay.Infrastructure;
using KnowPay.Providers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KnowPay.Features.Orders;

/// <summary>customer_id (cus_…) or customer_external_id (the platform's own user id; the customer is created on first use).</summary>
public sealed record CreateOrderRequest(
    string? CustomerId, string? CustomerExternalId, [property: Required] string? ProductId, [property: Required] string? Currency, int? ExpiresInSeconds,
    [property: FreeText, ColumnLength(TextInput.OrderDescription)] string? Description,
    CreatePaymentRequest? Payment = null, Risk.RiskContextInput? RiskContext = null);

/// <summary>
/// POST /v1/orders: locks the product's current price in the currency and sets the expiry. With
/// <c>payment: {provider, method, return_url}</c> it also starts the payment (as POST /v1/orders/{id}/payments would)
/// and answers the order with its <c>payment</c> and next action: one request and ONE commit for order + payment
/// instead of two requests and two commits (plus two idempotency-key round trips) on the hot path. The provider is
/// called before anything is written, so a refusal (4xx) or provider failure (502) leaves nothing behind.
/// </summary>
public static class CreateOrder
{
    public static readonly TimeSpan DefaultExpiry = TimeSpan.FromMinutes(30);

    public static void Map(RouteGroupBuilder v1) =>
        v1.MapPost("/orders", Handle).RequireScope("orders:write").WithMetadata(Idempotency.ClaimedByHandler.Instance)
            .Produces(StatusCodes.Status404NotFound); // product_id or customer_id unknown

    static async Task<Results<CreatedJson<OrderView>, ProblemHttpResult, EmptyHttpResult>> Handle(
        CreateOrderRequest body, AuthenticatedMerchant merchant, KnowPayDb db, Checkout.CheckoutLinks checkout, TimeProvider clock,
        PaymentProviders providers, PublicUrl publicUrl, ILoggerFactory logs, IdempotencyClaim? idempotency, AwaitedPayments awaited,
        IOptions<MoneyOptions> money, Risk.RiskEngine risk, IOptions<Fx.FxOptions> fx, CancellationToken ct)
    {
        var riskContext = body.RiskContext ?? body.Payment?.RiskContext;
        var signals = risk.OrderSignals(riskContext);
        var (order, problem) = await PrepareAsync(body, merchant.Id, db, clock, ct, idempotency, fx.Value, signals);
        if (problem is not null) return problem;
        if (order is null) return Idempotency.AnsweredByFirstRequest;
        // A price stored before the limit existed (or above a lowered one) sells no more.
        if (!money.Value.Limit.Allows(order.Amount, Currency.Of(order.Currency)))
            return Problems.Invalid("amount_too_large", "product_id", money.Value.Limit.Describe(Currency.Of(order.Currency)));
        var decided = await risk.DecideOrderAsync(db, order, body.CustomerExternalId, riskContext, body.Payment?.Provider, signals, ct);
        if (decided.Problem is not null) return decided.Problem;
        Payment? payment = null;
        var rows = new StagedRows();
        // A review holds the order: it is written, its payment is not started until the review is approved.
        if (body.Payment is not null && decided.Action == Domain.RiskAction.Allow)
        {
            (payment, problem) = await CreatePayment.PrepareAsync(order!, body.Payment with { RiskContext = body.Payment.RiskContext ?? body.RiskContext }, providers, publicUrl, clock, logs.CreateLogger(nameof(CreateOrder)), ct);
            if (problem is not null) return problem;
            rows.Insert(payment!);
        }
        rows.Insert(order!);
        decided.Stage(rows, payment);
        var view = OrderView.From(order!, checkout.UrlFor(order!));
        var answer = CreatedJson<OrderView>.For($"/v1/orders/{order!.Id}", payment is null ? view : view with { Payment = PaymentView.From(payment) });
        // Order, payment and the Idempotency-Key's stored answer in ONE commit: on PostgreSQL as ONE statement (data-modifying
        // CTEs: one round trip, one implicit transaction, all or nothing), elsewhere in SaveChanges' transaction.
        idempotency?.StageCompletion(rows, answer.StatusCode, CreatedJson<OrderView>.ContentType, answer.Body, order.CreatedAt);
        await StagedRowsWriter.SaveAsync(db, rows, ct);
        idempotency?.Completed();
        if (payment is not null)
        {
            Monitoring.KnowPayMetrics.PaymentCreated(payment);
            awaited.Add(payment, order);
        }
        return answer;
    }

    sealed record ProductRead(string Id, ProductStatus Status, string CreatorId, int CreatorShareBps, ProductKind Kind, int? PeriodDays,
        string? PriceId, long PriceAmount, string? PriceCurrency, string? CustomerId, string? CreatorPayoutCurrency);

    /// <summary>
    /// The product, its active price in the currency and the customer's id in ONE query — and, when the request carries an
    /// Idempotency-Key, the key's claim in front of it in the same round trip (hot path: one round trip for what took
    /// three). Plain SQL, the same on PostgreSQL and SQLite; the price is a LEFT JOIN on product_prices' (product_id,
    /// currency, version) index. Null Read with KeyTaken: an earlier request holds the key, nothing may be written.
    /// With <paramref name="signals"/>, the risk decision's signals in front of both (same round trip); if they fail, the
    /// read is made again without them and the decision reads its signals itself, group by group.
    /// </summary>
    static async Task<(ProductRead? Read, bool KeyTaken)> ReadProductAsync(
        KnowPayDb db, IdempotencyClaim? idempotency, string productId, string merchantId, string currency, string? customerId, string? externalId,
        Risk.RiskSignalsQuery.OrderSignalsBatch? signals, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            if (signals is not null)
            {
                try
                {
                    return await ReadProductOnceAsync(db, idempotency, productId, merchantId, currency, customerId, externalId, signals, ct);
                }
                catch (System.Data.Common.DbException) when (signals.Values is null)
                {
                    // The signal statement failed, so nothing after it ran: read again without it.
                }
            }
            return await ReadProductOnceAsync(db, idempotency, productId, merchantId, currency, customerId, externalId, null, ct);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    static async Task<(ProductRead? Read, bool KeyTaken)> ReadProductOnceAsync(
        KnowPayDb db, IdempotencyClaim? idempotency, string productId, string merchantId, string currency, string? customerId, string? externalId,
        Risk.RiskSignalsQuery.OrderSignalsBatch? signals, CancellationToken ct)
    {
        // The claim's commit need not wait for its WAL flush (PostgreSQL: synchronous_commit off for this one implicit
        // transaction; SQLite: synchronous = NORMAL for this one insert): nothing else is written before the order's own
        // commit, which is durable and flushes the (append-only) WAL up to and including the claim. A crash that loses the
        // claim has therefore lost the order as well, and the client's retry with the same key starts afresh, as after any
        // failure before that commit (at worst the provider was asked for a trade that nobody is shown). One WAL flush
        // fewer per order (on SQLite, where each flush holds the single write lock, a third of them). (PostgreSQL:
        // set_config(…, true) in the claim's RETURNING rather than SET LOCAL, which would log a warning: the batch is an
        // implicit transaction.)
        var customer = customerId is not null
            ? "SELECT c.id FROM customers c WHERE c.id = @customer AND c.merchant_id = @merchant"
            : "SELECT c.id FROM customers c WHERE c.merchant_id = @merchant AND c.external_id = @customer";
        var read = $"""
            SELECT p.id, p.status, p.creator_id, p.creator_share_bps, p.kind, p.period_days, x.id, x.amount, x.currency, ({customer}),
              (SELECT cr.payout_currency FROM creators cr WHERE cr.id = p.creator_id)
            FROM products p LEFT JOIN product_prices x ON x.product_id = p.id AND x.currency = @currency AND x.active
            WHERE p.id = @product AND p.merchant_id = @merchant
            ORDER BY x.version DESC LIMIT 1
            """;
        // How the signal statement names the customer: as the product read does.
        string CustomerExpression() => customerId is not null ? "@customer" : "(" + customer + ")";
        void AddReadParameters(Action<string, object> add)
        {
            add("@product", productId);
            add("@merchant", merchantId);
            add("@currency", currency);
            add("@customer", (object?)customerId ?? externalId!);
        }
        // The signal statement first in the round trip: if it fails, the claim after it has not run (PostgreSQL: nor anything
        // else of the batch). With it, on PostgreSQL, the statements go as one batch, so that the signal statement keeps its
        // positional parameters; otherwise as one command.
        await using var batch = db.IsPostgres && signals is not null ? ((NpgsqlConnection)db.Database.GetDbConnection()).CreateBatch() : null;
        await using var command = batch is null ? db.Database.GetDbConnection().CreateCommand() : null;
        bool risk, claim;
        if (batch is not null)
        {
            batch.BatchCommands.Add(signals!.Command(CustomerExpression(), merchantId, productId, customerId ?? externalId!));
            var claimCommand = idempotency?.ClaimCommand(asynchronousCommit: true);
            if (claimCommand is not null) batch.BatchCommands.Add(claimCommand);
            var product = new NpgsqlBatchCommand(read);
            AddReadParameters((name, value) => product.Parameters.AddWithValue(name, value));
            batch.BatchCommands.Add(product);
            (risk, claim) = (true, claimCommand is not null);
        }
        else
        {
            var claimText = idempotency?.ClaimStatement(command!, asynchronousCommit: true);
            var riskText = signals?.Statement(command!, CustomerExpression());
            command!.CommandText = riskText + claimText + read;
            AddReadParameters(command.AddParameter);
            (risk, claim) = (riskText is not null, claimText is not null);
        }
        await using var reader = batch is not null ? await batch.ExecuteReaderAsync(ct) : await command!.ExecuteReaderAsync(ct);
        if (risk)
        {
            await signals!.ReadAsync(reader, ct);
            await reader.NextResultAsync(ct);
        }
        if (claim)
        {
            var claimed = await reader.ReadAsync(ct);
            idempotency!.Claimed(claimed);
            if (!claimed) return (null, true);
            await reader.NextResultAsync(ct);
        }
        if (!await reader.ReadAsync(ct)) return (null, false);
        return (new ProductRead(reader.GetString(0), Enum.Parse<ProductStatus>(reader.GetString(1)), reader.GetString(2), reader.GetInt32(3),
            Enum.Parse<ProductKind>(reader.GetString(4)), reader.IsDBNull(5) ? null : reader.GetInt32(5),
            reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? 0 : reader.GetInt64(7), reader.IsDBNull(8) ? null : reader.GetString(8),
            reader.IsDBNull(9) ? null : reader.GetString(9), reader.IsDBNull(10) ? null : reader.GetString(10)), false);
    }

    /// <summary>Validates the request and builds the order (not yet saved). A problem means nothing may be written.</summary>
    /// <returns>Neither an order nor a problem: the request's Idempotency-Key is held by an earlier request (<paramref name="idempotency"/> given).</returns>
    public static async Task<(Order? Order, ProblemHttpResult? Problem)> PrepareAsync(
        CreateOrderRequest body, string merchantId, KnowPayDb db, TimeProvider clock, CancellationToken ct, IdempotencyClaim? idempotency = null,
        Fx.FxOptions? fx = null, Risk.RiskSignalsQuery.OrderSignalsBatch? signals = null)
    {
        if (!Currency.TryFind(body.Currency, out var currency))
            return (null, Fx.CurrencyProblems.NotTaken("currency", body.Currency));
        if (body.ExpiresInSeconds is not null and not (>= 60 and <= 7 * 24 * 3600))
            return (null, Problems.Invalid("expiry_invalid", "expires_in_seconds", "expires_in_seconds must be between 60 and 604800."));
        if (body.Description is { Length: > 1000 })
            return (null, Problems.Invalid("description_invalid", "description", "description is at most 1000 characters."));
        if (string.IsNullOrEmpty(body.CustomerId) == string.IsNullOrEmpty(body.CustomerExternalId))
            return (null, Problems.Invalid("customer_invalid", "customer_id", "Give exactly one of customer_id or customer_external_id."));
        if (string.IsNullOrEmpty(body.ProductId))
            return (null, Problems.Invalid("product_invalid", "product_id", "product_id is required."));

        // The customer is looked up in the same query, as a scalar sub-query (one round trip fewer per order).
        var externalId = body.CustomerExternalId;
        if (externalId is { Length: > 200 })
            return (null, Problems.Invalid("customer_invalid", "customer_external_id", "customer_external_id is at most 200 characters."));
        var (found, keyTaken) = await ReadProductAsync(db, idempotency, body.ProductId, merchantId, currency.Code,
            body.CustomerId is { Length: > 0 } ? body.CustomerId : null, externalId, signals, ct);
        if (keyTaken) return (null, null);
        if (found is null) return (null, Problems.NotFound("product", body.ProductId));
        if (found.Status == ProductStatus.Archived)
            return (null, Problems.Conflict("product_archived", $"Product '{found.Id}' is archived; it takes no new orders."));
        if (found.Status != ProductStatus.Published)
            return (null, Problems.Conflict("product_not_published", $"Product '{found.Id}' is {found.Status.ToString().ToLowerInvariant()}; only published products sell."));
        var now = clock.GetUtcNow().UtcDateTime;
        Fx.ConvertedPrice? converted = null;
        if (found.PriceId is null)
        {
            if (fx is null) return (null, Problems.Invalid("currency_unsupported", "currency", $"Product '{found.Id}' has no price in {currency.Code}."));
            (converted, var fxProblem) = await Fx.ConvertedPrices.PriceAsync(db, merchantId, found.Id, currency, fx, now, ct);
            if (fxProblem is not null) return (null, fxProblem);
        }

        var (creatorCurrency, creatorFxRate) = await Fx.CreatorRates.LockAsync(db, merchantId, found.CreatorPayoutCurrency,
            converted?.Priced.Currency.Code ?? found.PriceCurrency!, converted, fx ?? new Fx.FxOptions(), now, ct);

        var customerId = found.CustomerId;
        if (customerId is null)
        {
            if (body.CustomerId is { Length: > 0 }) return (null, Problems.NotFound("customer", body.CustomerId));
            customerId = (await Customers.FindOrCreateAsync(db, merchantId, externalId!, null, null, clock, ct)).Customer.Id;
        }

        return (new Order
        {
            Id = Ids.New("ord"), MerchantId = merchantId, CustomerId = customerId, ProductId = found.Id, PriceId = converted?.PriceId ?? found.PriceId!,
            CreatorId = found.CreatorId, Amount = converted?.Converted.MinorUnits ?? found.PriceAmount, Currency = converted?.Converted.Currency.Code ?? found.PriceCurrency!,
            CreatorShareBps = found.CreatorShareBps,
            FxQuoteId = converted?.Quote.Id, FxFrom = converted?.Priced.Currency.Code, FxFromAmount = converted?.Priced.MinorUnits,
            FxRate = converted?.Quote.Rate, FxSource = converted?.Quote.Source, FxExpiresAt = converted?.Quote.ExpiresAt,
            CreatorCurrency = creatorCurrency, CreatorFxRate = creatorFxRate,
            AccessDays = found.Kind == ProductKind.Membership ? found.PeriodDays : null,
            Status = OrderStatus.Pending, CreatedAt = now,
            ExpiresAt = now + (body.ExpiresInSeconds is { } s ? TimeSpan.FromSeconds(s) : DefaultExpiry),
            Description = body.Description,
        }, null);
    }
}
