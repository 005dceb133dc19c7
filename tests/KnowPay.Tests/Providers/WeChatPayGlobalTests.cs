using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KnowPay.Data;
using KnowPay.Features.Fx;
using KnowPay.Providers;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace KnowPay.Tests.Providers;

/// <summary>
/// WeChat Pay's cross-border (global) API end to end over real HTTP: a price in HKD goes to /v3/global/… (the simulator logs
/// each body after verifying its signature), the learner's client pays with what KnowPay signed, the payment records what
/// the learner paid in CNY, and refunds go to /v3/global/refunds with the amount's currency and come back with payer_refund.
/// </summary>
[Collection("server")]
public sealed class WeChatPayGlobalTests(Servers servers)
{
    const string OpenId = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
    /// <summary>The buyer's phone, which must not follow a return redirect out of the test.</summary>
    static readonly HttpClient Browser = new(new HttpClientHandler { AllowAutoRedirect = false });

    [SkippableTheory]
    [InlineData(Db.Sqlite, "jsapi")]
    [InlineData(Db.Postgres, "jsapi")]
    [InlineData(Db.Sqlite, "h5")]
    [InlineData(Db.Postgres, "h5")]
    [InlineData(Db.Sqlite, "app")]
    [InlineData(Db.Postgres, "app")]
    public async Task HkdOrderOnAPhone_GoesToTheGlobalApi_TheClientPaysWhatKnowPaySigned_AndThePaymentRecordsTheCnyTheLearnerPaid(Db db, string method)
    {
        var server = await servers.Get(db);
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (10850, "HKD"));
        var orderId = (string)(await m.OrderAsync(productId, "HKD"))["id"]!;
        var before = log.Snapshot().Count;
        var payment = await PayAsync(server, m, orderId, method);
        var paymentId = (string)payment["id"]!;

        var api = method == "h5" ? "mweb" : method;
        var entries = log.Snapshot().Skip(before).ToList();
        Assert.DoesNotContain(entries, e => e.StartsWith("POST /sandbox/wechatpay/v3/pay/transactions/", StringComparison.Ordinal));
        var placed = Assert.Single(entries, e => e.StartsWith($"wechatpay POST /v3/global/transactions/{api} signature verified", StringComparison.Ordinal));
        var body = JsonNode.Parse(placed[(placed.IndexOf("body=", StringComparison.Ordinal) + 5)..])!;
        Assert.Equal(method == "h5" ? "MWEB" : method.ToUpperInvariant(), (string?)body["trade_type"]);
        Assert.Equal((10850L, "HKD"), ((long)body["amount"]!["total"]!, (string)body["amount"]!["currency"]!));
        Assert.Equal(paymentId, (string?)body["out_trade_no"]);
        if (method == "jsapi") Assert.Equal(OpenId, (string?)body["payer"]!["openid"]);
        if (method == "h5") Assert.Equal("127.0.0.1", (string?)body["scene_info"]!["payer_client_ip"]);

        await m.WaitForOrderAsync(orderId, "paid");
        var rate = SandboxFx.PayerRate("HKD", "CNY");
        Assert.InRange(rate, 0.91m, 0.91m * 1.0051m);   // the learner pays the mid rate plus the spread
        var expectedFen = (long)Math.Round(108.50m * rate * 100, 0, MidpointRounding.AwayFromZero);
        var view = await m.GetOkAsync($"/v1/payments/{paymentId}");
        Assert.Equal("succeeded", (string?)view["status"]);
        var settlement = view["settlement"]!.AsObject();
        Assert.Equal((expectedFen, "CNY", rate), ((long)settlement["payer_amount"]!, (string)settlement["payer_currency"]!, (decimal)settlement["payer_rate"]!));
        Assert.Null(settlement["amount"]);     // the merchant is settled in the price's currency
        Assert.Equal("notification", await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.ConfirmedBy).SingleAsync()));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ConvertedHkdPayment_PartlyThenFullyRefunded_ThroughTheGlobalApi_PayerRefundsAddUpToWhatWasPaid_AndTheLedgerBalancesPerCurrency(Db db)
    {
        var server = await servers.Get(db);
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var m = await server.NewMerchantAsync();
        var (creatorId, productId) = await m.CourseAsync(7000, (9900, "CNY"));
        await PutOkAsync(m, "/v1/fx/settings", new { allow_converted_prices = true, markup_bps = 0 });
        await PutOkAsync(m, "/v1/fx/rates", new { rates = new[] { new { @base = "HKD", quote = "CNY", rate = 0.912m } } });
        var order = await m.OrderAsync(productId, "HKD");
        var hkd = (long)order["amount"]!;
        Assert.Equal((long)Math.Round(9900 * Math.Round(1m / 0.912m, 12, MidpointRounding.AwayFromZero), 0, MidpointRounding.AwayFromZero), hkd);
        var payment = await PayAsync(server, m, (string)order["id"]!, "jsapi");
        var paymentId = (string)payment["id"]!;
        await m.WaitForOrderAsync((string)order["id"]!, "paid");
        var payerTotal = (long)(await m.GetOkAsync($"/v1/payments/{paymentId}"))["settlement"]!["payer_amount"]!;
        var rate = SandboxFx.PayerRate("HKD", "CNY");

        var payerRefunds = new List<long>();
        foreach (var amount in new long?[] { 1000, null })
        {
            var before = log.Snapshot().Count;
            var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", amount is null ? new { } : new { amount });
            var refundId = (string)refund["id"]!;
            var refundAmount = (long)refund["amount"]!;
            Assert.Equal(amount ?? hkd - 1000, refundAmount);
            Assert.Equal("HKD", (string?)refund["currency"]);

            var sent = Assert.Single(log.Snapshot().Skip(before), e => e.StartsWith("wechatpay POST /v3/global/refunds signature verified", StringComparison.Ordinal));
            var body = JsonNode.Parse(sent[(sent.IndexOf("body=", StringComparison.Ordinal) + 5)..])!;
            Assert.Equal((refundAmount, hkd, "HKD"), ((long)body["amount"]!["refund"]!, (long)body["amount"]!["total"]!, (string)body["amount"]!["currency"]!));
            Assert.Equal((paymentId, refundId), ((string)body["out_trade_no"]!, (string)body["out_refund_no"]!));
            Assert.NotNull(body["mchid"]);
            Assert.NotNull(body["appid"]);
            await WaitForRefundAsync(m, refundId, "succeeded");

            // The refund query (the poller's path) goes to the global API and states what the learner got back in CNY.
            var stored = await server.QueryAsync(d => d.Payments.AsNoTracking().SingleAsync(p => p.Id == paymentId));
            await using var scope = server.Services.CreateAsyncScope();
            before = log.Snapshot().Count;
            var queried = await scope.ServiceProvider.GetRequiredService<PaymentProviders>()["wechatpay"]
                .QueryRefundAsync(new ProviderRefund(stored, refundId, refundAmount, null), default);
            Assert.Contains(log.Snapshot().Skip(before), e => e.StartsWith($"GET /sandbox/wechatpay/v3/global/refunds/out-refund-no/{refundId}?mchid=", StringComparison.Ordinal));
            Assert.Equal(RefundStatus.Succeeded, queried.Status);
            var s = queried.Settlement!;
            Assert.Equal(("CNY", rate), (s.PayerCurrency, s.PayerRate));
            Assert.Null(s.Amount);   // settled in HKD, the paid currency: nothing converted on the merchant's side
            payerRefunds.Add(s.PayerAmount!.Value);
        }
        Assert.Equal((long)Math.Round(10.00m * rate * 100, 0, MidpointRounding.AwayFromZero), payerRefunds[0]);
        Assert.Equal(payerTotal, payerRefunds.Sum());   // the learner got back exactly the CNY they paid

        var all = await server.QueryAsync(d => d.LedgerEntries.AsNoTracking().Where(e => e.MerchantId == m.MerchantId).ToListAsync());
        Assert.Equal(["CNY", "HKD"], all.Select(e => e.Currency).Distinct().Order());
        Assert.All(all.GroupBy(e => e.Currency), g => Assert.Equal(0, g.Sum(e => e.Amount)));   // trial balance zero in each currency
        Assert.Equal(0, all.Where(e => e.Account == "fx:CNY:HKD" && e.Currency == "HKD").Sum(e => e.Amount));   // refunded in full
        Assert.Equal(0, all.Where(e => e.Account.Contains(creatorId, StringComparison.Ordinal)).Sum(e => e.Amount));
        // WeChat settles the merchant in HKD, not in the price's CNY: no provider rate to post a difference against.
        Assert.Equal(0, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId && j.SourceType == FxLedger.RefundSettledSource)));
        Assert.Equal(hkd, await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.RefundedAmount).SingleAsync()));
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite, "CNY", 422, "refund_currency_mismatch")]
    [InlineData(Db.Postgres, "CNY", 422, "refund_currency_mismatch")]
    [InlineData(Db.Sqlite, "XYZ", 400, "currency_unsupported")]
    [InlineData(Db.Postgres, "HRK", 400, "currency_withdrawn")]
    public async Task ARefundOfAGlobalPayment_InAnotherCurrencyThanItsPrice_IsRefusedWithAStableCode_AndNothingIsWrittenOrSent(
        Db db, string currency, int status, string code)
    {
        var server = await servers.Get(db);
        var log = server.Services.GetRequiredService<SandboxRequestLog>();
        var m = await server.NewMerchantAsync();
        var (_, productId) = await m.CourseAsync(7000, (10850, "HKD"));
        var orderId = (string)(await m.OrderAsync(productId, "HKD"))["id"]!;
        var paymentId = (string)(await PayAsync(server, m, orderId, "jsapi"))["id"]!;
        await m.WaitForOrderAsync(orderId, "paid");
        var before = log.Snapshot().Count;

        var refused = await m.PostAsync($"/v1/payments/{paymentId}/refunds", new { amount = 1000, currency });
        Assert.Equal(status, (int)refused.StatusCode);
        var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
        Assert.Equal(code, (string?)problem["code"]);

        Assert.DoesNotContain(log.Snapshot().Skip(before), e => e.Contains("/refunds", StringComparison.Ordinal));
        Assert.Equal(0, await server.QueryAsync(d => d.Refunds.CountAsync(r => r.PaymentId == paymentId)));
        Assert.Equal(0, await server.QueryAsync(d => d.Payments.Where(p => p.Id == paymentId).Select(p => p.RefundedAmount).SingleAsync()));
        Assert.Equal(1, await server.QueryAsync(d => d.Journals.CountAsync(j => j.MerchantId == m.MerchantId)));
        // The same refund in the payment's own currency (any case) goes through.
        var refund = await m.PostOkAsync($"/v1/payments/{paymentId}/refunds", new { amount = 1000, currency = "hkd" });
        await WaitForRefundAsync(m, (string)refund["id"]!, "succeeded");
    }

    /// <summary>Starts a WeChat Pay payment of the order on a phone and pays it as the learner's client would, with what KnowPay signed.</summary>
    static async Task<JsonObject> PayAsync(KnowPayServer server, MerchantClient m, string orderId, string method)
    {
        var sandbox = server.Services.GetRequiredService<SandboxOptions>();
        var payment = await m.PostOkAsync($"/v1/orders/{orderId}/payments", method switch
        {
            "jsapi" => new { provider = "wechatpay", method, payer = (object)new { openid = OpenId } },
            "h5" => new { provider = "wechatpay", method, payer = (object)new { ip = "127.0.0.1" } },   // this test's own address
            _ => new { provider = "wechatpay", method, payer = (object)new { } },
        });
        var a = payment["next_action"]!;
        HttpResponseMessage paid;
        switch (method)
        {
            case "jsapi":
                Assert.True(RsaVerify($"{a["app_id"]}\n{a["time_stamp"]}\n{a["nonce_str"]}\n{a["package"]}\n", (string?)a["pay_sign"], sandbox.WeChatMerchantPublicKeyPem));
                paid = await Browser.PostAsJsonAsync($"{server.BaseUrl}/sandbox/wechatpay/jsapi/pay", new Dictionary<string, string>
                {
                    ["appId"] = (string)a["app_id"]!, ["timeStamp"] = (string)a["time_stamp"]!, ["nonceStr"] = (string)a["nonce_str"]!,
                    ["package"] = (string)a["package"]!, ["signType"] = "RSA", ["paySign"] = (string)a["pay_sign"]!,
                });
                Assert.Equal("get_brand_wcpay_request:ok", (string?)(await paid.Content.ReadFromJsonAsync<JsonObject>())!["err_msg"]);
                break;
            case "app":
                Assert.True(RsaVerify($"{a["app_id"]}\n{a["time_stamp"]}\n{a["nonce_str"]}\n{a["prepay_id"]}\n", (string?)a["sign"], sandbox.WeChatMerchantPublicKeyPem));
                paid = await Browser.PostAsJsonAsync($"{server.BaseUrl}/sandbox/wechatpay/app/pay", new Dictionary<string, string>
                {
                    ["appid"] = (string)a["app_id"]!, ["partnerid"] = (string)a["partner_id"]!, ["prepayid"] = (string)a["prepay_id"]!,
                    ["package"] = (string)a["package"]!, ["noncestr"] = (string)a["nonce_str"]!, ["timestamp"] = (string)a["time_stamp"]!, ["sign"] = (string)a["sign"]!,
                });
                Assert.Equal(0, (int?)(await paid.Content.ReadFromJsonAsync<JsonObject>())!["errCode"]);
                break;
            default:
                var h5 = (string)a["redirect_url"]!;
                Assert.StartsWith(server.BaseUrl + "/sandbox/wechatpay/h5/checkmweb?prepay_id=wx", h5);
                var prepayId = h5.Split('?', '&').Single(p => p.StartsWith("prepay_id=", StringComparison.Ordinal))["prepay_id=".Length..];
                paid = await Browser.PostAsync($"{server.BaseUrl}/sandbox/wechatpay/h5/checkmweb", new FormUrlEncodedContent([new("prepay_id", prepayId)]));
                Assert.True((int)paid.StatusCode is 200 or 302, $"h5 pay → {(int)paid.StatusCode}");
                break;
        }
        return payment;
    }

    static async Task WaitForRefundAsync(MerchantClient m, string refundId, string status)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((string?)(await m.GetOkAsync($"/v1/refunds/{refundId}"))["status"] != status)
        {
            Assert.True(DateTime.UtcNow < until, $"refund {refundId} did not become {status}");
            await Task.Delay(50);
        }
    }

    static async Task PutOkAsync(MerchantClient m, string path, object body)
    {
        var response = await m.Http.PutAsJsonAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    static bool RsaVerify(string content, string? signature, string publicKeyPem)
    {
        using var rsa = RSA.Create();
        rsa.ImportFromPem(publicKeyPem);
        return signature is not null
               && rsa.VerifyData(Encoding.UTF8.GetBytes(content), Convert.FromBase64String(signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }
}
