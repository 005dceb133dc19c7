using System.ComponentModel.DataAnnotations;
using KnowPay.Data;
using KnowPay.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KnowPay.Features.Risk;

/// <summary>
/// The learner's context as the platform saw it (<c>risk_context</c> on orders and payments): the risk signals count by it,
/// and it is the evidence a merchant shows in a dispute. The hosted checkout fills in IP and user agent itself.
/// </summary>
public sealed record RiskContextInput(
    [property: ColumnLength(45)] string? Ip, [property: ColumnLength(200)] string? DeviceId, [property: ColumnLength(200)] string? UserAgent,
    DateTime? AccountCreatedAt, [property: ColumnLength(200)] string? LoginId)
{
    /// <summary>The problem naming the first bad field, or null.</summary>
    public ProblemHttpResult? Problem()
    {
        if (Ip is not null && !System.Net.IPAddress.TryParse(Ip, out _))
            return Problems.Invalid("risk_context_invalid", "risk_context.ip", "risk_context.ip must be an IPv4 or IPv6 address.");
        if (DeviceId is { Length: > 200 } || UserAgent is { Length: > 200 } || LoginId is { Length: > 200 })
            return Problems.Invalid("risk_context_invalid", "risk_context", "risk_context's device_id, user_agent and login_id are at most 200 characters.");
        return null;
    }

    /// <summary>The context of a browser request to the hosted checkout.</summary>
    public static RiskContextInput FromRequest(HttpContext http)
    {
        var ip = http.Connection.RemoteIpAddress;
        var agent = http.Request.Headers.UserAgent.ToString();
        return new RiskContextInput(ip is null ? null : (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString(), null,
            agent.Length == 0 ? null : agent[..Math.Min(agent.Length, 200)], null, null);
    }

    /// <summary>Stored with the payment.</summary>
    public static void Apply(Payment payment, RiskContextInput? context)
    {
        if (context is null) return;
        payment.RiskIp = context.Ip;
        payment.RiskDeviceId = context.DeviceId;
        payment.RiskUserAgent = context.UserAgent;
        payment.RiskAccountCreatedAt = context.AccountCreatedAt;
        payment.RiskLoginId = context.LoginId;
    }
}
