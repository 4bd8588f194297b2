/* Siyu console: small progressive enhancements. Everything works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function enhance(root) {
    // A chat log opens at its newest message (at the bottom), as chat apps do.
    root.querySelectorAll("[data-scroll-end]:not([data-enhanced])").forEach(function (log) {
      log.setAttribute("data-enhanced", "");
      log.scrollTop = log.scrollHeight;
    });
    // Language select submits itself; the Switch button stays for no-JS use.
    root.querySelectorAll("select[data-autosubmit]:not([data-enhanced])").forEach(function (select) {
      select.setAttribute("data-enhanced", "");
      select.addEventListener("change", function () { select.form.submit(); });
    });
    root.querySelectorAll("input[data-select-on-focus]:not([data-enhanced])").forEach(function (input) {
      input.setAttribute("data-enhanced", "");
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    // On a phone, start with the member filters folded unless some are applied.
    var filters = document.querySelector("details.filters-box");
    if (filters && !filters.hasAttribute("data-active") && window.matchMedia("(max-width: 767px)").matches) {
      filters.removeAttribute("open");
    }
  });

  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });
})();
