// The eCRF page: typing in a field's query or verification panel is not an unsaved change of the
// form's values (the panels sit inside the entry form but post forms of their own); the panel named
// in the address (#field-X) is opened; after a refused save the first field named takes the focus.
(function () {
  "use strict";
  function quiet(event) {
    if (event.target.closest && event.target.closest("details.panel") && event.target.form &&
        !event.target.form.hasAttribute("data-warn-unsaved")) {
      event.stopPropagation();
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-warn-unsaved] details.panel").forEach(function (panel) {
      panel.addEventListener("input", quiet);
    });
    // coming back from a query or verification action (#field-X): that field's panel is open
    if (/^#field-[a-z0-9_]+$/.test(location.hash)) {
      var panel = document.getElementById(location.hash.slice(1));
      if (panel && panel.tagName === "DETAILS") { panel.open = true; panel.querySelector("summary").focus(); }
    }
    var wrong = document.querySelector("form[data-warn-unsaved] [aria-invalid=true]");
    if (wrong) {
      var target = wrong.matches("fieldset") ? wrong.querySelector("input:checked, input") : wrong;
      if (target) { target.focus(); }
    }
  });
})();
