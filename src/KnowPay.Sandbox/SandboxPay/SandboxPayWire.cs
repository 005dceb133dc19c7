
namespace KnowPay.Sandbox.SandboxPay;

/// <summary>
/// SandboxPay's wire rules, shared by its trade and transfer APIs: request verification ("t.METHOD PATH?QUERY.body"),
/// signed answers and notifications ("t.body"), the error shape and the notification retry schedule.
/// </summary>
public sealed class SandboxPayWire(SandboxOptions options, SandboxClock clock)
{
    public const string SignatureHeader = "SandboxPay-Signature";

    public static readonly TimeSpan[] RetrySchedule =
        [TimeSpan.FromSeconds(15), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(6)];

    /// <summary>Reads the body and checks the merchant's signature; a refusal is SandboxPay's 401 invalid_signature.</summary>
    public async Task<(bool Ok, string Body, IResult? Refusal)> VerifyRequestAsync(HttpContext http)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var header = http.Request.Headers[SignatureHeader].ToString();
        var payload = $"{http.Request.Method} {http.Request.Path}{http.Request.QueryString}.{body}";
        if (!Verify(options.SandboxPaySecret, header, payload, clock.Now))
            return (false, body, Error(401, "invalid_signature", "SandboxPay-Signature is missing, stale or does not match"));
        return (true, body, null);
    }

    /// <summary>SandboxPay's answer to a call the fault settings fail.</summary>
    public static IResult Unavailable() => Error(503, "system_error", "injected failure");

    public IResult Signed(object value)
    {
        var json = JsonSerializer.Serialize(value);
        return new SignedJson(json, Sign(json), "application/json");
    }

    /// <summary>A text answer (a bill) signed over its exact body like any other.</summary>
    public IResult SignedText(string text, string contentType) => new SignedJson(text, Sign(text), contentType);

    public string Sign(string payload)
    {
        var t = clock.Now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"t={t},v1={Hmac(options.SandboxPaySecret, t + "." + payload)}";
    }

    public static string Hmac(string secret, string payload) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(payload)));

    /// <summary>Checks "t=…,v1=…" over "t.payload" with a 300 s tolerance both ways, in constant time.</summary>
    public static bool Verify(string secret, string header, string payload, DateTimeOffset now)
    {
        string? t = null, v1 = null;
        foreach (var part in header.Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2) continue;
            if (kv[0].Trim() == "t") t = kv[1].Trim();
            if (kv[0].Trim() == "v1") v1 = kv[1].Trim();
        }
        if (t is null || v1 is null || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var unix)) return false;
        if (Math.Abs(now.ToUnixTimeSeconds() - unix) > 300) return false;
        var expected = Encoding.ASCII.GetBytes(Hmac(secret, t + "." + payload));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(v1));
    }

    public static IResult Error(int status, string code, string message) =>
        Results.Json(new { error = code, message }, statusCode: status);

    sealed class SignedJson(string json, string signature, string contentType) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers[SignatureHeader] = signature;
            http.Response.ContentType = contentType;
            return http.Response.WriteAsync(json);
        }
    }
}
