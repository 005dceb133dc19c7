using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KnowPay.Features.Fx;

/// <summary>The stable answers for a currency code KnowPay cannot take: withdrawn from ISO 4217, or not in it at all.</summary>
public static class CurrencyProblems
{
    public static ProblemHttpResult NotTaken(string field, string? code) => Currency.IsWithdrawn(code)
        ? Problems.Invalid("currency_withdrawn", field, $"'{code}' was withdrawn from ISO 4217; use its successor.")
        : Problems.Invalid("currency_unsupported", field, $"'{code}' is not an ISO 4217 currency.");
}
