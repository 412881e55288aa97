// Asks before an admin action that ends someone's access (a tired click on the wrong
// row); without this script the buttons still work.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) { e.preventDefault(); }
  });
})();
