using System.Security.Cryptography;
using KnowPay.Providers;
using KnowPay.Providers.Alipay;
using KnowPay.Providers.WeChatPay;
using KnowPay.Infrastructure;
using KnowPay.Sandbox;

namespace KnowPay;

public static partial class KnowPayApp
{
    /// <summary>
    /// Alipay and WeChat Pay from <c>Providers:Alipay:*</c> and <c>Providers:WeChatPay:*</c>. When their keys are not
    /// configured and the sandbox runs, key pairs are generated at start and both sides wired: KnowPay gets the
    /// merchant private key and the provider's public key, the sandbox the merchant public key and its own private key.
    /// </summary>
    static void AddChinaProviders(WebApplicationBuilder builder, SandboxOptions? sandbox, List<string> disabled)
    {
        var services = builder.Services;
        var config = builder.Configuration;

        var ali = config.GetSection("Providers:Alipay");
        if (ali["PrivateKey"] is { Length: > 0 } && ali["AlipayPublicKey"] is { Length: > 0 } && ali["AppId"] is { Length: > 0 })
        {
            try
            {
                var settings = new AlipaySettings(ali["AppId"]!, ali["GatewayUrl"] is { Length: > 0 } g ? g : "https://openapi.alipay.com/gateway.do",
                    ProviderKeys.PrivatePem(ali["PrivateKey"]!), ProviderKeys.PublicPem(ali["AlipayPublicKey"]!), Blank(ali["NotifyUrl"]), PaymentProviders.FeeFrom(ali));
                services.AddSingleton(provider => settings with { NotifyUrl = settings.NotifyUrl ?? provider.GetRequiredService<PublicUrl>().Combine("/v1/notify/alipay") });
            }
            catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException or IOException)
            {
                disabled.Add($"alipay (Providers:Alipay:PrivateKey or AlipayPublicKey cannot be read: {e.GetType().Name})");
            }
        }
        else if (sandbox is not null)
        {
            using var merchant = RSA.Create(2048);
            using var alipay = RSA.Create(2048);
            var appId = ali["AppId"] is { Length: > 0 } id ? id : "9021000000000001";
            sandbox.AlipayAppId = appId;
            sandbox.AlipayMerchantPublicKeyPem = merchant.ExportSubjectPublicKeyInfoPem();
            sandbox.AlipayPrivateKeyPem = alipay.ExportPkcs8PrivateKeyPem();
            var merchantPem = merchant.ExportPkcs8PrivateKeyPem();
            var alipayPublic = alipay.ExportSubjectPublicKeyInfoPem();
            services.AddSingleton(provider =>
            {
                var url = provider.GetRequiredService<PublicUrl>();
                return new AlipaySettings(appId, url.Combine(sandbox.BasePath + "/alipay/gateway.do"), merchantPem, alipayPublic,
                    Blank(ali["NotifyUrl"]) ?? url.Combine("/v1/notify/alipay"), PaymentProviders.FeeFrom(ali));
            });
        }
        else disabled.Add("alipay (Providers:Alipay:AppId, PrivateKey and AlipayPublicKey are required)");
        if (!disabled.Any(d => d.StartsWith("alipay", StringComparison.Ordinal)))
        {
            // Providers:Alipay:TimeoutMs (per attempt, default 5000), as for Stripe and PayPal.
            Providers.Stripe.StripeProvider.AddClient(services, AlipayProvider.HttpClientName, TimeSpan.FromMilliseconds(ali.GetValue("TimeoutMs", 5000)));
            services.AddScoped<IPaymentProvider>(provider => new AlipayProvider(
                provider.GetRequiredService<IHttpClientFactory>().CreateClient(AlipayProvider.HttpClientName),
                provider.GetRequiredService<AlipaySettings>(), provider.GetRequiredService<TimeProvider>()));
        }

        var wx = config.GetSection("Providers:WeChatPay");
        string[] required = ["MchId", "AppId", "MerchantSerialNo", "PrivateKey", "PlatformPublicKey", "PlatformSerialNo", "ApiV3Key"];
        var missing = required.Where(k => wx[k] is not { Length: > 0 }).ToList();
        if (missing.Count == 0)
        {
            try
            {
                if (System.Text.Encoding.UTF8.GetByteCount(wx["ApiV3Key"]!) != 32) throw new ArgumentException("ApiV3Key must be 32 bytes");
                var settings = new WeChatPaySettings(wx["MchId"]!, wx["AppId"]!, wx["ApiBaseUrl"] is { Length: > 0 } b ? b : "https://api.mch.weixin.qq.com",
                    wx["MerchantSerialNo"]!, ProviderKeys.PrivatePem(wx["PrivateKey"]!), ProviderKeys.PublicPem(wx["PlatformPublicKey"]!),
                    wx["PlatformSerialNo"]!, wx["ApiV3Key"]!, Blank(wx["NotifyUrl"]), PaymentProviders.FeeFrom(wx));
                services.AddSingleton(provider => settings with { NotifyUrl = settings.NotifyUrl ?? provider.GetRequiredService<PublicUrl>().Combine("/v1/notify/wechatpay") });
            }
            catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException or IOException)
            {
                disabled.Add($"wechatpay (Providers:WeChatPay keys cannot be read: {e.Message})");
            }
        }
        else if (sandbox is not null && wx["PrivateKey"] is not { Length: > 0 })
        {
            using var merchant = RSA.Create(2048);
            using var platform = RSA.Create(2048);
            var mchId = wx["MchId"] is { Length: > 0 } m ? m : "1900000109";
            var appId = wx["AppId"] is { Length: > 0 } a ? a : "wxd678efh567hg6787";
            var merchantSerial = Convert.ToHexString(RandomNumberGenerator.GetBytes(20));
            var platformSerial = "PUB_KEY_ID_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
            var apiV3Key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            sandbox.WeChatMchId = mchId;
            sandbox.WeChatAppId = appId;
            sandbox.WeChatMerchantSerialNo = merchantSerial;
            sandbox.WeChatMerchantPublicKeyPem = merchant.ExportSubjectPublicKeyInfoPem();
            sandbox.WeChatPlatformSerialNo = platformSerial;
            sandbox.WeChatPlatformPrivateKeyPem = platform.ExportPkcs8PrivateKeyPem();
            sandbox.WeChatApiV3Key = apiV3Key;
            var merchantPem = merchant.ExportPkcs8PrivateKeyPem();
            var platformPublic = platform.ExportSubjectPublicKeyInfoPem();
            services.AddSingleton(provider =>
            {
                var url = provider.GetRequiredService<PublicUrl>();
                return new WeChatPaySettings(mchId, appId, url.Combine(sandbox.BasePath + "/wechatpay"), merchantSerial, merchantPem, platformPublic,
                    platformSerial, apiV3Key, Blank(wx["NotifyUrl"]) ?? url.Combine("/v1/notify/wechatpay"), PaymentProviders.FeeFrom(wx));
            });
        }
        else disabled.Add($"wechatpay (Providers:WeChatPay:{string.Join(", ", missing)} not set)");
        if (!disabled.Any(d => d.StartsWith("wechatpay", StringComparison.Ordinal)))
        {
            Providers.Stripe.StripeProvider.AddClient(services, WeChatPayProvider.HttpClientName, TimeSpan.FromMilliseconds(wx.GetValue("TimeoutMs", 5000)));
            services.AddScoped<IPaymentProvider>(provider => new WeChatPayProvider(
                provider.GetRequiredService<IHttpClientFactory>().CreateClient(WeChatPayProvider.HttpClientName),
                provider.GetRequiredService<WeChatPaySettings>(), provider.GetRequiredService<TimeProvider>()));
        }
    }

    static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
