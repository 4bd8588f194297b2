/* Siyu console: pay with balance at the counter. The page works without this file (type the code); with it,
   where the browser allows the camera (HTTPS or localhost, getUserMedia, jsQR loaded) the member's payment QR
   is scanned into the code field and the amount field gets the focus. */
(function () {
  "use strict";

  var stream = null;
  var scanning = false;

  function $(id) { return document.getElementById(id); }

  function status(text) {
    var el = $("pickup-camera-status");
    if (el) { el.textContent = text || ""; }
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
      var scale = Math.min(1, 640 / video.videoWidth);
      var w = Math.round(video.videoWidth * scale);
      var h = Math.round(video.videoHeight * scale);
      canvas.width = w;
      canvas.height = h;
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(video, 0, 0, w, h);
      var found = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        stopCamera();
        status("");
        if (navigator.vibrate) { navigator.vibrate(80); }
        $("pay-code").value = found.data;
        $("pay-amount").focus();
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
      .catch(function () {
        stopCamera();
        status($("pickup-camera-status").getAttribute("data-failed"));
        $("pay-code").focus();
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var camera = $("pickup-camera");
    var form = $("balance-pay-form");
    if (!camera || !form) { return; }
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.jsQR && window.isSecureContext) {
      camera.hidden = false;
      $("pickup-camera-start").addEventListener("click", startCamera);
      $("pickup-camera-stop").addEventListener("click", stopCamera);
    }
    form.addEventListener("submit", function () {
      // A double tap is one payment anyway (the form's key); this keeps the button from flickering twice.
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    });
  });
})();
