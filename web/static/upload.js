// Drag-and-drop of many files and an upload progress bar; without this script
// the form still works as a plain multipart POST.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var input = document.getElementById("files");
  var zone = document.getElementById("dropzone");
  var chosen = document.getElementById("chosen");
  var bar = document.getElementById("progress");
  var status = document.getElementById("upload-status");

  function showChosen() {
    var n = input.files.length;
    chosen.textContent = n ? n + " file(s) chosen" : "";
  }
  input.addEventListener("change", showChosen);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      showChosen();
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    var token = document.querySelector('meta[name="csrf-token"]');
    if (token) { xhr.setRequestHeader("X-CSRFToken", token.getAttribute("content")); }
    bar.hidden = false;
    status.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) { bar.value = Math.round(ev.loaded / ev.total * 100); }
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      status.textContent = "Uploaded; archiving the originals…";
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
      if (xhr.status === 201 && body && body.url) {
        window.location.assign(body.url);
        return;
      }
      if (xhr.getResponseHeader("Content-Type") &&
          xhr.getResponseHeader("Content-Type").indexOf("text/html") === 0 &&
          xhr.responseURL && xhr.responseURL.indexOf("/login") !== -1) {
        window.location.assign(xhr.responseURL);
        return;
      }
      status.textContent = "Upload refused: " +
        (body && body.error ? body.error.message : "status " + xhr.status);
    });
    xhr.addEventListener("error", function () { status.textContent = "Upload failed: network error"; });
    xhr.send(new FormData(form));
  });
})();
