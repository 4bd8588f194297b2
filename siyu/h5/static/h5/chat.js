/* Siyu H5 group chat: renders messages, posts (idempotent retries), loads history, and listens for new
 * messages over Server-Sent Events. Vanilla JS, no dependencies. The server ends each stream after about
 * five minutes; EventSource then reconnects by itself and sends Last-Event-ID, so nothing is missed. */
(function () {
  "use strict";

  var root = document.getElementById("chat");
  if (!root) return;
  var initialNode = document.getElementById("chat-initial");
  var initial = initialNode ? JSON.parse(initialNode.textContent) : { messages: [], has_more: false };
  var t = root.dataset;
  var list = document.getElementById("chat-messages");
  var scroller = document.getElementById("chat-scroll");
  var earlier = document.getElementById("chat-earlier");
  var statusNode = document.getElementById("chat-status");
  var form = document.getElementById("chat-composer");
  var textInput = document.getElementById("chat-text");
  var imageInput = document.getElementById("chat-image");
  var imageName = document.getElementById("chat-image-name");
  var errorNode = document.getElementById("chat-error");
  var sendButton = document.getElementById("chat-send");

  var rendered = {}; // message id -> element
  var lastId = 0;
  var oldestId = null;
  var source = null;
  var gone = false;

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function safeUrl(url) {
    // Only web links and same-site paths: never javascript: or data: URLs from a card.
    return typeof url === "string" && /^(https?:\/\/|\/(?!\/))/i.test(url) ? url : "";
  }

  function timeLabel(iso) {
    if (!iso) return "";
    var today = new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var todayKey = today.getFullYear() + "-" + pad(today.getMonth() + 1) + "-" + pad(today.getDate());
    var day = iso.slice(0, 10);
    var clock = iso.slice(11, 16);
    return day === todayKey ? clock : iso.slice(5, 10) + " " + clock;
  }

  function clientId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  function renderMessage(msg) {
    var sender = msg.sender || {};
    var mine = sender.kind === "member" && sender.key && sender.key === t.me;
    var item = make("li", "chat-msg chat-" + (sender.kind || "member") + (mine ? " chat-mine" : ""));
    item.dataset.id = msg.id;
    var row = make("div", "chat-row");
    row.appendChild(avatar(sender));
    var body = make("div", "chat-body");
    row.appendChild(body);
    var meta = make("div", "chat-meta");
    meta.appendChild(make("span", "chat-name", sender.name || ""));
    if (sender.kind === "robot") meta.appendChild(make("span", "chat-badge chat-badge-robot", t.tRobot));
    if (sender.kind === "staff") meta.appendChild(make("span", "chat-badge chat-badge-staff", t.tStaff));
    meta.appendChild(make("time", "chat-time", timeLabel(msg.created_at)));
    body.appendChild(meta);
    var bubble = make("div", "chat-bubble");
    if (msg.kind === "card" && msg.card) {
      var href = safeUrl(msg.card.url);
      var card = make(href ? "a" : "div", "chat-card");
      if (href) {
        card.href = href;
        card.rel = "noopener";
      }
      var cardImage = safeUrl(msg.card.image_url);
      if (cardImage) {
        var cimg = make("img", "chat-card-image");
        cimg.src = cardImage;
        cimg.alt = "";
        cimg.loading = "lazy";
        card.appendChild(cimg);
      }
      card.appendChild(make("strong", "chat-card-title", msg.card.title));
      if (msg.card.description) card.appendChild(make("span", "chat-card-text", msg.card.description));
      if (msg.card.button) {
        card.className += " chat-card-action";
        card.appendChild(make("span", "chat-card-button", msg.card.button));
      }
      bubble.appendChild(card);
    } else {
      if (msg.image_url) {
        var link = make("a", "chat-image-link");
        link.href = msg.image_url;
        link.target = "_blank";
        var img = make("img", "chat-image");
        img.src = msg.image_url;
        img.alt = t.tPicture;
        img.loading = "lazy";
        img.addEventListener("load", function () { if (nearBottom(200)) scrollToBottom(); });
        link.appendChild(img);
        bubble.appendChild(link);
      }
      if (msg.text) bubble.appendChild(make("p", "chat-text", msg.text));
    }
    if (msg.hidden) bubble.appendChild(make("p", "chat-hidden-note", t.tHidden));
    body.appendChild(bubble);
    item.appendChild(row);
    return item;
  }

  function avatar(sender) {
    // The sender's picture (a same-site URL only), else the first character of their name.
    var url = sender.avatar_url && /^\/(?!\/)/.test(sender.avatar_url) ? sender.avatar_url : "";
    if (url) {
      var img = make("img", "chat-avatar");
      img.src = url;
      img.alt = "";
      img.loading = "lazy";
      return img;
    }
    var initial = Array.from(sender.name || "?")[0] || "?";
    var span = make("span", "chat-avatar", initial.toUpperCase());
    span.setAttribute("aria-hidden", "true");
    return span;
  }

  function nearBottom(slack) {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < (slack || 80);
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function insert(msg) {
    if (!msg || !msg.id) return;
    if (rendered[msg.id]) return;
    var node = renderMessage(msg);
    rendered[msg.id] = node;
    // Keep id order even if a late event arrives out of order; pending (unsent) bubbles stay last.
    var shown = list.querySelectorAll("li[data-id]");
    var anchor = null;
    var found = false;
    for (var i = shown.length - 1; i >= 0; i--) {
      if (parseInt(shown[i].dataset.id, 10) < msg.id) {
        anchor = shown[i].nextSibling;
        found = true;
        break;
      }
    }
    if (!found) anchor = shown.length ? shown[0] : list.querySelector(".chat-pending");
    list.insertBefore(node, anchor);
    finish(msg);
  }

  function finish(msg) {
    if (msg.id > lastId) lastId = msg.id;
    if (oldestId === null || msg.id < oldestId) oldestId = msg.id;
  }

  function append(msg) {
    var stick = nearBottom() || (msg.sender && msg.sender.key === t.me);
    insert(msg);
    if (stick) scrollToBottom();
  }

  function remove(id) {
    var node = rendered[id];
    if (node && node.parentNode) node.parentNode.removeChild(node);
  }

  function setStatus(text, live) {
    if (!statusNode) return;
    statusNode.textContent = text;
    statusNode.classList.toggle("chat-live", !!live);
  }

  function showError(text) {
    if (!errorNode) return;
    errorNode.textContent = text || "";
    errorNode.hidden = !text;
  }

  // --- history ------------------------------------------------------------------------------------

  initial.messages.forEach(insert);
  earlier.hidden = !initial.has_more;
  scrollToBottom();

  earlier.addEventListener("click", function () {
    if (oldestId === null) return;
    earlier.disabled = true;
    fetch(t.messagesUrl + "?before=" + oldestId, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var before = scroller.scrollHeight;
        (data.messages || []).forEach(insert);
        scroller.scrollTop += scroller.scrollHeight - before; // keep the reader where they were
        earlier.hidden = !data.has_more;
      })
      .catch(function () { showError(t.tNetwork); })
      .then(function () { earlier.disabled = false; });
  });

  // --- live updates -----------------------------------------------------------------------------

  function connect() {
    if (gone || !window.EventSource) return;
    source = new EventSource(t.eventsUrl + "?after=" + lastId);
    source.addEventListener("open", function () { setStatus(t.tLive, true); });
    source.addEventListener("message", function (e) {
      try { append(JSON.parse(e.data)); } catch (err) { /* a malformed event is skipped */ }
    });
    source.addEventListener("hidden", function (e) {
      try { remove(JSON.parse(e.data).id); } catch (err) { /* ignore */ }
    });
    source.addEventListener("gone", function () {
      gone = true;
      source.close();
      setStatus(t.tGone, false);
      if (form) form.hidden = true;
    });
    source.addEventListener("error", function () {
      setStatus(t.tReconnecting, false);
      if (source.readyState === EventSource.CLOSED && !gone) {
        // Refused (e.g. signed out or an HTTP error): EventSource gives up, so start over a little later.
        setTimeout(connect, 5000);
      }
    });
  }
  connect();

  // --- posting ------------------------------------------------------------------------------------

  if (!form) return;

  imageInput.addEventListener("change", function () {
    var file = imageInput.files && imageInput.files[0];
    imageName.hidden = !file;
    imageName.textContent = file ? t.tPicture + ": " + file.name : "";
  });

  textInput.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  function pendingBubble(text, file) {
    var item = make("li", "chat-msg chat-member chat-mine chat-pending");
    var bubble = make("div", "chat-bubble");
    if (file) bubble.appendChild(make("p", "chat-text", t.tPicture + ": " + file.name));
    if (text) bubble.appendChild(make("p", "chat-text", text));
    var state = make("p", "chat-state", t.tSending);
    bubble.appendChild(state);
    item.appendChild(bubble);
    list.appendChild(item);
    scrollToBottom();
    return { item: item, state: state };
  }

  function send(body, pending) {
    pending.state.textContent = t.tSending;
    return fetch(t.messagesUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": t.csrf, Accept: "application/json" },
    })
      .then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      })
      .then(function (res) {
        if (res.ok) {
          if (pending.item.parentNode) pending.item.parentNode.removeChild(pending.item);
          append(res.data.message);
          return;
        }
        var message = (res.data && res.data.error && res.data.error.message) || t.tFailed;
        pending.state.textContent = message;
        pending.item.classList.add("chat-failed");
      })
      .catch(function () {
        // The message may or may not have arrived: retrying with the same client id cannot post it twice.
        pending.state.textContent = t.tFailed + " ";
        var retry = make("button", "chat-retry secondary outline", t.tRetry);
        retry.type = "button";
        retry.addEventListener("click", function () {
          retry.remove();
          send(body, pending);
        });
        pending.state.appendChild(retry);
        pending.item.classList.add("chat-failed");
      });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    showError("");
    var text = textInput.value.trim();
    var file = imageInput.files && imageInput.files[0];
    if (!text && !file) { showError(t.tEmpty); return; }
    if (text.length > parseInt(t.maxText, 10)) { showError(t.tTooLong); return; }
    var body = new FormData();
    body.append("text", text);
    body.append("client_msg_id", clientId());
    if (file) body.append("image", file);
    var pending = pendingBubble(text, file);
    textInput.value = "";
    imageInput.value = "";
    imageName.hidden = true;
    sendButton.disabled = true;
    send(body, pending).then(function () {
      sendButton.disabled = false;
      textInput.focus();
    });
  });
})();
