namespace KnowPay.Sandbox.WeChatPay;

/// <summary>
/// The official account's web OAuth, as WeChat runs it for a page opened inside WeChat: <c>/connect/oauth2/authorize</c>
/// (snsapi_base approves silently: straight back to redirect_uri with <c>code</c> and <c>state</c>) and
/// <c>/sns/oauth2/access_token</c> (appid, secret, code, grant_type=authorization_code → openid). A code is good once,
/// for 5 minutes, and only for the appid it was issued to; the sandbox's learner has one openid per appid.
/// </summary>
public sealed partial class WeChatPaySimulator
{
    static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(5);
    readonly ConcurrentDictionary<string, (string AppId, string OpenId, string Scope, DateTimeOffset ExpiresAt)> oauthCodes = new(StringComparer.Ordinal);

    void MapOAuth(IEndpointRouteBuilder g)
    {
        g.MapGet("/connect/oauth2/authorize", (HttpContext http) => Authorize(http.Request.Query));
        g.MapGet("/sns/oauth2/access_token", (HttpContext http) => AccessToken(http.Request.Query));
    }

    /// <summary>The openid of the sandbox's learner under <paramref name="appId"/>: 28 characters starting with "o", as WeChat's are.</summary>
    public string SandboxOpenId(string appId) =>
        "o" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes("sandbox-learner:" + appId)))
            .Replace('+', '-').Replace('/', '_')[..27];

    IResult Authorize(IQueryCollection q)
    {
        var appId = q["appid"].ToString();
        var redirectUri = q["redirect_uri"].ToString();
        var scope = q["scope"].ToString();
        string? error = appId != options.WeChatAppId ? "appid 参数错误 (10003 redirect_uri 域名与后台配置不一致 / appid 无效)"
            : q["response_type"] != "code" ? "response_type 参数错误"
            : scope is not ("snsapi_base" or "snsapi_userinfo") ? "scope 参数错误或没有 scope 权限 (10005)"
            : !Uri.TryCreate(redirectUri, UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https") ? "redirect_uri 参数错误"
            : q["state"].ToString().Length > 128 ? "state 参数过长"
            : null;
        if (error is not null) return Results.Content($"<p>{System.Net.WebUtility.HtmlEncode(error)}</p>", "text/html; charset=utf-8", statusCode: 400);
        var code = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        oauthCodes[code] = (appId, SandboxOpenId(appId), scope, DateTimeOffset.UtcNow + CodeLifetime);
        var back = redirectUri + (redirectUri.Contains('?') ? "&" : "?") + "code=" + code + "&state=" + Uri.EscapeDataString(q["state"].ToString());
        return Results.Redirect(back);
    }

    IResult AccessToken(IQueryCollection q)
    {
        if (q["appid"] != options.WeChatAppId) return OAuthError(40013, "invalid appid");
        if (string.IsNullOrEmpty(options.WeChatAppSecret) || q["secret"] != options.WeChatAppSecret) return OAuthError(40125, "invalid appsecret");
        if (q["grant_type"] != "authorization_code") return OAuthError(40002, "invalid grant_type");
        if (!oauthCodes.TryRemove(q["code"].ToString(), out var issued) || issued.ExpiresAt < DateTimeOffset.UtcNow || issued.AppId != q["appid"])
            return OAuthError(40029, "invalid code");
        return Results.Json(new
        {
            access_token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), expires_in = 7200,
            refresh_token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), openid = issued.OpenId, scope = issued.Scope,
        }, SdkJson);
    }

    /// <summary>WeChat answers errors 200 OK with errcode and errmsg.</summary>
    static IResult OAuthError(int code, string message) => Results.Json(new { errcode = code, errmsg = message }, SdkJson);
}
