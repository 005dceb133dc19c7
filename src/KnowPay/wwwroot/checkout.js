// KnowPay hosted checkout: start or resume a payment, show the server-rendered QR code or redirect, confirm a card
// payment (Stripe PaymentIntent client secret; the sandbox's buyer API in sandbox mode), poll the status.
(() => {
  "use strict";
  const root = document.getElementById("checkout");
  if (!root) return;
  const order = root.dataset.order;
  const token = encodeURIComponent(root.dataset.token);
  const locale = encodeURIComponent(root.dataset.locale || "en");
  const base = `/checkout/${encodeURIComponent(order)}`;
  const $ = (id) => document.getElementById(id);
  // The page's text in its language (server resources), keyed as in PageText.resx.
  const text = JSON.parse(($("page-text") || {}).textContent || "{}");
  const t = (key, arg) => (text[key] || key).replace("{0}", arg === undefined ? "" : arg);
  let finished = false;

  // focus: after a change the learner did not make (paid, expired, a QR shown), move focus to the new state's text.
  function show(section, focus) {
    for (const id of ["choose", "action", "returned", "paid", "expired"]) $(id).hidden = id !== section;
    if (!focus) return;
    const target = section === "action" ? $("action-hint") : $(section).querySelector("h2");
    if (target) target.focus();
  }

  function error(text) {
    const el = $("error");
    el.textContent = text || "";
    el.hidden = !text;
  }

  // WeChat Pay JSAPI: the WeChat client (WeixinJSBridge) asks the learner to confirm; the outcome comes by polling.
  function invokeBridge(p) {
    const params = { appId: p.app_id, timeStamp: p.time_stamp, nonceStr: p.nonce_str, package: p.package, signType: p.sign_type, paySign: p.pay_sign };
    const call = () => window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, (answer) => {
      const msg = (answer && answer.err_msg) || "";
      if (msg.endsWith(":ok")) poll();
      else if (!msg.endsWith(":cancel")) error(t("Js.StartFailed"));
    });
    if (window.WeixinJSBridge) call();
    else if (root.dataset.device === "wechat") document.addEventListener("WeixinJSBridgeReady", call, { once: true });
    else error(t("Js.WeChatOnly"));
  }

  // Back from the provider's page (or reloaded) with the payment not confirmed, or after it failed: the order's state,
  // with a way to try again (the same button resumes the pending payment).
  function showReturned(failed) {
    $("returned-heading").textContent = t(failed ? "Js.ReturnedFailed" : "Js.ReturnedPending");
    $("returned-text").textContent = t(failed ? "Js.ReturnedFailedText" : "Js.ReturnedPendingText");
    $("returned").dataset.state = failed ? "failed" : "pending";
    show("returned", true);
  }

  // resumed: the page (re)loaded with this payment pending, e.g. back from the provider's page before its confirmation
  // arrived; a redirect is then offered as a link instead of sending the learner away again.
  function renderAction(payment, resumed) {
    const action = payment && payment.next_action;
    if (!action) return false;
    if (action.type === "redirect" && action.redirect_url) {
      if (!resumed) {
        window.location.assign(action.redirect_url);
        return true;
      }
      showReturned(false);
      return true;
    }
    $("continue").hidden = true;
    if (action.type === "wechat_jsapi" && action.jsapi) {
      if (!resumed) invokeBridge(action.jsapi);
      else show("choose");
      return true;
    }
    if (action.type === "qr_code" && action.qr_image) {
      $("qr").src = action.qr_image;
      $("qr").hidden = false;
      $("action-hint").textContent = t("Js.ScanHintLive");
      const buyer = $("sandbox-buyer");
      if (action.sandbox_buyer_url) {
        buyer.href = action.sandbox_buyer_url;
        buyer.hidden = false;
      } else buyer.hidden = true;
      show("action", !resumed);
      return true;
    }
    if (action.type === "client_secret") {
      // A pending card payment: the card form on the choice screen confirms it.
      show("choose");
      return Boolean($("card-form"));
    }
    return false;
  }

  // POST …/payments: starts a payment with the provider, or resumes the learner's pending one. null after an error.
  async function start(provider, method) {
    const response = await fetch(`${base}/payments?token=${token}&locale=${locale}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ provider, method }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) return body;
    // Problem responses are English with a stable code: the page says it in the learner's language.
    error(body.code === "order_already_paid" ? t("Js.OrderAlreadyPaid") : body.code === "order_expired" ? t("Js.OrderExpired") : t("Js.StartFailed"));
    await poll();
    return null;
  }

  function busy(on) {
    document.querySelectorAll(".pay-option, #card-pay, #card-authenticate").forEach((b) => (b.disabled = on));
  }

  async function pay(provider, method) {
    error("");
    busy(true);
    try {
      const payment = await start(provider, method);
      if (payment && !renderAction(payment)) error(t("Js.NeedsStep"));
    } catch {
      error(t("Js.Network"));
    } finally {
      busy(false);
    }
  }

  // --- Card (Stripe) ---------------------------------------------------------------------------------------------
  let cardAction = null;

  function cardMessage(text, kind) {
    const el = $("card-message");
    el.textContent = text || "";
    el.dataset.kind = kind || "";
    el.hidden = !text;
  }

  // Confirms the PaymentIntent with its client secret, as Stripe.js does: the card number goes to the provider, never to KnowPay.
  async function confirmCard(action, number) {
    const form = new URLSearchParams({ client_secret: action.client_secret });
    if (number) form.set("payment_method_data[card][number]", number);
    const response = await fetch(action.card_confirm_url, { method: "POST", body: form });
    const body = await response.json().catch(() => ({}));
    return { ok: response.ok, body };
  }

  function cardOutcome(result) {
    const intent = result.ok ? result.body : result.body.error && result.body.error.payment_intent;
    if (result.ok && intent.status === "succeeded") {
      $("card-form").hidden = true;
      $("card-auth").hidden = true;
      cardMessage(t("Js.CardAccepted"), "ok");
      poll();
      return;
    }
    if (result.ok && intent.status === "requires_action") {
      $("card-form").hidden = true;
      $("card-auth").hidden = false;
      cardMessage("");
      return;
    }
    const e = result.body.error || {};
    $("card-form").hidden = false;
    $("card-auth").hidden = true;
    cardMessage(e.code === "card_declined" ? t("Js.CardDeclined") : t("Js.CardFailed"), "declined");
  }

  async function payByCard(event) {
    event.preventDefault();
    error("");
    const number = $("card-number").value.replace(/[\s-]/g, "");
    if (!/^\d{12,19}$/.test(number)) {
      cardMessage(t("Js.CardNumberInvalid"), "declined");
      $("card-number").focus();
      return;
    }
    cardMessage("");
    busy(true);
    try {
      const payment = await start("stripe", "card");
      if (!payment) return;
      cardAction = payment.next_action;
      if (!cardAction || cardAction.type !== "client_secret" || !cardAction.card_confirm_url) {
        error(t("Js.CardUnavailable"));
        return;
      }
      cardOutcome(await confirmCard(cardAction, number));
    } catch {
      error(t("Js.Network"));
    } finally {
      busy(false);
    }
  }

  async function authenticate() {
    if (!cardAction) return;
    busy(true);
    try {
      cardOutcome(await confirmCard(cardAction, null));
    } catch {
      error(t("Js.Network"));
    } finally {
      busy(false);
    }
  }

  function setStatus(status) {
    $("status").textContent = text[`Status.${status}`] || status;
    root.dataset.status = status;
  }

  async function poll(withAction) {
    if (finished) return;
    try {
      const response = await fetch(`${base}/status?token=${token}&locale=${locale}${withAction ? "&action=true" : ""}`, { cache: "no-store" });
      if (!response.ok) return;
      const s = await response.json();
      if (s.status === "paid") {
        finished = true;
        setStatus("paid");
        show("paid", true);
        return;
      }
      if (s.expired) {
        finished = true;
        setStatus("expired");
        show("expired", true);
        return;
      }
      setStatus(s.status);
      if (withAction && s.payment && (s.payment.status === "failed" || s.payment.status === "canceled")) showReturned(true);
      else if (withAction && s.payment && s.payment.status === "pending") renderAction(s.payment, true);
    } catch {
      /* a missed poll is retried on the next tick */
    }
  }

  function countdown() {
    const expires = new Date($("expires-at").getAttribute("datetime"));
    const left = Math.max(0, Math.floor((expires.getTime() - Date.now()) / 1000));
    const m = Math.floor(left / 60);
    const s = String(left % 60).padStart(2, "0");
    $("countdown").textContent = finished ? "" : left > 0 ? t("Js.TimeLeft", `${m}:${s}`) : t("Js.TimeUp");
  }

  document.querySelectorAll(".pay-option").forEach((button) =>
    button.addEventListener("click", () => pay(button.dataset.provider, button.dataset.method)));
  $("change").addEventListener("click", () => {
    show("choose");
    const first = document.querySelector(".pay-option");
    if (first) first.focus();
  });
  $("retry").addEventListener("click", () => {
    error("");
    show("choose");
    const first = document.querySelector(".pay-option");
    if (first) first.focus();
  });
  if ($("card-form")) {
    $("card-form").addEventListener("submit", payByCard);
    $("card-authenticate").addEventListener("click", authenticate);
  }

  if (root.dataset.status === "paid") { finished = true; show("paid"); }
  else if (root.dataset.status !== "pending") { finished = true; show("expired"); }
  else show("choose");
  poll(true);
  setInterval(() => poll(false), 1500);
  countdown();
  setInterval(countdown, 1000);
})();
