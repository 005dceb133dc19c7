// The README's flow, written against the generated client only (the buyer's click is the sandbox's page, not the API).
// Usage: KnowPay.ContractClient <base url> <api key> <product id>. Exit code 0 and "flow ok" when every step held.
using KnowPay.Client;
using KnowPay.Client.Models;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Http.HttpClientLibrary;

var (baseUrl, key, productId) = (args[0].TrimEnd('/'), args[1], args[2]);
var adapter = new HttpClientRequestAdapter(new BaseBearerTokenAuthenticationProvider(new StaticToken(key))) { BaseUrl = baseUrl };
var client = new KnowPayClient(adapter);
var step = 0;
void Check(bool condition, string what)
{
    step++;
    if (!condition) throw new InvalidOperationException($"step {step} failed: {what}");
    Console.WriteLine($"step {step} ok: {what}");
}

// 1. An order for the platform's user u_42, retried with the same Idempotency-Key: the same order.
var orderRequest = new CreateOrderRequest { CustomerExternalId = "u_42", ProductId = productId, Currency = "CNY" };
var order = await client.V1.Orders.PostAsync(orderRequest, c => c.Headers.Add("Idempotency-Key", "flow-order-u42"));
var replay = await client.V1.Orders.PostAsync(orderRequest, c => c.Headers.Add("Idempotency-Key", "flow-order-u42"));
Check(order is { Status: OrderStatus.Pending, Amount: 9900, Currency: "CNY" } && order.PaidAt is null, "order created, pending, 9900 CNY");
Check(replay?.Id == order!.Id, "the Idempotency-Key replays the order");

// 2. A payment: the next action is a QR code.
var payment = await client.V1.Orders[order.Id].Payments.PostAsync(new CreatePaymentRequest { Provider = "sandbox", Method = "qr" });
Check(payment is { Status: PaymentStatus.Pending, NextAction.Type: "qr_code" }, "payment pending with a qr_code next action");

// 3. The learner pays (the sandbox's buyer endpoint); the provider's notification marks the order paid.
using (var buyer = new HttpClient())
    (await buyer.PostAsync($"{baseUrl}/sandbox/sandboxpay/v1/trades/{payment!.Id}/pay", null)).EnsureSuccessStatusCode();
var paid = order;
for (var i = 0; i < 200 && paid?.Status != OrderStatus.Paid; i++)
{
    await Task.Delay(50);
    paid = await client.V1.Orders[order.Id].GetAsync();
}
Check(paid is { Status: OrderStatus.Paid, PaidAt: not null }, "order paid");

// 4. A partial refund without a reason.
var refund = await client.V1.Payments[payment.Id].Refunds.PostAsync(new CreateRefundRequest { Amount = 1000 },
    c => c.Headers.Add("Idempotency-Key", "flow-refund-1"));
Check(refund is { Amount: 1000 }, "partial refund of 1000 recorded");
var afterRefund = await client.V1.Payments[payment.Id].GetAsync();
Check(afterRefund is { RefundedAmount: 1000, Status: PaymentStatus.Succeeded }, "payment shows 1000 refunded");

// 5. Two pages of orders (a second order makes two).
await client.V1.Orders.PostAsync(new CreateOrderRequest { CustomerExternalId = "u_43", ProductId = productId, Currency = "CNY" });
var first = await client.V1.Orders.GetAsync(c => c.QueryParameters.Limit = 1);
Check(first is { HasMore: true, Data.Count: 1, NextCursor: not null }, "first page of one order with a cursor");
var second = await client.V1.Orders.GetAsync(c => { c.QueryParameters.Limit = 1; c.QueryParameters.StartingAfter = first!.NextCursor; });
Check(second is { Data.Count: 1 } && second.Data[0].Id != first!.Data![0].Id, "second page holds another order");

// 6. A webhook endpoint: its signing secret is shown once.
var endpoint = await client.V1.WebhookEndpoints.PostAsync(
    new CreateWebhookEndpointRequest { Url = "https://academy.example/knowpay/webhook", EventTypes = ["refund.succeeded", "payment.succeeded"] });
Check(endpoint is { Secret: not null } && endpoint.Secret.StartsWith("whsec_") && endpoint.EventTypes?.Count == 2, "webhook endpoint with its secret");

// 7. Errors are typed: a missing order is a Problem with its code.
try
{
    await client.V1.Orders["ord_missing"].GetAsync();
    Check(false, "a missing order answers 404");
}
catch (Problem problem)
{
    Check(problem is { Code: "order_not_found", ResponseStatusCode: 404 }, "a missing order is a Problem with code order_not_found");
}
Console.WriteLine("flow ok");
return 0;

sealed class StaticToken(string token) : IAccessTokenProvider
{
    public AllowedHostsValidator AllowedHostsValidator { get; } = new();
    public Task<string> GetAuthorizationTokenAsync(Uri uri, Dictionary<string, object>? context = null, CancellationToken ct = default) =>
        Task.FromResult(token);
}
