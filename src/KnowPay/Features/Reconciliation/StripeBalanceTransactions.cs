using System.Text.Json.Nodes;

namespace KnowPay.Features.Reconciliation;

/// <summary>
/// Stripe's balance transactions (GET /v1/balance_transactions, the source expanded) as bill lines: a <c>charge</c> or
/// <c>payment</c> is a payment (gross <c>amount</c>, Stripe's <c>fee</c>), a <c>refund</c> or <c>payment_refund</c> a refund
/// (its amount negative). Our ids come from the source's metadata (<c>payment_id</c>, <c>refund_id</c>), else Stripe's own
/// ids stand in (a trade KnowPay did not make). Other movements — payouts, adjustments, Stripe's own fees — are not matched.
/// Amounts are integers in the balance currency; <paramref name="lineNumber"/> is the transaction's position in the list.
/// </summary>
public static class StripeBalanceTransactions
{
    /// <returns>The bill line, or null for a movement that is not a payment or a refund.</returns>
    /// <exception cref="BillFormatException">A field is missing or not of its type.</exception>
    public static BillLine? Line(JsonObject transaction, int lineNumber)
    {
        var type = Text(transaction, "type", lineNumber);
        var kind = type switch
        {
            "charge" or "payment" => BillLineKind.Payment,
            "refund" or "payment_refund" => BillLineKind.Refund,
            _ => (BillLineKind?)null,
        };
        if (kind is null) return null;
        var currency = Text(transaction, "currency", lineNumber).ToUpperInvariant();
        if (!Domain.Currency.TryFind(currency, out _)) throw new BillFormatException($"unknown currency '{currency}'", lineNumber);
        var amount = Integer(transaction, "amount", lineNumber);
        var fee = Integer(transaction, "fee", lineNumber);
        DateTime? at = transaction["created"] is JsonValue created && created.TryGetValue(out long unix) ? DateTimeOffset.FromUnixTimeSeconds(unix).UtcDateTime : null;
        if (transaction["source"] is not JsonObject source)
            throw new BillFormatException("source is not expanded (expand[]=data.source)", lineNumber);
        var metadata = source["metadata"] as JsonObject;
        var paymentIntent = (string?)source["payment_intent"];
        var outTradeNo = (string?)metadata?["payment_id"] ?? paymentIntent ?? Text(source, "id", lineNumber);
        if (kind == BillLineKind.Payment)
        {
            if (amount < 0) throw new BillFormatException($"a {type} of a negative amount", lineNumber);
            return new BillLine(lineNumber, BillLineKind.Payment, outTradeNo, paymentIntent, null, null, amount, currency, fee, BillLineStatus.Succeeded, at);
        }
        if (amount > 0) throw new BillFormatException($"a {type} of a positive amount", lineNumber);
        var refundId = Text(source, "id", lineNumber);
        return new BillLine(lineNumber, BillLineKind.Refund, outTradeNo, paymentIntent, (string?)metadata?["refund_id"] ?? refundId, refundId,
            -amount, currency, Math.Abs(fee), BillLineStatus.Succeeded, at);
    }

    static string Text(JsonObject o, string name, int line) =>
        o[name] is JsonValue v && v.TryGetValue(out string? s) && s.Length > 0 ? s : throw new BillFormatException($"field {name} is missing", line);

    static long Integer(JsonObject o, string name, int line) =>
        o[name] is JsonValue v && v.TryGetValue(out long n) ? n : throw new BillFormatException($"field {name} is not an integer", line);
}
