// The CTCAE v5.0 term search: an input marked data-ctcae-search asks /ctcae/search (htmx) for the
// terms matching the words typed; each suggestion is a button [data-ctcae-pick] which puts NCI's
// term into the input and shows the term's grades (/ctcae/grades) in #<input id>-grades.
// Keyboard: ↓ from the input enters the suggestions, ↓ ↑ move, Enter or Space chooses, Escape
// goes back to the input. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  function suggestionsOf(input) { return document.getElementById(input.id + "-suggestions"); }
  function gradesOf(input) { return document.getElementById(input.id + "-grades"); }
  function picks(box) { return box ? Array.prototype.slice.call(box.querySelectorAll("[data-ctcae-pick]")) : []; }

  function pick(button) {
    var input = document.getElementById(button.dataset.ctcaeTarget);
    if (!input) { return; }
    var term = button.dataset.ctcaePick;
    input.value = term;
    input.dataset.ctcaePicked = term;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    var box = suggestionsOf(input);
    if (box) { box.innerHTML = ""; }
    var grades = gradesOf(input);
    if (grades && window.htmx) {
      window.htmx.ajax("GET", "/ctcae/grades?term=" + encodeURIComponent(term),
                       { target: "#" + grades.id, swap: "innerHTML" });
    }
    input.focus();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-ctcae-pick]");
    if (button) { event.preventDefault(); pick(button); }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.closest) { return; }
    var button = target.closest("[data-ctcae-pick]");
    if (button) {
      var box = button.closest(".ctcae-suggestions");
      var all = picks(box);
      var at = all.indexOf(button);
      var input = document.getElementById(button.dataset.ctcaeTarget);
      if (event.key === "Enter" || event.key === " " || event.key === "Spacebar") {
        event.preventDefault(); pick(button);
      } else if (event.key === "ArrowDown") {
        event.preventDefault(); if (at < all.length - 1) { all[at + 1].focus(); }
      } else if (event.key === "ArrowUp") {
        event.preventDefault(); if (at > 0) { all[at - 1].focus(); } else if (input) { input.focus(); }
      } else if (event.key === "Home") {
        event.preventDefault(); all[0].focus();
      } else if (event.key === "End") {
        event.preventDefault(); all[all.length - 1].focus();
      } else if (event.key === "Escape") {
        event.preventDefault(); if (box) { box.innerHTML = ""; } if (input) { input.focus(); }
      }
      return;
    }
    if (target.matches && target.matches("[data-ctcae-search]")) {
      var choices = picks(suggestionsOf(target));
      if (event.key === "ArrowDown" && choices.length) {
        event.preventDefault(); choices[0].focus();
      } else if (event.key === "Enter" && choices.length) {
        // Enter in the input chooses the first suggestion rather than submitting the form half-filled
        event.preventDefault(); pick(choices[0]);
      } else if (event.key === "Escape") {
        var box2 = suggestionsOf(target); if (box2) { box2.innerHTML = ""; }
      }
    }
  });

  // Typing again after a choice: the grades shown belong to the old term, so they go.
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.matches && input.matches("[data-ctcae-search]") && input.value !== input.dataset.ctcaePicked) {
      delete input.dataset.ctcaePicked;
      var grades = gradesOf(input);
      if (grades) { grades.innerHTML = ""; }
    }
  });

  // A search answered after the choice was made does not bring the suggestions back.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (source && source.matches && source.matches("[data-ctcae-search]") &&
        source.dataset.ctcaePicked && source.value === source.dataset.ctcaePicked) {
      event.detail.shouldSwap = false;
    }
  });
})();
