// The autopay card form. The card number and expiry go from this browser to Payme's Subscribe API
// (cards.create, cards.get_verify_code, cards.verify with X-Auth = the cashbox id only); only the verified
// card token goes to us (POST /autopay/enrol). The inputs have no name and the form no action, as Payme
// requires, so nothing of the card can be submitted anywhere by the browser itself.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("enrol-config").textContent);
  var T = cfg.texts;
  var token = null;
  var verified = null; // the token cards.verify returned: a retry after a lost reply sends it again
  var $ = function (id) { return document.getElementById(id); };

  function show(step) {
    ["card-step", "code-step", "done"].forEach(function (id) { $(id).hidden = id !== step; });
  }
  function fail(message) {
    var box = $("error");
    box.textContent = message;
    box.hidden = false;
  }
  function clearError() { $("error").hidden = true; $("error").textContent = ""; }
  function busy(button, on) {
    button.disabled = on;
    if (on) { button.dataset.label = button.textContent; button.textContent = T.working; }
    else if (button.dataset.label) { button.textContent = button.dataset.label; }
  }
  // Payme's own {ru, uz, en} message, in the page's language.
  function paymeError(error) {
    var m = error && error.message;
    var text = m && typeof m === "object" ? (m[cfg.lang] || m.ru || m.en) : (typeof m === "string" && m) || T.failed;
    var failure = new Error(text);
    failure.code = error && error.code;
    return failure;
  }
  var calls = 0;
  function payme(method, params) {
    calls += 1;
    return fetch(cfg.subscribeUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Auth": cfg.merchantId },
      body: JSON.stringify({ id: calls, method: method, params: params })
    }).then(function (reply) { return reply.json(); }, function () { throw new Error(T.network); })
      .then(function (data) {
        if (data.error) { throw paymeError(data.error); }
        return data.result;
      });
  }
  function digits(value) { return (value || "").replace(/\D/g, ""); }

  $("card-number").addEventListener("input", function (event) {
    var d = digits(event.target.value).slice(0, 19);
    event.target.value = d.replace(/(\d{4})(?=\d)/g, "$1 ");
  });
  $("card-expiry").addEventListener("input", function (event) {
    var d = digits(event.target.value).slice(0, 4);
    event.target.value = d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : d;
  });

  $("card-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearError();
    var number = digits($("card-number").value);
    var expire = digits($("card-expiry").value);
    if (number.length < 12 || expire.length !== 4) { fail(T.badCard); return; }
    var button = $("card-submit");
    busy(button, true);
    payme("cards.create", { card: { number: number, expire: expire }, save: true })
      .then(function (result) {
        token = result.card.token;
        return payme("cards.get_verify_code", { token: token });
      })
      .then(function (result) {
        $("code-sent").textContent = T.smsSent.replace("{phone}", result.phone || "");
        show("code-step");
        $("sms-code").focus();
      })
      .catch(function (error) { fail(error.message); })
      .then(function () { busy(button, false); });
  });

  $("code-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearError();
    var button = $("code-submit");
    busy(button, true);
    var verify = verified
      ? Promise.resolve(verified)
      : payme("cards.verify", { token: token, code: digits($("sms-code").value) }).then(function (result) {
          verified = result.card.token; // Payme may answer with another token: the verified one is kept
          return verified;
        });
    verify
      .then(function (cardToken) {
        return fetch(location.pathname, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ t: cfg.token, card_token: cardToken })
        }).then(function (reply) {
          return reply.json().then(function (body) { return { status: reply.status, body: body }; });
        }, function () { throw new Error(T.network); });
      })
      .then(function (answer) {
        if (answer.status === 200 || answer.status === 201) {
          $("done-card").textContent = answer.body.card.number;
          $("done-next").textContent = answer.body.next_charge_date || "";
          show("done");
          return;
        }
        var reasons = { 403: T.forged, 409: T.exists, 410: T.gone, 422: T.refused };
        fail(reasons[answer.status] || T.failed);
      })
      .catch(function (error) { fail(error.message); })
      .then(function () { busy(button, false); });
  });

  $("start-again").addEventListener("click", function () {
    token = null;
    verified = null;
    clearError();
    $("sms-code").value = "";
    show("card-step");
  });
})();
