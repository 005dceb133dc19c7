// KnowPay hosted checkout: start or resume a payment, show the server-rendered QR code or redirect, poll the status.
(() => {
  "use strict";
  const root = document.getElementById("checkout");
  if (!root) return;
  const order = root.dataset.order;
  const token = encodeURIComponent(root.dataset.token);
  const base = `/checkout/${encodeURIComponent(order)}`;
  const $ = (id) => document.getElementById(id);
  let finished = false;

  function show(section) {
    for (const id of ["choose", "action", "paid", "expired"]) $(id).hidden = id !== section;
  }

  function error(text) {
    const el = $("error");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function renderAction(payment) {
    const action = payment && payment.next_action;
    if (!action) return false;
    if (action.type === "redirect" && action.redirect_url) {
      window.location.assign(action.redirect_url);
      return true;
    }
    if (action.type === "qr_code" && action.qr_image) {
      $("qr").src = action.qr_image;
      $("qr").hidden = false;
      $("action-hint").textContent = "Scan the code with the app to pay. This page updates by itself.";
      const buyer = $("sandbox-buyer");
      if (action.sandbox_buyer_url) {
        buyer.href = action.sandbox_buyer_url;
        buyer.hidden = false;
      } else buyer.hidden = true;
      show("action");
      return true;
    }
    if (action.type === "client_secret") {
      // STRIPE CARD FORM: confirm the card payment with action.client_secret here.
      $("action-hint").textContent = "Complete the card payment.";
      $("qr").hidden = true;
      show("action");
      return true;
    }
    return false;
  }

  async function pay(provider, method) {
    error("");
    const buttons = document.querySelectorAll(".pay-option");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const response = await fetch(`${base}/payments?token=${token}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ provider, method }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        error(body.detail || "The payment could not be started. Try again or choose another way to pay.");
        await poll();
        return;
      }
      if (!renderAction(body)) error("This payment method needs a step this page cannot show.");
    } catch {
      error("Network problem — check your connection and try again.");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  function setStatus(text) {
    $("status").textContent = text;
    root.dataset.status = text;
  }

  async function poll(withAction) {
    if (finished) return;
    try {
      const response = await fetch(`${base}/status?token=${token}${withAction ? "&action=true" : ""}`, { cache: "no-store" });
      if (!response.ok) return;
      const s = await response.json();
      if (s.status === "paid") {
        finished = true;
        setStatus("paid");
        show("paid");
        return;
      }
      if (s.expired) {
        finished = true;
        setStatus("expired");
        show("expired");
        return;
      }
      setStatus(s.status);
      if (withAction && s.payment && s.payment.status === "pending") renderAction(s.payment);
    } catch {
      /* a missed poll is retried on the next tick */
    }
  }

  function countdown() {
    const expires = new Date($("expires-at").getAttribute("datetime"));
    const left = Math.max(0, Math.floor((expires.getTime() - Date.now()) / 1000));
    const m = Math.floor(left / 60);
    const s = String(left % 60).padStart(2, "0");
    $("countdown").textContent = finished ? "" : left > 0 ? `${m}:${s} left` : "time is up";
  }

  document.querySelectorAll(".pay-option").forEach((button) =>
    button.addEventListener("click", () => pay(button.dataset.provider, button.dataset.method)));
  $("change").addEventListener("click", () => show("choose"));

  if (root.dataset.status === "paid") { finished = true; show("paid"); }
  else if (root.dataset.status !== "pending") { finished = true; show("expired"); }
  else show("choose");
  poll(true);
  setInterval(() => poll(false), 1500);
  countdown();
  setInterval(countdown, 1000);
})();
