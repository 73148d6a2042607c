// The signing page: the manifestation shown before signing follows the meaning as it is typed.
(function () {
  "use strict";
  document.addEventListener("input", function (event) {
    if (event.target.id !== "meaning") { return; }
    var preview = document.getElementById("meaning-preview");
    if (preview) { preview.textContent = event.target.value; }
  });
})();
