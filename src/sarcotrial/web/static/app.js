// SarcoTrial's few behaviours beyond htmx; no inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  // A warning on leaving a form with unsaved changes (forms marked data-warn-unsaved).
  var dirty = new Set();
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form[data-warn-unsaved]");
    if (form) { dirty.add(form); }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    dirty.delete(form);
    // a double submit sends nothing twice: the buttons wait for the answer
    if (form.dataset.submitted === "1") { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
      b.setAttribute("aria-disabled", "true"); b.classList.add("busy");
    });
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (f) {
      delete f.dataset.submitted;
      f.querySelectorAll(".busy").forEach(function (b) { b.classList.remove("busy"); b.removeAttribute("aria-disabled"); });
    });
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty.size > 0) { event.preventDefault(); event.returnValue = ""; }
  });

  // Confirmation for irreversible actions (buttons or forms marked data-confirm).
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-confirm]");
    if (el && !window.confirm(el.dataset.confirm)) { event.preventDefault(); event.stopPropagation(); }
  }, true);

  // Filters that submit on change (selects marked data-autosubmit).
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-autosubmit]")) { event.target.form.requestSubmit(); }
  });

  // htmx: a partial answer with an error status is still shown (the message beside the field).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 422 || status === 409 || status === 400 || status === 403) {
      event.detail.shouldSwap = true; event.detail.isError = false;
    }
  });
})();
