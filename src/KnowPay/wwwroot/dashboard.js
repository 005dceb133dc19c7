// KnowPay live operations: one server-sent event per second carries a JSON snapshot; everything is drawn from it.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  // The page's text in its language (server resources), keyed as in PageText.resx.
  const text = JSON.parse(($("page-text") || {}).textContent || "{}");
  const t = (key, arg) => (text[key] || key).replace("{0}", arg === undefined ? "" : arg);
  const named = (prefix, value) => text[`${prefix}.${value}`] || value;
  const locale = encodeURIComponent(document.documentElement.lang || "en");
  const svgNs = "http://www.w3.org/2000/svg";
  const pct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
  const ms = (x) => (x === null || x === undefined ? "–" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);
  const time = (iso) => new Date(iso).toLocaleTimeString(document.documentElement.lang || [], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  function drawRate(series) {
    const chart = $("rate-chart");
    const W = 600, H = 180, pad = 22;
    const max = Math.max(4, ...series.map((b) => Math.max(b.created, b.succeeded)));
    const step = (W - pad) / series.length;
    const y = (v) => H - pad - (v / max) * (H - 2 * pad);
    const nodes = [];
    for (const frac of [0, 0.5, 1]) {
      const v = Math.round(max * frac);
      nodes.push(svg("line", { x1: pad, x2: W, y1: y(v), y2: y(v), class: "grid" }));
      const label = svg("text", { x: 0, y: y(v) + 4, class: "axis" });
      label.textContent = String(v);
      nodes.push(label);
    }
    series.forEach((b, i) => {
      const x = pad + i * step;
      const w = Math.max(2, step / 2 - 1);
      nodes.push(svg("rect", { x, y: y(b.created), width: w, height: H - pad - y(b.created), class: "bar-created" }));
      nodes.push(svg("rect", { x: x + w, y: y(b.succeeded), width: w, height: H - pad - y(b.succeeded), class: "bar-paid" }));
      if (b.failed > 0) nodes.push(svg("rect", { x: x + w, y: y(b.failed), width: w, height: 3, class: "bar-failed" }));
    });
    const first = svg("text", { x: pad, y: H - 4, class: "axis" });
    first.textContent = series.length ? time(series[0].start) : "";
    const last = svg("text", { x: W - 60, y: H - 4, class: "axis" });
    last.textContent = t("Js.Now");
    nodes.push(first, last);
    chart.replaceChildren(...nodes);
  }

  function drawProviders(providers) {
    const rows = providers.map((p) => {
      const row = el("div", { class: "provider", "data-provider": p.provider });
      row.append(el("span", { class: "provider-name" }, named("Provider", p.provider)));
      const track = el("div", { class: "track" });
      const fill = el("div", { class: "fill" });
      const rate = p.success_rate;
      fill.style.width = `${rate === null || rate === undefined ? 0 : Math.round(rate * 100)}%`;
      fill.dataset.level = rate === null || rate === undefined ? "none" : rate >= 0.9 ? "good" : rate >= 0.7 ? "warn" : "bad";
      track.append(fill);
      row.append(track, el("span", { class: "provider-rate" }, `${pct(rate)} · ${p.succeeded}/${p.settled}`));
      return row;
    });
    $("providers").replaceChildren(...(rows.length ? rows : [el("p", { class: "muted" }, t("Js.NoPayments"))]));
  }

  function drawAlerts(alerts) {
    const items = alerts.map((a) => {
      const li = el("li", { class: `alert alert-${a.status}` });
      li.append(el("strong", {}, a.status === "firing" ? `● ${a.rule}` : `✓ ${a.rule}`), el("span", {}, ` ${a.message}`),
        el("small", {}, ` ${t("Js.Since", time(a.fired_at))}${a.resolved_at ? t("Js.Resolved", time(a.resolved_at)) : ""}`));
      return li;
    });
    $("alerts").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, t("Js.NoAlerts"))]));
  }

  function drawOrders(orders) {
    $("orders").replaceChildren(...orders.map((o) => {
      const tr = el("tr");
      tr.append(el("td", { class: "mono", "data-label": t("Js.Col.Order") }, o.id), el("td", { "data-label": t("Js.Col.Product") }, o.product),
        el("td", { "data-label": t("Js.Col.Amount") }, o.price), el("td", { "data-label": t("Js.Col.Status") }, ""),
        el("td", { "data-label": t("Js.Col.Created") }, time(o.created_at)));
      tr.children[3].append(el("span", { class: `pill pill-${o.status}` }, named("Status", o.status)));
      return tr;
    }));
  }

  function render(s) {
    $("merchant").textContent = s.merchant;
    $("kpi-pps").textContent = s.succeeded_per_second.toFixed(2);
    $("kpi-success").textContent = pct(s.success_rate);
    $("kpi-p50").textContent = ms(s.latency_p50_ms);
    $("kpi-p99").textContent = ms(s.latency_p99_ms);
    $("kpi-succeeded").textContent = String(s.succeeded);
    $("kpi-volume").textContent = s.volume.join(" · ");
    $("kpi-refunds").textContent = String(s.refunds);
    $("kpi-refunded").textContent = s.refunded.join(" · ");
    $("kpi-volume-converted").textContent = s.volume_in_settlement?.label ?? "";
    $("kpi-volume-unconverted").textContent = s.volume_in_settlement?.unconverted_label ?? "";
    $("kpi-refunded-converted").textContent = s.refunded_in_settlement?.label ?? "";
    $("kpi-refunded-unconverted").textContent = s.refunded_in_settlement?.unconverted_label ?? "";
    const subs = s.subscriptions;
    $("kpi-subs-active").textContent = String(subs.active);
    $("kpi-subs-trialing").textContent = subs.trialing ? t("Js.Trialing", subs.trialing) : "";
    $("kpi-mrr").textContent = subs.mrr.length ? subs.mrr.map((m) => m.formatted).join(" · ") : "–";
    $("kpi-churn").textContent = pct(subs.churn_rate);
    $("kpi-churn-counts").textContent = `${subs.canceled_this_month} / ${subs.active_at_month_start}`;
    $("kpi-past-due").textContent = String(subs.past_due);
    drawRate(s.series);
    drawProviders(s.providers);
    drawAlerts(s.alerts);
    drawOrders(s.recent_orders);
  }

  const live = $("live");
  const source = new EventSource(`/dashboard/stream?locale=${locale}`);
  source.onmessage = (e) => {
    render(JSON.parse(e.data));
    live.dataset.state = "live";
    live.textContent = t("Js.Live", new Date().toLocaleTimeString(document.documentElement.lang || []));
  };
  source.onerror = () => {
    live.dataset.state = "reconnecting";
    live.textContent = t("Js.Reconnecting");
  };
})();
