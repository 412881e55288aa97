// The live batch page: polls /api/batches/<id> and updates the table in place.
// Text goes in with textContent only: file names and errors are untrusted.
(function () {
  "use strict";
  var state = document.getElementById("batch-state");
  if (!state) { return; }
  var url = state.getAttribute("data-poll");
  var docUrl = state.getAttribute("data-doc-url");
  var tbody = document.querySelector("#batch-docs tbody");

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    return td;
  }

  function render(batch) {
    tbody.textContent = "";
    batch.documents.forEach(function (d) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-id", d.id);
      var name = cell("");
      if (d.status === "indexed") {
        var a = document.createElement("a");
        a.href = docUrl.replace("DOCID", encodeURIComponent(d.id));
        a.textContent = d.filename;
        name.appendChild(a);
      } else {
        name.textContent = d.filename;
      }
      tr.appendChild(name);
      tr.appendChild(cell(d.mrn));
      tr.appendChild(cell(d.type));
      tr.appendChild(cell(d.status, "status status-" + d.status));
      var prog = cell("");
      var bar = document.createElement("progress");
      bar.max = d.pages || 1;
      bar.value = d.pages_done;
      bar.setAttribute("aria-label", "Pages done");
      prog.appendChild(bar);
      var span = document.createElement("span");
      span.className = "pages";
      span.textContent = " " + d.pages_done + "/" + d.pages;
      prog.appendChild(span);
      tr.appendChild(prog);
      tr.appendChild(cell((d.needs_review ? "needs review " : "") + (d.error || ""), "notes"));
      tbody.appendChild(tr);
    });
    renderFiles(batch.results || []);
    var tally = batch.tally || {};
    var parts = Object.keys(tally).sort().map(function (k) { return tally[k] + " " + k; });
    state.textContent = (batch.done ? "Finished: " : "Working: ") + (parts.join(", ") || "no file received");
    state.setAttribute("data-done", batch.done ? "true" : "false");
  }

  function renderFiles(files) {
    var body = document.querySelector("#batch-files tbody");
    if (!body || !files.length) { return; }
    body.textContent = "";
    files.forEach(function (f) {
      var tr = document.createElement("tr");
      tr.className = "outcome-" + f.outcome + (f.warning ? " warning" : "");
      tr.appendChild(cell(f.filename));
      tr.appendChild(cell(f.pages || "all"));
      tr.appendChild(cell(f.outcome, "status status-" + f.outcome));
      var notes = cell("", "notes");
      if (f.warning) {
        var strong = document.createElement("strong");
        strong.textContent = "Check the filing: ";
        notes.appendChild(strong);
      }
      if (f.duplicate_of) {
        notes.appendChild(document.createTextNode("duplicate of "));
        var a = document.createElement("a");
        a.href = docUrl.replace("DOCID", encodeURIComponent(f.duplicate_of));
        a.textContent = f.duplicate_of.slice(0, 12);
        notes.appendChild(a);
        notes.appendChild(document.createTextNode(": "));
      }
      notes.appendChild(document.createTextNode(f.reason || ""));
      if (f.code && f.code !== "duplicate") {
        var code = document.createElement("small");
        code.textContent = " [" + f.code + "]";
        notes.appendChild(code);
      }
      tr.appendChild(notes);
      body.appendChild(tr);
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (batch) {
        render(batch);
        if (!batch.done) { window.setTimeout(poll, 1500); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  if (state.getAttribute("data-done") !== "true") { window.setTimeout(poll, 1000); }
})();
