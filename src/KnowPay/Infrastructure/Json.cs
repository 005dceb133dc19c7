using System.Text.Json;
using System.Text.Json.Serialization;

namespace KnowPay.Infrastructure;

/// <summary>The public contract's JSON: snake_case names, enums as snake_case strings, nulls omitted.</summary>
public static class KnowPayJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions o)
    {
        o.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        o.DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower;
        o.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        return o;
    }

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}

/// <summary>
/// A 201 Created whose JSON body is serialised up front (<see cref="For"/>), so that the handler can store the exact bytes it
/// answers — the Idempotency-Key's replay (<see cref="IdempotencyClaim.StageCompletion"/>) — in the same commit as its work.
/// </summary>
public sealed class CreatedJson<T> : Microsoft.AspNetCore.Http.IResult, Microsoft.AspNetCore.Http.Metadata.IEndpointMetadataProvider, Microsoft.AspNetCore.Http.IStatusCodeHttpResult
{
    public const string ContentType = "application/json; charset=utf-8";
    CreatedJson(string location, byte[] body) { Location = location; Body = body; }

    public string Location { get; }
    public byte[] Body { get; }
    public int StatusCode => StatusCodes.Status201Created;
    int? Microsoft.AspNetCore.Http.IStatusCodeHttpResult.StatusCode => StatusCode;

    public static CreatedJson<T> For(string location, T value) => new(location, JsonSerializer.SerializeToUtf8Bytes(value, KnowPayJson.Options));

    public Task ExecuteAsync(HttpContext http)
    {
        http.Response.StatusCode = StatusCode;
        http.Response.Headers.Location = Location;
        http.Response.ContentType = ContentType;
        http.Response.ContentLength = Body.Length;
        return http.Response.Body.WriteAsync(Body).AsTask();
    }

    public static void PopulateMetadata(System.Reflection.MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new Microsoft.AspNetCore.Http.ProducesResponseTypeMetadata(StatusCodes.Status201Created, typeof(T), ["application/json"]));
}
