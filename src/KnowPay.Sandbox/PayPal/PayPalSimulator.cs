using static KnowPay.Sandbox.PayPal.PayPalWire;

namespace KnowPay.Sandbox.PayPal;

/// <summary>
/// PayPal's REST API as the merchant sees it, at /sandbox/paypal/v1|v2/…: OAuth2 client credentials (Basic auth →
/// bearer token with an expiry), Orders v2 (create → approve link, buyer approval, capture), captures refunds,
/// <c>PayPal-Request-Id</c> idempotency (a replayed id returns the first answer), and webhooks signed offline-verifiably:
/// SHA256withRSA over "transmission_id|transmission_time|webhook_id|crc32(body)" with the key of a self-signed
/// certificate served at PAYPAL-CERT-URL. Webhooks are retried up to 25 times over about 3 days. The daily settlement
/// report is served as the file drop's HTTP mirror (<see cref="SettlementReport"/>).
/// </summary>
public sealed partial class PayPalSimulator(SandboxOptions options, SandboxNotifier notifier, FaultGate gate, SandboxBills billing) : IDisposable
{
    readonly PayPalWire wire = new(options, gate);
    /// <summary>Orders by id, and by their capture's id.</summary>
    readonly TradeStore<PayPalOrder> orders = new(options, o => o.Open, o => (string?)o.Capture?["id"] is { } capture ? [capture] : []);

    /// <summary>For tests and operators: orders whose custom_id is the given value, as PayPal JSON.</summary>
    public IReadOnlyList<JsonObject> FindOrders(string customId) =>
        orders.Values.Where(o => o.TradeKey == customId).Select(wire.View).ToList();

    public string CertificatePem => wire.CertificatePem;

    /// <summary>The PAYPAL-* headers of one transmission of <paramref name="body"/>, signed now.</summary>
    public IEnumerable<KeyValuePair<string, string>> SignatureHeaders(string body) => wire.SignatureHeaders(body);

    public void Map(IEndpointRouteBuilder sandbox)
    {
        var g = sandbox.MapGroup("/paypal");
        g.MapPost("/v1/oauth2/token", (Delegate)wire.Token);
        g.MapGet("/v1/notifications/certs/{id}", (string id) =>
            id == wire.CertId ? Results.Text(wire.CertificatePem, "application/x-pem-file") : Results.NotFound());
        g.MapPost("/v2/checkout/orders", (Delegate)((HttpContext http) => wire.MerchantPost(http, body => (string?)body?["purchase_units"]?[0]?["custom_id"], CreateOrder)));
        g.MapGet("/v2/checkout/orders/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            orders.TryGet(id, out var o) ? (200, wire.View(o)) : NotFound(id)));
        g.MapPost("/v2/checkout/orders/{id}/capture", (HttpContext http, string id) => wire.MerchantPost(http, _ => TradeKeyOf(id), _ => Capture(id)));
        g.MapPost("/v2/payments/captures/{id}/refund", (HttpContext http, string id) =>
            wire.MerchantPost(http, _ => orders.TryGetByAlias(id, out var o) ? o.TradeKey : null, body => Refund(id, body)));
        g.MapGet("/v2/payments/captures/{id}", (HttpContext http, string id) => wire.MerchantGet(http, () =>
            orders.TryGetByAlias(id, out var order) && order.Capture is { } c ? (200, (JsonObject)c.DeepClone()) : NotFound(id)));
        g.MapGet("/reports/{file}", SettlementReport);

        // The buyer's side: the approve page and its API.
        g.MapGet("/checkoutnow", ApprovePage);
        g.MapPost("/checkoutnow/{id}/approve", (string id, bool? declineCapture) =>
        {
            var (status, body) = Approve(id, declineCapture ?? false);
            return Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);
        });
        g.MapPost("/checkoutnow", (Delegate)(async (HttpContext http) =>
        {
            var form = await http.Request.ReadFormAsync();
            var id = form["token"].ToString();
            var (status, _) = Approve(id, false);
            if (status == 200 && orders.TryGet(id, out var o) && o.ReturnUrl is { Length: > 0 } ret)
                return Results.Redirect(ret + (ret.Contains('?') ? "&" : "?") + "token=" + Uri.EscapeDataString(id) + "&PayerID=SANDBOXBUYER1");
            return Results.Redirect($"{options.BasePath}/paypal/checkoutnow?token={Uri.EscapeDataString(id)}");
        }));
    }

    (int, JsonObject) CreateOrder(JsonObject? body)
    {
        if (body is null || (string?)body["intent"] != "CAPTURE")
            return Unprocessable("INVALID_PARAMETER_VALUE", "intent", "intent must be CAPTURE");
        if (body["purchase_units"] is not JsonArray { Count: 1 } units || units[0] is not JsonObject unit ||
            unit["amount"] is not JsonObject amount || (string?)amount["currency_code"] is not { Length: 3 } currency || (string?)amount["value"] is not { } value)
            return Unprocessable("MISSING_REQUIRED_PARAMETER", "purchase_units/0/amount", "one purchase unit with amount {currency_code, value} is required");
        if (!ValidAmount(value, currency, out _))
            return Unprocessable("DECIMAL_PRECISION", "purchase_units/0/amount/value",
                $"If the currency supports decimals, only two decimal place precision is supported; {currency} has {(ZeroDecimal.Contains(currency) ? "none" : "two")}.");
        var order = new PayPalOrder
        {
            Id = RandomUpper(17), CurrencyCode = currency, Value = value, PurchaseUnit = (JsonObject)unit.DeepClone(),
            ReturnUrl = (string?)body["payment_source"]?["paypal"]?["experience_context"]?["return_url"]
                        ?? (string?)body["application_context"]?["return_url"],
        };
        orders.Add(order.Id, order);
        return (201, wire.View(order));
    }

    (int, JsonObject) Approve(string id, bool declineCapture)
    {
        if (!orders.TryGet(id, out var order)) return NotFound(id);
        lock (order)
        {
            if (order.Status is "APPROVED" or "COMPLETED") return (200, wire.View(order));
            if (order.Status != "CREATED") return Unprocessable("ORDER_NOT_APPROVABLE", null, $"the order is {order.Status}");
            order.Status = "APPROVED";
            // Under the SuccessRate fault an approving buyer's funding fails like a declineCapture buyer's: the capture is DECLINED.
            order.DeclineCapture = declineCapture || gate.Declines(order.TradeKey);
        }
        notifier.Send(wire.Event(order, "CHECKOUT.ORDER.APPROVED", "checkout-order", wire.View(order), "An order has been approved by buyer"));
        return (200, wire.View(order));
    }

    (int, JsonObject) Capture(string id)
    {
        if (!orders.TryGet(id, out var order)) return NotFound(id);
        JsonObject capture;
        lock (order)
        {
            if (order.Status == "COMPLETED") return Unprocessable("ORDER_ALREADY_CAPTURED", null, "Order already captured. If 'intent=CAPTURE' only one capture per order is allowed.");
            if (order.Status != "APPROVED") return Unprocessable("ORDER_NOT_APPROVED", null, "Payer has not yet approved the Order for payment.");
            capture = new JsonObject
            {
                ["id"] = RandomUpper(17), ["status"] = order.DeclineCapture ? "DECLINED" : "COMPLETED",
                ["amount"] = new JsonObject { ["currency_code"] = order.CurrencyCode, ["value"] = order.Value },
                ["final_capture"] = true, ["custom_id"] = (string?)order.PurchaseUnit["custom_id"],
                ["invoice_id"] = (string?)order.PurchaseUnit["invoice_id"],
                ["seller_protection"] = new JsonObject { ["status"] = "ELIGIBLE" },
                ["supplementary_data"] = new JsonObject { ["related_ids"] = new JsonObject { ["order_id"] = order.Id } },
                ["create_time"] = Now(), ["update_time"] = Now(),
            };
            order.Capture = capture;
            order.Status = "COMPLETED";
            orders.Alias((string)capture["id"]!, order);
        }
        if (order.DeclineCapture)
            notifier.Send(wire.Event(order, "PAYMENT.CAPTURE.DENIED", "capture", (JsonObject)capture.DeepClone(), "A payment capture was denied"));
        else
            notifier.Send(wire.Event(order, "PAYMENT.CAPTURE.COMPLETED", "capture", (JsonObject)capture.DeepClone(), $"Payment completed for {order.Value} {order.CurrencyCode}"));
        return (201, wire.View(order));
    }

    (int, JsonObject) Refund(string captureId, JsonObject? body)
    {
        if (!orders.TryGetByAlias(captureId, out var order) || order.Capture is null)
            return NotFound(captureId);
        JsonObject refund;
        lock (order)
        {
            var capture = order.Capture;
            if ((string?)capture["status"] is not ("COMPLETED" or "PARTIALLY_REFUNDED"))
                return Unprocessable("CAPTURE_FULLY_REFUNDED", null, "The capture has already been fully refunded or cannot be refunded.");
            var captured = decimal.Parse(order.Value, CultureInfo.InvariantCulture);
            var refunded = order.Refunds.Sum(r => decimal.Parse((string)r["amount"]!["value"]!, CultureInfo.InvariantCulture));
            var value = (string?)body?["amount"]?["value"];
            decimal amount;
            if (value is null) amount = captured - refunded;
            else
            {
                if ((string?)body!["amount"]!["currency_code"] != order.CurrencyCode)
                    return Unprocessable("REFUND_CURRENCY_MISMATCH", "amount/currency_code", "Refund must be in the currency of the capture.");
                if (!ValidAmount(value, order.CurrencyCode, out amount) || amount <= 0)
                    return Unprocessable("DECIMAL_PRECISION", "amount/value", "Invalid refund amount.");
                if (amount > captured - refunded)
                    return Unprocessable("REFUND_AMOUNT_EXCEEDED", "amount/value", "The refund amount must be less than or equal to the capture amount that has not yet been refunded.");
            }
            refund = new JsonObject
            {
                ["id"] = RandomUpper(17), ["status"] = "COMPLETED",
                ["amount"] = new JsonObject { ["currency_code"] = order.CurrencyCode, ["value"] = Format(amount, order.CurrencyCode) },
                ["custom_id"] = (string?)body?["custom_id"], ["invoice_id"] = (string?)body?["invoice_id"],
                ["note_to_payer"] = (string?)body?["note_to_payer"], ["create_time"] = Now(), ["update_time"] = Now(),
                ["links"] = new JsonArray(new JsonObject { ["rel"] = "up", ["method"] = "GET", ["href"] = $"{options.PublicBaseUrl()}/paypal/v2/payments/captures/{captureId}" }),
            };
            order.Refunds.Add(refund);
            capture["status"] = refunded + amount == captured ? "REFUNDED" : "PARTIALLY_REFUNDED";
        }
        notifier.Send(wire.Event(order, "PAYMENT.CAPTURE.REFUNDED", "refund", (JsonObject)refund.DeepClone(), "A capture payment was refunded"));
        var answer = (JsonObject)refund.DeepClone();
        if (gate.AnswersRefundPending(order.TradeKey)) answer["status"] = "PENDING";
        return (201, answer);
    }

    IResult ApprovePage(HttpContext http)
    {
        var id = http.Request.Query["token"].ToString();
        if (!orders.TryGet(id, out var order)) return Results.NotFound();
        return new BuyerPage("PayPal sandbox – approve payment", "PayPal (sandbox)", (string?)order.PurchaseUnit["description"] ?? order.Id,
            $"{order.Value} {order.CurrencyCode}", order.Status)
        {
            Form = order.Status == "CREATED"
                ? new BuyerForm($"{options.BasePath}/paypal/checkoutnow", "approve", "Pay Now") { Hidden = [new("token", order.Id)] }
                : null,
        }.Render();
    }

    /// <summary>The merchant's key of the order's calls (its custom_id), for the fault settings.</summary>
    string? TradeKeyOf(string? orderId) => orderId is not null && orders.TryGet(orderId, out var o) ? o.TradeKey : null;

    public void Dispose() => wire.Dispose();
}
