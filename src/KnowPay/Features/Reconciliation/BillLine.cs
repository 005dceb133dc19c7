using System.Globalization;
using KnowPay.Domain;
using KnowPay.Providers.Alipay;

namespace KnowPay.Features.Reconciliation;

public enum BillLineKind { Payment, Refund }

/// <summary>
/// One row of a provider's bill, in KnowPay's terms: amounts in minor units of <see cref="Currency"/>, always positive (a
/// refund is a refund by its kind, not by its sign). <see cref="Key"/> is unique within a provider's day.
/// </summary>
public sealed record BillLine(
    int LineNumber, BillLineKind Kind, string OutTradeNo, string? ProviderTradeNo, string? OutRefundNo, string? ProviderRefundNo,
    long Amount, string Currency, long Fee, BillLineStatus Status, DateTime? At)
{
    public string Key => Kind == BillLineKind.Payment ? "payment:" + OutTradeNo : "refund:" + OutRefundNo;
}

/// <summary>What the bill says of the row: Alipay lists successes only; WeChat Pay's refund rows carry their state.</summary>
public enum BillLineStatus { Succeeded, Pending, Failed }

/// <summary>A bill that does not parse: the reason and, where known, the line (1-based, of the file as decoded).</summary>
public sealed class BillFormatException(string reason, int? line = null)
    : Exception(line is { } n ? $"line {n}: {reason}" : reason)
{
    public string Reason { get; } = reason;
    public int? Line { get; } = line;
}

/// <summary>Yuan (or any major-unit) strings to minor units, exactly: a decimal parse of the text, never through floating point.</summary>
public static class BillAmounts
{
    /// <exception cref="BillFormatException">Not a number, or more decimals than the currency allows (an error, not a rounding).</exception>
    public static long MinorUnits(string text, string currencyCode, int line, string column)
    {
        if (!Domain.Currency.TryFind(currencyCode, out var currency))
            throw new BillFormatException($"unknown currency '{currencyCode}'", line);
        var trimmed = text.Trim();
        if (Money.TryParseDecimal(trimmed, currency, out var money)) return money.MinorUnits;
        // Only the message tells a number too precise for the currency from no number at all.
        throw new BillFormatException(decimal.TryParse(trimmed, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)
            ? $"column {column}: '{trimmed}' has more decimals than {currency.Code} allows"
            : $"column {column}: '{trimmed}' is not an amount", line);
    }

    /// <summary>China Standard Time (UTC+8, no daylight saving) as written in Alipay and WeChat Pay bills, to UTC.</summary>
    public static DateTime? ChinaTime(string text) => AlipaySignature.ParseTimestamp(text.Trim());
}
