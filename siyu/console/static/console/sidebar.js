// The WeCom chat-toolbar sidebar (docs/channels.md, "Sidebar (聊天工具栏)").
// Inside WeCom: register the JS-SDK with the app signature, find the current group (getCurExternalChat),
// load its ready items, and send each with one tap (sendChatMessage), then mark it done on the server.
// Anywhere else: the staff member picks a group; "Copy" puts the text on the clipboard, "Sent" marks it done.
(function () {
  "use strict";
  var root = document.getElementById("sidebar");
  if (!root) return;
  var data = root.dataset;
  var sdk = window.ww;
  var inWeCom = !!(sdk && sdk.env && sdk.env.isWeCom && data.corpId);
  document.body.classList.toggle("in-wecom", inWeCom);

  function feedback(el, text) {
    var item = el.closest(".sidebar-item");
    var box = item && item.querySelector(".sidebar-feedback");
    if (box) box.textContent = text;
  }

  function markDone(el) {
    var form = el.closest("form");
    if (form && window.htmx) window.htmx.trigger(form, "submit");
    else if (form) form.requestSubmit();
  }

  function signature(kind) {
    return function (url) {
      var sep = data.signatureUrl.indexOf("?") >= 0 ? "&" : "?";
      var target = data.signatureUrl + sep + "kind=" + kind + "&url=" + encodeURIComponent(url);
      return fetch(target, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("signature " + r.status);
        return r.json();
      });
    };
  }

  function status(text) {
    var el = document.getElementById("sidebar-status");
    if (el) el.textContent = text;
  }

  if (inWeCom) {
    sdk.register({
      corpId: data.corpId,
      agentId: data.agentId,
      jsApiList: ["getContext", "getCurExternalChat", "sendChatMessage"],
      getConfigSignature: signature("corp"),
      getAgentConfigSignature: signature("agent"),
    });
    sdk
      .getCurExternalChat()
      .then(function (res) {
        status("");
        var sep = data.chatUrl.indexOf("?") >= 0 ? "&" : "?";
        window.htmx.ajax("GET", data.chatUrl + sep + "chat_id=" + encodeURIComponent(res.chatId), "#items");
      })
      .catch(function () {
        status(data.noGroup);
      });
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(area);
      if (ok) resolve();
      else reject(new Error("copy"));
    });
  }

  document.addEventListener("click", function (event) {
    var send = event.target.closest("[data-sidebar-send]");
    if (send && inWeCom) {
      var payload = document.getElementById(send.dataset.payload);
      if (!payload) return;
      send.disabled = true;
      sdk
        .sendChatMessage(JSON.parse(payload.textContent))
        .then(function () {
          markDone(send);
        })
        .catch(function () {
          send.disabled = false;
          feedback(send, data.sendFailed);
        });
      return;
    }
    var button = event.target.closest("[data-sidebar-copy]");
    if (button) {
      copy(button.dataset.copy || "").then(
        function () {
          button.classList.add("copied");
          feedback(button, data.copied);
        },
        function () {
          feedback(button, data.copyFailed);
        }
      );
    }
  });
})();
