// The sandbox's WeixinJSBridge: include it on a page opened outside WeChat and getBrandWCPayRequest pays through the
// WeChat Pay sandbox, which verifies paySign with the merchant's public key as the WeChat client does.
(() => {
  "use strict";
  const base = document.currentScript.src.replace(/\/jsapi\/bridge\.js(\?.*)?$/, "");
  window.WeixinJSBridge = {
    invoke(name, params, callback) {
      const done = (answer) => { if (typeof callback === "function") callback(answer); };
      if (name !== "getBrandWCPayRequest") return done({ err_msg: name + ":fail" });
      fetch(base + "/jsapi/pay", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(params) })
        .then((r) => r.json())
        .then(done, () => done({ err_msg: "get_brand_wcpay_request:fail" }));
    },
  };
  document.dispatchEvent(new Event("WeixinJSBridgeReady"));
})();
