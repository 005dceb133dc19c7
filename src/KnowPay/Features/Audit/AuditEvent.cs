namespace KnowPay.Features.Audit;

/// <summary>
/// One action taken on a merchant's account: who (<see cref="ActorType"/> and <see cref="ActorId"/>), what
/// (<see cref="Operation"/> on <see cref="ObjectType"/> <see cref="ObjectId"/>), when, from where, and how it ended.
/// Rows are only ever inserted: database triggers refuse UPDATE and DELETE. No request body, credential or query value is kept.
/// </summary>
public sealed class AuditEvent
{
    public const string ApiKeyActor = "api_key", DashboardActor = "dashboard", CliActor = "cli", SystemActor = "system";
    public const string Succeeded = "succeeded", Failed = "failed";

    public required string Id { get; init; }
    /// <summary>Null only for what belongs to no merchant, such as a dashboard sign-in with an unknown key.</summary>
    public string? MerchantId { get; init; }
    public required string ActorType { get; init; }
    /// <summary>The API key's id (never its secret), the dashboard session's key id, or "cli:" and the operator's user name.</summary>
    public required string ActorId { get; init; }
    /// <summary>For API calls the method and route pattern, e.g. "POST /v1/payments/{paymentId}/refunds".</summary>
    public required string Operation { get; init; }
    public string? ObjectType { get; init; }
    public string? ObjectId { get; init; }
    public DateTime OccurredAt { get; init; }
    public string? Ip { get; init; }
    public string? UserAgent { get; init; }
    /// <summary>The HTTP status of the answer; null for CLI commands.</summary>
    public int? Status { get; init; }
    public required string Outcome { get; init; }
    public string? RequestId { get; init; }
}
