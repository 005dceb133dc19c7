using static KnowPay.Sandbox.Stripe.StripeWire;

namespace KnowPay.Sandbox.Stripe;

/// <summary>
/// GET /v1/balance_transactions: the account's balance movements as Stripe lists them, newest first, filtered by
/// <c>created[gte|gt|lte|lt]</c> (unix seconds) and <c>type</c>, paged by <c>limit</c> (1–100, default 10) and
/// <c>starting_after</c>. A charge is a <c>charge</c> transaction (gross <c>amount</c>, Stripe's <c>fee</c>, <c>net</c>),
/// a refund a <c>refund</c> one (negative amount, no fee); both in the charge's currency (this account settles in every
/// currency it charges, so <c>exchange_rate</c> is null). <c>expand[]=data.source</c> embeds the charge or refund object.
/// The bill faults of <see cref="SandboxBills"/> apply.
/// </summary>
public sealed partial class StripeSimulator
{
    void MapBalanceTransactions(RouteGroupBuilder g) =>
        g.MapGet("/v1/balance_transactions", (Delegate)((HttpContext http) => wire.MerchantGet(http, () => BalanceTransactions(http.Request.Query))));

    (int, JsonObject) BalanceTransactions(IQueryCollection query)
    {
        long? Bound(string name)
        {
            var text = query[$"created[{name}]"].ToString();
            return text.Length == 0 ? null : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1;
        }
        var (gte, gt, lte, lt) = (Bound("gte"), Bound("gt"), Bound("lte"), Bound("lt"));
        if (gte < 0 || gt < 0 || lte < 0 || lt < 0) return InvalidRequest("parameter_invalid_integer", "created", "Invalid timestamp: created bounds are unix seconds.");
        var limit = 10;
        if (query["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 100))
            return InvalidRequest("parameter_invalid_integer", "limit", "Invalid integer: limit must be between 1 and 100.");
        var type = query["type"].ToString();
        var expand = query["expand[]"].Contains("data.source");

        var candidates = new List<BillEntry<StripeIntent>>();
        foreach (var intent in intents.Values)
            lock (intent)
            {
                if (intent.SucceededAt is { } paid)
                    candidates.Add(new(BillEntryKind.Payment, intent, intent.TradeKey, null, intent.AmountReceived,
                        billing.Fee("stripe", intent.AmountReceived), DateTimeOffset.FromUnixTimeSeconds(paid)));
                foreach (var refund in intent.Refunds)
                    lock (refund)
                        if ((string?)refund["status"] == "succeeded")
                            candidates.Add(new(BillEntryKind.Refund, intent, intent.TradeKey, RefundKey(refund), (long)refund["amount"]!, 0,
                                DateTimeOffset.FromUnixTimeSeconds((long)refund["created"]!)));
            }
        var rows = billing.Between(candidates, at =>
            {
                var t = at.ToUnixTimeSeconds();
                return (gte is null || t >= gte) && (gt is null || t > gt) && (lte is null || t <= lte) && (lt is null || t < lt);
            })
            .Select(e => Transaction(e, expand))
            .Where(t => type.Length == 0 || (string?)t["type"] == type)
            .OrderByDescending(t => (long)t["created"]!).ThenByDescending(t => (string)t["id"]!, StringComparer.Ordinal)
            .ToList();
        if (query["starting_after"].ToString() is { Length: > 0 } after)
        {
            var at = rows.FindIndex(t => (string?)t["id"] == after);
            if (at < 0) return Missing("balance_transaction", after);
            rows = rows[(at + 1)..];
        }
        var data = new JsonArray();
        foreach (var row in rows.Take(limit)) data.Add(row);
        return (200, new JsonObject { ["object"] = "list", ["data"] = data, ["has_more"] = rows.Count > limit, ["url"] = "/v1/balance_transactions" });
    }

    /// <summary>A bill row as a balance transaction; its id is derived from its source, so that pages are stable between requests.</summary>
    static JsonObject Transaction(BillEntry<StripeIntent> e, bool expand)
    {
        var intent = e.Source;
        JsonNode source;
        string sourceId;
        lock (intent)
        {
            if (e.Kind == BillEntryKind.Payment)
            {
                var charge = Charge(intent);
                if (e.Extra)
                {
                    // An extra trade: a charge of its own, of a PaymentIntent the merchant never created.
                    charge["id"] = "ch_" + Derived("extra" + intent.LatestCharge, 24);
                    charge["payment_intent"] = "pi_" + Derived("extra" + intent.Id, 24);
                    charge["metadata"] = new JsonObject { ["payment_id"] = e.OutTradeNo };
                }
                charge["amount"] = e.Amount;
                charge["amount_captured"] = e.Amount;
                source = charge;
            }
            else
            {
                var refund = intent.Refunds.First(r => RefundKey(r) == e.OutRefundNo);
                lock (refund) source = refund.DeepClone();
            }
            sourceId = (string)source["id"]!;
        }
        var amount = e.Kind == BillEntryKind.Payment ? e.Amount : -e.Amount;
        var type = e.Kind == BillEntryKind.Payment ? "charge" : "refund";
        return new JsonObject
        {
            ["id"] = "txn_" + Derived(sourceId, 24), ["object"] = "balance_transaction", ["amount"] = amount, ["currency"] = e.Currency?.ToLowerInvariant() ?? intent.Currency,
            ["fee"] = e.Fee, ["net"] = amount - e.Fee, ["created"] = e.At.ToUnixTimeSeconds(),
            ["available_on"] = e.At.AddDays(2).ToUnixTimeSeconds(), ["status"] = "available", ["type"] = type, ["reporting_category"] = type,
            ["exchange_rate"] = null, ["description"] = intent.Description,
            ["fee_details"] = e.Fee == 0 ? new JsonArray() : new JsonArray(new JsonObject
            {
                ["amount"] = e.Fee, ["currency"] = intent.Currency, ["type"] = "stripe_fee", ["description"] = "Stripe processing fees",
            }),
            ["source"] = expand ? source : sourceId,
        };
    }

    /// <summary>The merchant's id of a refund (its metadata refund_id), which bill faults are keyed by; else Stripe's id.</summary>
    static string RefundKey(JsonObject refund) => (string?)refund["metadata"]?["refund_id"] ?? (string)refund["id"]!;

    static string Derived(string from, int length) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(from)))[..length];
}
