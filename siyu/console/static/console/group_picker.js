/* "Post to groups" picker: filter hundreds of groups by store, theme and name; select all shown. */
(function () {
  "use strict";
  function setup(root) {
    if (root.hasAttribute("data-enhanced")) { return; }
    root.setAttribute("data-enhanced", "");
    var filters = root.querySelector("[data-picker-filters]");
    var store = root.querySelector("[data-picker-store]");
    var theme = root.querySelector("[data-picker-theme]");
    var q = root.querySelector("[data-picker-q]");
    var count = root.querySelector("[data-picker-count]");
    var labels = Array.prototype.slice.call(root.querySelectorAll("label[data-store]"));
    filters.hidden = false;

    function shown(label) { return !label.hidden; }
    function refresh() {
      var s = store.value, t = theme.value, text = q.value.trim().toLowerCase();
      labels.forEach(function (label) {
        label.hidden = (s && label.getAttribute("data-store") !== s) ||
          (t && label.getAttribute("data-theme") !== t) ||
          (text && label.getAttribute("data-name").indexOf(text) === -1);
      });
      root.querySelectorAll("fieldset[data-picker-group-store]").forEach(function (fs) {
        fs.hidden = !fs.querySelector("label[data-store]:not([hidden])");
      });
      var selected = root.querySelectorAll("input[name=communities]:checked").length;
      count.textContent = count.getAttribute("data-template")
        .replace("%(selected)s", selected).replace("%(shown)s", labels.filter(shown).length);
    }
    function tick(on) {
      labels.filter(shown).forEach(function (label) {
        var box = label.querySelector("input");
        if (!box.disabled) { box.checked = on; }
      });
      refresh();
    }
    [store, theme].forEach(function (el) { el.addEventListener("change", refresh); });
    q.addEventListener("input", refresh);
    root.addEventListener("change", function (e) { if (e.target.name === "communities") { refresh(); } });
    root.querySelector("[data-picker-all]").addEventListener("click", function () { tick(true); });
    root.querySelector("[data-picker-none]").addEventListener("click", function () { tick(false); });
    refresh();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-group-picker]").forEach(setup);
  });
})();
