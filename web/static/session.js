// Inactivity logoff on screen: once the server-side limit has passed without a
// page load, reload; the server then ends the session and shows the sign-in page,
// so no chart stays on an unattended screen.
(function () {
  "use strict";
  var body = document.body;
  var seconds = parseFloat(body.getAttribute("data-timeout") || "0");
  if (!seconds) { return; }
  window.setTimeout(function () {
    window.location.assign(body.getAttribute("data-login"));
  }, (seconds + 1) * 1000);
})();
