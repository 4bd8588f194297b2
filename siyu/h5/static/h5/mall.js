// The member mall: "add to cart" answers with a toast fragment (htmx) and the page stays; spec buttons show
// their price; the quantity stepper. Without JavaScript every form still posts and redirects as usual.
(function () {
  "use strict";
  var hideTimer = null;

  function showToast() {
    var toast = document.getElementById("mall-toast");
    if (!toast || !toast.textContent.trim()) return;
    toast.classList.add("is-shown");
    clearTimeout(hideTimer);
    hideTimer = setTimeout(function () {
      toast.classList.remove("is-shown");
    }, 2600);
  }

  // A refused add (400/409) carries its reason as a toast: swap it in like a success.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var status = event.detail.xhr.status;
    if (target && target.id === "mall-toast" && (status === 400 || status === 409)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "mall-toast") showToast();
  });

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches(".mall-spec input[type=radio]")) return;
    var box = document.querySelector("[data-price-box]");
    if (!box) return;
    box.querySelector("[data-unit]").textContent = "¥" + input.dataset.unit;
    var member = Boolean(input.dataset.member);
    var list = box.querySelector("[data-list]");
    list.textContent = "¥" + input.dataset.price;
    list.hidden = !member;
    box.querySelector("[data-member-tag]").hidden = !member;
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".mall-stepper button[data-step]");
    if (!button) return;
    var input = button.parentElement.querySelector("input[type=number]");
    var min = parseInt(input.min, 10) || 1;
    var max = parseInt(input.max, 10) || 99;
    var value = (parseInt(input.value, 10) || min) + parseInt(button.dataset.step, 10);
    input.value = String(Math.min(max, Math.max(min, value)));
  });
})();
