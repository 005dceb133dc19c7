using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace KnowPay.Tests.Providers;

/// <summary>
/// The phone methods end to end over real HTTP: KnowPay signs for the provider (the sandbox verifies it) and for the learner's
/// client (the test verifies paySign, the app sign and the order string with the merchant's public key), the sandbox plays
/// the buyer's side (WAP and H5 pages, the Alipay and WeChat SDKs, WeixinJSBridge), and the notification pays the order once.
/// </summary>
[Collection("server")]
public sealed class MobileMethodsTests(Servers servers, ITestOutputHelper output)
{
    const string OpenId = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
    /// <summary>The buyer's browser, which must not follow a return redirect out of the test.</summary>
    static readonly HttpClient Browser = new(new HttpClientHandler { AllowAutoRedirect = false });

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AlipayWap_SignedRedirectToAPhoneCashier_PaidThereReturnsToTheMerchant_AndPaysTheOrder(Db db)
    {
        var (server, m, orderId) = await OrderAsync(db);
        var back = server.BaseUrl + "/health/live?from=wap";
        var payment = await m.PostOkAsync($"/v1/orders/{orderId}/payments", new { provider = "alipay", method = "wap", return_url = back });
        Assert.Equal("redirect", (string?)payment["next_action"]!["type"]);
        var redirect = (string)payment["next_action"]!["redirect_url"]!;
        Assert.StartsWith(server.BaseUrl + "/sandbox/alipay/gateway.do?", redirect);
        var p = Form(redirect[(redirect.IndexOf('?') + 1)..]);
        Assert.Equal("alipay.trade.wap.pay", p["method"]);
        Assert.Equal(back, p["return_url"]);
        var biz = Json.Parse(p["biz_content"]);
        Assert.Equal("QUICK_WAP_WAY", (string?)biz["product_code"]);
        Assert.Equal(back, (string?)biz["quit_url"]);
        Assert.True(RsaVerify(AlipayContent(p), p["sign"], Sandbox(server).AlipayMerchantPublicKeyPem));

        Assert.Contains("isv.invalid-signature", await Browser.GetStringAsync(redirect.Replace("99.00", "0.01")));
        var cashier = await Browser.GetStringAsync(redirect);
        Assert.Contains("class=\"phone\"", cashier);
        Assert.Contains("id=\"pay\"", cashier);
        var paid = await Browser.PostAsync($"{server.BaseUrl}/sandbox/alipay/wap/{payment["id"]}", null);
        Assert.Equal(HttpStatusCode.Redirect, paid.StatusCode);
        Assert.StartsWith(back + "&out_trade_no=" + payment["id"], paid.Headers.Location!.OriginalString);
        await PaidOnceAsync(server, m, orderId, (string)payment["id"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AlipayApp_SignedOrderString_TheSdkPaysIt_TamperedStringRefused_AndPaysTheOrder(Db db)
    {
        var (server, m, orderId) = await OrderAsync(db);
        var payment = await m.PostOkAsync($"/v1/orders/{orderId}/payments", new { provider = "alipay", method = "app" });
        Assert.Equal("alipay_app", (string?)payment["next_action"]!["type"]);
        var orderString = (string)payment["next_action"]!["order_string"]!;
        var p = Form(orderString);
        Assert.Equal("alipay.trade.app.pay", p["method"]);
        Assert.Equal("RSA2", p["sign_type"]);
        Assert.EndsWith("/v1/notify/alipay", p["notify_url"]);
        Assert.Equal("QUICK_MSECURITY_PAY", (string?)Json.Parse(p["biz_content"])["product_code"]);
        Assert.True(RsaVerify(AlipayContent(p), p["sign"], Sandbox(server).AlipayMerchantPublicKeyPem));
        Assert.Null(server.Services.GetRequiredService<KnowPay.Sandbox.Alipay.AlipaySimulator>().Inspect((string)payment["id"]!));

        var tampered = await SdkPayAsync(server, orderString.Replace("99.00", "0.01"));
        Assert.Equal(HttpStatusCode.BadRequest, tampered.StatusCode);
        Assert.Contains("isv.invalid-signature", (string?)(await tampered.Content.ReadFromJsonAsync<JsonObject>())!["memo"]);
        var paid = await SdkPayAsync(server, orderString);
        var result = (await paid.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("9000", (string?)result["resultStatus"]);
        Assert.Contains("alipay_trade_app_pay_response", (string?)result["result"]);
        await PaidOnceAsync(server, m, orderId, (string)payment["id"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite, "jsapi")]
    [InlineData(Db.Postgres, "jsapi")]
    [InlineData(Db.Sqlite, "mini_program")]
    [InlineData(Db.Postgres, "mini_program")]
    public async Task WeChatJsapi_PaySignVerifiesWithTheMerchantKey_TheBridgePays_AndPaysTheOrder(Db db, string method)
    {
        var (server, m, orderId) = await OrderAsync(db);
        var sandbox = Sandbox(server);
        var payment = await m.PostOkAsync($"/v1/orders/{orderId}/payments", new { provider = "wechatpay", method, payer = new { openid = OpenId } });
        var a = payment["next_action"]!;
        Assert.Equal("wechat_jsapi", (string?)a["type"]);
        Assert.Equal(sandbox.WeChatAppId, (string?)a["app_id"]);
        Assert.Equal("RSA", (string?)a["sign_type"]);
        Assert.StartsWith("prepay_id=wx", (string?)a["package"]);
        Assert.InRange(long.Parse((string)a["time_stamp"]!), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 300, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
        Assert.True(RsaVerify($"{a["app_id"]}\n{a["time_stamp"]}\n{a["nonce_str"]}\n{a["package"]}\n", (string?)a["pay_sign"], sandbox.WeChatMerchantPublicKeyPem));

        // What the page passes to WeixinJSBridge (wx.requestPayment in a mini program takes no appId).
        var bridge = new Dictionary<string, string>
        {
            ["timeStamp"] = (string)a["time_stamp"]!, ["nonceStr"] = (string)a["nonce_str"]!, ["package"] = (string)a["package"]!,
            ["signType"] = "RSA", ["paySign"] = (string)a["pay_sign"]!,
        };
        if (method == "jsapi")
        {
            bridge["appId"] = (string)a["app_id"]!;
            var page = await Browser.GetStringAsync($"{server.BaseUrl}/sandbox/wechatpay/jsapi/bridge?" + string.Join("&", bridge.Select(f => f.Key + "=" + Uri.EscapeDataString(f.Value))));
            Assert.Contains("verified with the merchant", page);
        }
        var forged = await Browser.PostAsJsonAsync($"{server.BaseUrl}/sandbox/wechatpay/jsapi/pay", new Dictionary<string, string>(bridge) { ["nonceStr"] = "0123456789ABCDEF" });
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal("支付验证签名失败", (string?)(await forged.Content.ReadFromJsonAsync<JsonObject>())!["err_desc"]);
        var paid = await Browser.PostAsJsonAsync($"{server.BaseUrl}/sandbox/wechatpay/jsapi/pay", bridge);
        Assert.Equal("get_brand_wcpay_request:ok", (string?)(await paid.Content.ReadFromJsonAsync<JsonObject>())!["err_msg"]);
        await PaidOnceAsync(server, m, orderId, (string)payment["id"]!);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WeChatH5_RedirectToThePhoneCashierWithTheReturnPage_PaidThereReturns_AndPaysTheOrder(Db db)
    {
        var (server, m, orderId) = await OrderAsync(db);
        var back = server.BaseUrl + "/health/live?from=h5";
        var payment = await m.PostOkAsync($"/v1/orders/{orderId}/payments",
            new { provider = "wechatpay", method = "h5", return_url = back, payer = new { ip = "127.0.0.1" } });   // this test's own address
        Assert.Equal("redirect", (string?)payment["next_action"]!["type"]);
        var h5 = (string)payment["next_action"]!["redirect_url"]!;
        Assert.StartsWith(server.BaseUrl + "/sandbox/wechatpay/h5/checkmweb?prepay_id=wx", h5);
        Assert.EndsWith("&redirect_url=" + Uri.EscapeDataString(back), h5);

        var cashier = await Browser.GetStringAsync(h5);
        Assert.Contains("class=\"phone\"", cashier);
        Assert.Contains("id=\"pay\"", cashier);
        var f = Form(h5[(h5.IndexOf('?') + 1)..]);
        var paid = await Browser.PostAsync($"{server.BaseUrl}/sandbox/wechatpay/h5/checkmweb",
            new FormUrlEncodedContent([new("prepay_id", f["prepay_id"]), new("redirect_url", f["redirect_url"])]));
        Assert.Equal(HttpStatusCode.Redirect, paid.StatusCode);
        Assert.Equal(back, paid.Headers.Location!.OriginalString);
        await PaidOnceAsync(server, m, orderId, (string)payment["id"]!);
    }

    [SkippableFact]
    public async Task WeChatH5_TheCashierRefusesABuyerFromAnotherIpThanTheOrders_AndTheTradeStaysUnpaid()
    {
        var (server, m, orderId) = await OrderAsync(Db.Sqlite);
        var payment = await m.PostOkAsync($"/v1/orders/{orderId}/payments", new { provider = "wechatpay", method = "h5", payer = new { ip = "203.0.113.7" } });
        var h5 = (string)payment["next_action"]!["redirect_url"]!;

        var cashier = await Browser.GetAsync(h5);                                  // this test calls from 127.0.0.1
        var html = await cashier.Content.ReadAsStringAsync();
        Assert.Contains(KnowPay.Sandbox.WeChatPay.WeChatPaySimulator.H5IpMismatch, html);
        Assert.DoesNotContain("id=\"pay\"", html);
        var f = Form(h5[(h5.IndexOf('?') + 1)..]);
        var pay = await Browser.PostAsync($"{server.BaseUrl}/sandbox/wechatpay/h5/checkmweb", new FormUrlEncodedContent([new("prepay_id", f["prepay_id"])]));
        Assert.Contains(KnowPay.Sandbox.WeChatPay.WeChatPaySimulator.H5IpMismatch, await pay.Content.ReadAsStringAsync());
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/payments/{payment["id"]}"))["status"]);
        Assert.Equal("pending", (string?)(await m.GetOkAsync($"/v1/orders/{orderId}"))["status"]);
    }

    [SkippableTheory]
    [InlineData("jsapi")]
    [InlineData("app")]
    [InlineData("h5")]
    public async Task WeChatPhonePrepay_ARequestNotSignedByTheMerchant_IsRefusedBySandbox_With401SignError(string type)
    {
        var (server, _, _) = await OrderAsync(Db.Sqlite);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{server.BaseUrl}/sandbox/wechatpay/v3/pay/transactions/{type}")
        {
            Content = new StringContent("{}", Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",signature=\"AAAA\",timestamp=\"1\",serial_no=\"x\"");
        request.Headers.UserAgent.ParseAdd("KnowPay.Tests/1.0");
        request.Headers.Accept.ParseAdd("application/json");
        var r = await Browser.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("SIGN_ERROR", (string?)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["code"]);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WeChatApp_SignedSdkParameters_TheSdkPays_ForgedSignRefused_AndPaysTheOrder(Db db)
    {
        var (server, m, orderId) = await OrderAsync(db);
        var sandbox = Sandbox(server);
        var payment = await m.PostOkAsync($"/v1/orders/{orderId}/payments", new { provider = "wechatpay", method = "app" });
        var a = payment["next_action"]!;
        Assert.Equal("wechat_app", (string?)a["type"]);
        Assert.Equal(sandbox.WeChatAppId, (string?)a["app_id"]);
        Assert.Equal(sandbox.WeChatMchId, (string?)a["partner_id"]);
        Assert.Equal("Sign=WXPay", (string?)a["package"]);
        Assert.True(RsaVerify($"{a["app_id"]}\n{a["time_stamp"]}\n{a["nonce_str"]}\n{a["prepay_id"]}\n", (string?)a["sign"], sandbox.WeChatMerchantPublicKeyPem));

        var payReq = new Dictionary<string, string>
        {
            ["appid"] = (string)a["app_id"]!, ["partnerid"] = (string)a["partner_id"]!, ["prepayid"] = (string)a["prepay_id"]!,
            ["package"] = (string)a["package"]!, ["noncestr"] = (string)a["nonce_str"]!, ["timestamp"] = (string)a["time_stamp"]!, ["sign"] = (string)a["sign"]!,
        };
        var forged = await Browser.PostAsJsonAsync($"{server.BaseUrl}/sandbox/wechatpay/app/pay", new Dictionary<string, string>(payReq) { ["timestamp"] = "1700000000" });
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        var paid = await Browser.PostAsJsonAsync($"{server.BaseUrl}/sandbox/wechatpay/app/pay", payReq);
        Assert.Equal(0, (int?)(await paid.Content.ReadFromJsonAsync<JsonObject>())!["errCode"]);
        await PaidOnceAsync(server, m, orderId, (string)payment["id"]!);
    }

    [SkippableTheory]
    [InlineData("jsapi", null, null, "payer_openid_required", "payer.openid")]
    [InlineData("mini_program", null, "203.0.113.7", "payer_openid_required", "payer.openid")]
    [InlineData("jsapi", "o p/en", null, "payer_openid_invalid", "payer.openid")]
    [InlineData("h5", null, null, "payer_ip_required", "payer.ip")]
    [InlineData("h5", null, "1", "payer_ip_invalid", "payer.ip")]
    [InlineData("h5", null, "203.0.113.300", "payer_ip_invalid", "payer.ip")]
    [InlineData("h5", null, "fe80::1%eth0", "payer_ip_invalid", "payer.ip")]
    public async Task BadPayer_Is400WithItsCode_AndWritesNoPayment(string method, string? openid, string? ip, string code, string field)
    {
        var (server, m, orderId) = await OrderAsync(Db.Sqlite);
        var response = await m.PostAsync($"/v1/orders/{orderId}/payments", new { provider = "wechatpay", method, payer = new { openid, ip } });
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, (string?)problem["code"]);
        Assert.NotNull(problem["errors"]![field]);
        Assert.Equal(0, await server.QueryAsync(d => d.Payments.CountAsync(p => p.OrderId == orderId)));
    }

    [SkippableFact]
    public async Task PayerIsOptionalForOtherMethods_AndAnIpv6AddressIsAcceptedForH5()
    {
        var (_, m, orderId) = await OrderAsync(Db.Sqlite);
        var h5 = await m.PostOkAsync($"/v1/orders/{orderId}/payments", new { provider = "wechatpay", method = "h5", payer = new { ip = "2001:db8::7" } });
        Assert.Equal("redirect", (string?)h5["next_action"]!["type"]);
        var qr = await m.PostOkAsync($"/v1/orders/{orderId}/payments", new { provider = "wechatpay", method = "qr" });
        Assert.Equal("qr_code", (string?)qr["next_action"]!["type"]);
    }

    [SkippableFact]
    public async Task OpenApi_NextActionIsOneOfItsTypedVariants_DiscriminatedByType_AndThePaymentRequestTakesAPayer()
    {
        var server = await servers.Get(Db.Sqlite);
        var schemas = Json.Parse(await server.Anonymous.GetStringAsync(server.BaseUrl + "/openapi/v1.json"))["components"]!["schemas"]!;
        var next = schemas["NextAction"]!;
        output.WriteLine(next.ToJsonString());
        Assert.Equal("type", (string?)next["discriminator"]!["propertyName"]);
        var mapping = next["discriminator"]!["mapping"]!.AsObject();
        Assert.Equal(["alipay_app", "client_secret", "qr_code", "redirect", "wechat_app", "wechat_jsapi"], mapping.Select(v => v.Key).Order());
        Assert.Equal(6, next["oneOf"]!.AsArray().Count);
        Assert.Null(next["anyOf"]);
        var jsapi = schemas[((string)mapping["wechat_jsapi"]!).Split('/')[^1]]!;
        output.WriteLine(jsapi.ToJsonString());
        foreach (var field in new[] { "type", "app_id", "time_stamp", "nonce_str", "package", "sign_type", "pay_sign" })
            Assert.Contains(field, jsapi["required"]!.AsArray().Select(r => (string?)r));
        Assert.NotNull(schemas[((string)mapping["alipay_app"]!).Split('/')[^1]]!["properties"]!["order_string"]);
        Assert.NotNull(schemas["CreatePaymentRequest"]!["properties"]!["payer"]);
        Assert.NotNull(schemas["PayerInput"]!["properties"]!["openid"]);
    }

    async Task<(KnowPayServer Server, MerchantClient Merchant, string OrderId)> OrderAsync(Db db)
    {
        var server = await servers.Get(db);
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync();
        return (server, m, (string)(await m.OrderAsync(productId))["id"]!);
    }

    /// <summary>The notification paid the order once: payment succeeded by notification, one journal, no next action left.</summary>
    static async Task PaidOnceAsync(KnowPayServer server, MerchantClient m, string orderId, string paymentId)
    {
        await m.WaitForOrderAsync(orderId, "paid");
        var stored = await server.QueryAsync(d => d.Payments.SingleAsync(p => p.Id == paymentId));
        Assert.Equal(PaymentStatus.Succeeded, stored.Status);
        Assert.Equal("notification", stored.ConfirmedBy);
        Assert.NotNull(stored.ProviderTradeNo);
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        Assert.Null((await m.GetOkAsync($"/v1/payments/{paymentId}"))["next_action"]);
    }

    static Task<HttpResponseMessage> SdkPayAsync(KnowPayServer server, string orderString) =>
        Browser.PostAsync($"{server.BaseUrl}/sandbox/alipay/app/pay", new FormUrlEncodedContent([new("order_string", orderString)]));

    static SandboxOptions Sandbox(KnowPayServer server) => server.Services.GetRequiredService<SandboxOptions>();

    /// <summary>k=v&amp;… with URL-encoded values, decoded.</summary>
    static Dictionary<string, string> Form(string text) => text.Split('&').Select(pair => pair.Split('=', 2))
        .ToDictionary(kv => WebUtility.UrlDecode(kv[0]), kv => WebUtility.UrlDecode(kv[1]));

    /// <summary>Alipay's string to sign for a request: all non-empty parameters but sign, in key order, raw values.</summary>
    static string AlipayContent(Dictionary<string, string> p) =>
        string.Join("&", p.Where(kv => kv.Key != "sign" && kv.Value.Length > 0).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));

    static bool RsaVerify(string content, string? signature, string publicKeyPem)
    {
        using var rsa = RSA.Create();
        rsa.ImportFromPem(publicKeyPem);
        return signature is not null
               && rsa.VerifyData(Encoding.UTF8.GetBytes(content), Convert.FromBase64String(signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }
}
