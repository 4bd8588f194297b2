/* Siyu console: the counter's code pages — scan-to-verify (核销), the event door, pay with balance. Each page
   works without this file (plain form posts). With it, where the browser allows the camera (HTTPS or
   localhost, getUserMedia, jsQR loaded) a QR scanner is offered (the partial console/_qr_camera.html); a
   scanned code goes into the field named by the camera's data-code-field (default #pickup-code), then either
   the field named by data-next-field gets the focus or #pickup-form is posted. Forms marked data-pickup-form
   are posted with fetch and the answer replaces #pickup-result; forms marked data-once disable their buttons
   on submit. */
(function () {
  "use strict";

  var stream = null;
  var scanning = false;

  function $(id) { return document.getElementById(id); }

  function codeField() {
    var camera = $("pickup-camera");
    return $((camera && camera.getAttribute("data-code-field")) || "pickup-code");
  }

  function status(text) {
    var el = $("pickup-camera-status");
    if (el) { el.textContent = text || ""; }
  }

  function post(form) {
    var result = $("pickup-result");
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    return fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      return response.text().then(function (html) {
        if (response.redirected || (response.headers.get("Content-Type") || "").indexOf("text/html") < 0) {
          // Signed out or something unexpected: let the browser show the real page.
          window.location.href = response.url;
          return;
        }
        result.innerHTML = html;
        var step = result.querySelector("[data-pickup-step]");
        if (step && step.getAttribute("data-pickup-step") !== "confirm") {
          var code = $("pickup-code");
          code.value = "";
        }
        var first = result.querySelector("input.pickup-qty, button");
        if (first && first.focus) { first.focus(); }
      });
    }).catch(function () {
      result.innerHTML = "";
      form.submit(); // network hiccup: fall back to a normal post
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  function stopCamera() {
    scanning = false;
    if (stream) {
      stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
    }
    var video = $("pickup-video");
    if (video) { video.hidden = true; video.srcObject = null; }
    $("pickup-camera-start").hidden = false;
    $("pickup-camera-stop").hidden = true;
  }

  function tick() {
    if (!scanning) { return; }
    var video = $("pickup-video");
    var canvas = $("pickup-canvas");
    if (video.readyState === video.HAVE_ENOUGH_DATA && video.videoWidth) {
      // Decode a reduced frame: plenty for a QR held up to the phone, and fast on cheap handsets.
      var scale = Math.min(1, 640 / video.videoWidth);
      var w = Math.round(video.videoWidth * scale);
      var h = Math.round(video.videoHeight * scale);
      canvas.width = w;
      canvas.height = h;
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(video, 0, 0, w, h);
      var image = ctx.getImageData(0, 0, w, h);
      var found = window.jsQR(image.data, w, h, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        stopCamera();
        status("");
        if (navigator.vibrate) { navigator.vibrate(80); }
        codeField().value = found.data;
        var next = $("pickup-camera").getAttribute("data-next-field");
        if (next) { $(next).focus(); } else { post($("pickup-form")); }
        return;
      }
    }
    window.requestAnimationFrame(tick);
  }

  function startCamera() {
    var video = $("pickup-video");
    status($("pickup-camera-status").getAttribute("data-opening"));
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        $("pickup-camera-start").hidden = true;
        $("pickup-camera-stop").hidden = false;
        return video.play();
      })
      .then(function () {
        status("");
        scanning = true;
        window.requestAnimationFrame(tick);
      })
      .catch(function (err) {
        stopCamera();
        // Say what happened in the page's language; the browser's own error text is English.
        var el = $("pickup-camera-status");
        var name = err && err.name;
        var key = name === "NotAllowedError" || name === "SecurityError" ? "data-denied"
          : name === "NotFoundError" || name === "OverconstrainedError" ? "data-missing"
          : name === "NotReadableError" || name === "AbortError" ? "data-busy" : "data-failed";
        status(el.getAttribute(key));
        codeField().focus();
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var camera = $("pickup-camera");
    var canScan = camera && window.isSecureContext && navigator.mediaDevices &&
      typeof navigator.mediaDevices.getUserMedia === "function" && typeof window.jsQR === "function";
    if (canScan) {
      camera.hidden = false;
      $("pickup-camera-start").addEventListener("click", startCamera);
      $("pickup-camera-stop").addEventListener("click", stopCamera);
    }
    var code = codeField();
    if (code && !canScan) { code.focus(); }
  });

  // Both the code form and the confirmation form (swapped in later) go through fetch.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    if (form.hasAttribute("data-once")) {
      // A double tap is one request anyway (the form's key); this keeps the button from flickering twice.
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      return;
    }
    if (!form.hasAttribute("data-pickup-form") || !window.fetch) { return; }
    event.preventDefault();
    post(form);
  });

  window.addEventListener("pagehide", stopCamera);
})();
