using System.Security.Cryptography;
using System.Text;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.WeChatPay;
using KnowPay.Sandbox;

namespace KnowPay.Tests.Providers;

/// <summary>
/// Golden tests: the strings to sign are exactly those the providers document (alipay-sdk-java
/// AlipaySignature.getSignContent / getSignCheckContentV1, wechatpay-apiv3 signing), and the signatures equal an
/// independent SHA256withRSA PKCS#1 v1.5 over those literal strings with a fixed key.
/// </summary>
public sealed class AlipayWeChatPaySignatureTests
{
    static readonly RSA Key = RSA.Create(2048);
    static readonly string PrivatePem = Key.ExportPkcs8PrivateKeyPem();
    static readonly string PublicPem = Key.ExportSubjectPublicKeyInfoPem();

    static string Expected(string literal) =>
        Convert.ToBase64String(Key.SignData(Encoding.UTF8.GetBytes(literal), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));

    static readonly Dictionary<string, string?> Request = new()
    {
        ["timestamp"] = "2014-07-24 03:07:50", ["method"] = "alipay.trade.precreate", ["app_id"] = "2014072300007148",
        ["sign_type"] = "RSA2", ["charset"] = "utf-8", ["version"] = "1.0", ["notify_url"] = "", ["sign"] = "ignored",
        ["biz_content"] = "{\"out_trade_no\":\"pay_1\",\"total_amount\":\"99.00\",\"subject\":\"课程\"}",
    };

    const string RequestLiteral =
        "app_id=2014072300007148&biz_content={\"out_trade_no\":\"pay_1\",\"total_amount\":\"99.00\",\"subject\":\"课程\"}" +
        "&charset=utf-8&method=alipay.trade.precreate&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0";

    [Fact]
    public void AlipayRequest_StringToSign_DropsSignAndEmptyValues_KeepsSignType_SortsByAscii_AndSignsAsTheSdk()
    {
        Assert.Equal(RequestLiteral, AlipaySignature.Content(Request, dropSignType: false));
        Assert.Equal(RequestLiteral, SandboxRsa.AlipayContent(Request.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value ?? "")), false));
        var sign = AlipaySignature.Sign(RequestLiteral, PrivatePem);
        Assert.Equal(Expected(RequestLiteral), sign);
        Assert.Equal(sign, SandboxRsa.Sign(RequestLiteral, PrivatePem));
        Assert.True(AlipaySignature.Verify(RequestLiteral, sign, PublicPem));
        Assert.False(AlipaySignature.Verify(RequestLiteral.Replace("99.00", "99.01"), sign, PublicPem));
    }

    [Fact]
    public void AlipayNotification_StringToSign_DropsSignAndSignType()
    {
        var note = new Dictionary<string, string?>
        {
            ["total_amount"] = "99.00", ["sign_type"] = "RSA2", ["sign"] = "x", ["app_id"] = "2014072300007148", ["out_trade_no"] = "pay_1",
            ["trade_status"] = "TRADE_SUCCESS", ["gmt_payment"] = "2024-01-01 12:00:00", ["buyer_id"] = "",
        };
        const string literal = "app_id=2014072300007148&gmt_payment=2024-01-01 12:00:00&out_trade_no=pay_1&total_amount=99.00&trade_status=TRADE_SUCCESS";
        Assert.Equal(literal, AlipaySignature.Content(note, dropSignType: true));
        Assert.Equal(Expected(literal), AlipaySignature.Sign(literal, PrivatePem));
    }

    [Fact]
    public void AlipayResponse_IsVerifiedOnTheExactRawText_NotAReserialisation()
    {
        const string inner = "{\"code\":\"10000\",\"msg\":\"Success\", \"qr_code\":\"https:\\/\\/qr.alipay.com\\/bax\" ,\"total_amount\":99.00,\"subject\":\"\\u8bfe\"}";
        var body = "{\"alipay_trade_precreate_response\":" + inner + ",\"sign\":\"" + Expected(inner) + "\"}";
        Assert.True(AlipaySignature.TryExtract(body, AlipaySignature.ResponseKey("alipay.trade.precreate"), out var raw, out var sign));
        Assert.Equal(inner, raw);
        Assert.True(AlipaySignature.Verify(raw, sign, PublicPem));
        Assert.Equal("2014-07-24 11:07:50", AlipaySignature.Timestamp(new DateTimeOffset(2014, 7, 24, 3, 7, 50, TimeSpan.Zero)));
    }

    [Fact]
    public void WeChatPayAuthorization_SignsMethodPathTimestampNonceBody_EachEndedByNewline()
    {
        const string body = "{\"appid\":\"wxd678efh567hg6787\",\"mchid\":\"1230000109\"}";
        var header = WeChatPaySignature.Authorization("1230000109", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", PrivatePem, "POST",
            "/v3/pay/transactions/native", body, 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242");
        var literal = "POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n" + body + "\n";
        Assert.Equal("WECHATPAY2-SHA256-RSA2048 mchid=\"1230000109\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",signature=\"" + Expected(literal) +
                     "\",timestamp=\"1554208460\",serial_no=\"1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C\"", header);
        // An empty body (GET) still ends with "\n".
        Assert.Equal("GET\n/v3/x?mchid=1\n1\nn\n\n", WeChatPaySignature.Message("GET", "/v3/x?mchid=1", "1", "n", ""));
    }

    [Fact]
    public void WeChatPayResponseSignature_VerifiesTimestampNonceBody_RefusesOtherSerialAndStaleTimestamp()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        const string body = "{\"code_url\":\"weixin://wxpay/bizpayurl?pr=p4lpSuKzz\"}";
        var sig = Expected("1700000000\nNONCE\n" + body + "\n");
        Assert.True(WeChatPaySignature.VerifyHeaders("PUB_KEY_ID_1", "1700000000", "NONCE", sig, body, "PUB_KEY_ID_1", PublicPem, now));
        Assert.False(WeChatPaySignature.VerifyHeaders("PUB_KEY_ID_2", "1700000000", "NONCE", sig, body, "PUB_KEY_ID_1", PublicPem, now));
        Assert.False(WeChatPaySignature.VerifyHeaders("PUB_KEY_ID_1", "1700000000", "NONCE", sig, body, "PUB_KEY_ID_1", PublicPem, now.AddMinutes(6)));
        Assert.False(WeChatPaySignature.VerifyHeaders("PUB_KEY_ID_1", "1700000000", "NONCE", sig, body + " ", "PUB_KEY_ID_1", PublicPem, now));
    }

    [Fact]
    public void WeChatPayResource_DecryptsAes256Gcm_CiphertextFollowedByTag_AndRefusesATamperedOne()
    {
        const string key = "0123456789abcdef0123456789abcdef";
        var plain = Encoding.UTF8.GetBytes("{\"out_trade_no\":\"pay_1\"}");
        var cipher = new byte[plain.Length + 16];
        using (var aes = new AesGcm(Encoding.UTF8.GetBytes(key), 16))
            aes.Encrypt("fdasflkja484"u8, plain, cipher.AsSpan(0, plain.Length), cipher.AsSpan(plain.Length), "transaction"u8);
        Assert.Equal("{\"out_trade_no\":\"pay_1\"}", WeChatPaySignature.Decrypt(key, "fdasflkja484", "transaction", Convert.ToBase64String(cipher)));
        Assert.Null(WeChatPaySignature.Decrypt(key, "fdasflkja484", "refund", Convert.ToBase64String(cipher)));
        cipher[3] ^= 1;
        Assert.Null(WeChatPaySignature.Decrypt(key, "fdasflkja484", "transaction", Convert.ToBase64String(cipher)));
    }
}
