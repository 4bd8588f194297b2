/* Flash-sale page (秒杀): countdown, units left (polled every 2 s), and "Buy now".
 *
 * A purchase POSTs JSON to the buy endpoint with the page's ticket in the X-Siyu-Ticket header and a
 * client key per purchase intent (item, quantity, store). The key is kept until the server gives a
 * definite answer, so retrying after a network error reuses it and can never buy twice; a new tap after
 * an answer is a new intent with a new key. Once reserved, the order is written in the background: the
 * page polls the reservation until the order exists and then opens it (payment / pickup QR).
 */
(function () {
  "use strict";

  var configEl = document.getElementById("flash-config");
  if (!configEl) { return; }
  var cfg = JSON.parse(configEl.textContent);
  var msg = cfg.messages || {};
  var offset = Date.parse(cfg.serverNow) - Date.now();
  var startsAt = Date.parse(cfg.startsAt);
  var endsAt = Date.parse(cfg.endsAt);
  var cancelled = cfg.phase === "cancelled";
  var running = cfg.phase === "running";
  var serverRunning = null; // the status endpoint's last answer
  var pending = {}; // intent -> client key, until a definite answer
  var busy = {}; // item id -> true while a request is in flight
  var remaining = {};

  var storeSelect = document.getElementById("flash-store");
  var countdown = document.getElementById("flash-countdown");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".flash-item[data-item]"));

  cards.forEach(function (card) {
    var el = card.querySelector("[data-remaining]");
    remaining[card.getAttribute("data-item")] = el ? parseInt(el.textContent, 10) || 0 : 0;
  });

  function now() { return Date.now() + offset; }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400);
    s -= d * 86400;
    var text = pad(Math.floor(s / 3600)) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
    return d > 0 ? String(msg.days || "{d}d").replace("{d}", d) + " " + text : text;
  }

  function setCountdown(label, value) {
    countdown.textContent = "";
    countdown.appendChild(document.createTextNode(label + (value ? " " : "")));
    if (value) {
      var span = document.createElement("span");
      span.setAttribute("data-countdown", "");
      span.textContent = value;
      countdown.appendChild(span);
    }
  }

  function phaseNow() {
    if (cancelled) { return "cancelled"; }
    var t = now();
    if (t < startsAt) { return "scheduled"; }
    if (t < endsAt) { return "running"; }
    return "ended";
  }

  function tick() {
    if (!countdown) { return; }
    var phase = phaseNow();
    // Inside the window the server has the last word (e.g. the sale was cancelled meanwhile); right
    // after the start its answer may lag by a second, so it is trusted only a few seconds in.
    var halted = phase === "running" && serverRunning === false && now() >= startsAt + 3000;
    running = phase === "running" && !halted;
    if (phase === "scheduled") { setCountdown(msg.startsIn, duration(startsAt - now())); }
    else if (halted) { setCountdown(msg.not_running, ""); }
    else if (phase === "running") { setCountdown(msg.endsIn, duration(endsAt - now())); }
    else if (phase === "cancelled") { setCountdown(msg.cancelled, ""); }
    else { setCountdown(msg.ended, ""); }
    refreshButtons();
  }

  function refreshButtons() {
    cards.forEach(function (card) {
      var id = card.getAttribute("data-item");
      var button = card.querySelector("[data-buy]");
      if (!button) { return; }
      var left = remaining[id] || 0;
      button.disabled = !running || left <= 0 || !!busy[id];
      button.textContent = running && left <= 0 ? msg.soldOutLabel : msg.buy;
    });
  }

  function showRemaining(id, left) {
    remaining[id] = left;
    var card = document.querySelector('.flash-item[data-item="' + id + '"]');
    if (!card) { return; }
    var el = card.querySelector("[data-remaining]");
    if (el) { el.textContent = String(left); }
    var bar = card.querySelector("[data-progress]");
    if (bar) { bar.value = left; }
  }

  function pollStatus() {
    if (phaseNow() === "ended" || cancelled) { return; }
    fetch(cfg.statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        (body.items || []).forEach(function (it) { showRemaining(String(it.id), it.remaining); });
        serverRunning = body.running;
        tick();
      })
      .catch(function () { /* try again on the next beat */ });
  }

  function say(card, text, kind) {
    var el = card.querySelector("[data-result]");
    if (!el) { return; }
    el.textContent = text || "";
    el.className = "flash-result" + (kind ? " is-" + kind : "");
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  function waitForOrder(card, key, tries) {
    if (tries > 90) { say(card, msg.slow, "ok"); return; }
    fetch(cfg.resultUrl.replace("__KEY__", encodeURIComponent(key)), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && body.status === "written" && body.order_url) {
          window.location.href = body.order_url;
          return;
        }
        window.setTimeout(function () { waitForOrder(card, key, tries + 1); }, 1000);
      })
      .catch(function () { window.setTimeout(function () { waitForOrder(card, key, tries + 1); }, 2000); });
  }

  function buy(card) {
    var id = card.getAttribute("data-item");
    var qtyEl = card.querySelector("[data-qty]");
    var qty = qtyEl ? parseInt(qtyEl.value, 10) || 1 : 1;
    var store = storeSelect ? storeSelect.value : "";
    if (!store) {
      say(card, msg.chooseStore, "error");
      if (storeSelect) { storeSelect.focus(); }
      return;
    }
    var intent = id + ":" + qty + ":" + store;
    var key = pending[intent] || (pending[intent] = newKey());
    busy[id] = true;
    refreshButtons();
    say(card, msg.buying, "");
    fetch(cfg.buyUrl, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "X-Siyu-Ticket": cfg.ticket },
      body: JSON.stringify({ item: parseInt(id, 10), quantity: qty, store: parseInt(store, 10), key: key })
    })
      .then(function (r) {
        return r.json().then(
          function (body) { return { status: r.status, body: body || {} }; },
          function () { return { status: r.status, body: {} }; }
        );
      })
      .then(function (res) {
        if (res.status >= 500) { throw new Error("server"); }
        delete pending[intent]; // a definite answer: the next tap is a new purchase
        busy[id] = false;
        var body = res.body;
        if (res.status === 200 && body.status === "reserved") {
          if (typeof body.remaining === "number") { showRemaining(id, body.remaining); }
          refreshButtons();
          if (body.order_url) { window.location.href = body.order_url; return; }
          say(card, msg.creating, "ok");
          waitForOrder(card, body.key || key, 0);
          return;
        }
        if (body.code === "sold_out") { showRemaining(id, 0); }
        refreshButtons();
        if (res.status === 401) { say(card, msg.ticket, "error"); return; }
        say(card, msg[body.code] || body.message || msg.network, "error");
      })
      .catch(function () {
        busy[id] = false; // the key stays: tapping again retries the same purchase
        refreshButtons();
        say(card, msg.network, "error");
      });
  }

  cards.forEach(function (card) {
    var button = card.querySelector("[data-buy]");
    if (button) { button.addEventListener("click", function () { buy(card); }); }
  });

  tick();
  window.setInterval(tick, 1000);
  if (!cancelled) {
    pollStatus();
    window.setInterval(pollStatus, 2000);
  }
})();
