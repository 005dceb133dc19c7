using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace KnowPay.Infrastructure;

/// <summary>RFC 9457 problem responses with a stable machine <c>code</c>; the one place error bodies are shaped.</summary>
public static class Problems
{
    public static ProblemHttpResult Of(int status, string code, string detail, IDictionary<string, string[]>? fields = null)
    {
        var problem = new ProblemDetails
        {
            Status = status,
            Type = $"urn:knowpay:error:{code}",
            Title = code.Replace('_', ' '),
            Detail = detail,
        };
        problem.Extensions["code"] = code;
        if (fields is { Count: > 0 }) problem.Extensions["errors"] = fields;
        return TypedResults.Problem(problem);
    }

    public static ProblemHttpResult Invalid(string code, string field, string detail) =>
        Of(StatusCodes.Status400BadRequest, code, detail, new Dictionary<string, string[]> { [field] = [detail] });

    public static ProblemHttpResult BadRequest(string code, string detail) => Of(StatusCodes.Status400BadRequest, code, detail);

    /// <summary>404 with a code such as <c>order_not_found</c>; another merchant's object is answered the same way.</summary>
    public static ProblemHttpResult NotFound(string what, string id) =>
        Of(StatusCodes.Status404NotFound, $"{what}_not_found", $"No such {what}: '{id}'.");

    public static ProblemHttpResult Conflict(string code, string detail) => Of(StatusCodes.Status409Conflict, code, detail);

    public static ProblemHttpResult Unauthorized(string code, string detail) => Of(StatusCodes.Status401Unauthorized, code, detail);

    public static ProblemHttpResult Forbidden(string code, string detail) => Of(StatusCodes.Status403Forbidden, code, detail);

    /// <summary>Writes a problem outside an endpoint (middleware).</summary>
    public static Task WriteAsync(HttpContext http, ProblemHttpResult problem) => problem.ExecuteAsync(http);

    /// <summary>Maps framework exceptions (malformed JSON, oversized body) to 4xx problems; anything else is a 500 without internals.</summary>
    public static void UseKnowPayProblems(this WebApplication app)
    {
        // Answers the framework ends without a body (unknown route, wrong method, wrong content type, …) get one.
        app.UseStatusCodePages(context => WriteForStatusAsync(context.HttpContext));
        // A declared Content-Length over the limit is refused before anything reads the body.
        app.Use(async (http, next) =>
        {
            var limit = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            if (limit is not null && http.Request.ContentLength > limit)
            {
                await Of(413, "body_too_large", $"The request body is larger than this API accepts ({limit} bytes).").ExecuteAsync(http);
                return;
            }
            await next();
        });
        app.UseExceptionHandler(errors => errors.Run(async http =>
        {
            var error = http.Features.Get<IExceptionHandlerFeature>()?.Error;
            var problem = error switch
            {
                BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                    Of(413, "body_too_large", "The request body is larger than this API accepts."),
                BadHttpRequestException bad =>
                    Of(400, "body_invalid", "The request body is not valid JSON for this endpoint: " + FirstLine(bad)),
                System.Text.Json.JsonException json =>
                    Of(400, "body_invalid", "The request body is not valid JSON: " + json.Message),
                Features.Ledger.LedgerSumOutOfRangeException sum => Of(409, "ledger_sum_out_of_range", sum.Message),
                Features.Ledger.PeriodClosedException closed => Of(409, Features.Ledger.LedgerPeriods.ClosedCode, closed.Message),
                { } e when Features.Ledger.LedgerPeriods.IsPeriodClosed(e) =>
                    Of(409, Features.Ledger.LedgerPeriods.ClosedCode, "The ledger day is closed; nothing was written."),
                OperationCanceledException when http.RequestAborted.IsCancellationRequested =>
                    Of(499, "request_aborted", "The client closed the request."),
                _ => Of(500, "internal_error", "Something went wrong on our side; nothing was changed unless the response said so."),
            };
            await problem.ExecuteAsync(http);
        }));
    }

    /// <summary>The problem for an error status that left the pipeline without a body; the code depends only on the status.</summary>
    public static ProblemHttpResult ForStatus(int status) => status switch
    {
        400 => Of(400, "body_invalid", "The request is not valid for this endpoint."),
        401 => Of(401, "unauthorized", "This resource needs authentication."),
        403 => Of(403, "forbidden", "This resource is not available to you."),
        404 => Of(404, "not_found", "There is no resource at this path."),
        405 => Of(405, "method_not_allowed", "This path does not accept this HTTP method; see the Allow header."),
        406 => Of(406, "not_acceptable", "This resource cannot be answered in the requested media type."),
        413 => Of(413, "body_too_large", "The request body is larger than this API accepts."),
        415 => Of(415, "unsupported_media_type", "This endpoint accepts 'application/json' request bodies."),
        429 => Of(429, "rate_limited", "Too many requests; retry after the time in the Retry-After header."),
        >= 500 => Of(status, "internal_error", "Something went wrong on our side; nothing was changed unless the response said so."),
        _ => Of(status, "http_" + status.ToString(System.Globalization.CultureInfo.InvariantCulture), "The request could not be served."),
    };

    static Task WriteForStatusAsync(HttpContext http) => ForStatus(http.Response.StatusCode).ExecuteAsync(http);

    static string FirstLine(Exception e) => (e.InnerException?.Message ?? e.Message).Split('\n')[0];
}
