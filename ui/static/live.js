// Live status where JavaScript runs (the pages work without it: links, and pages that
// refresh themselves while something changes). Every few seconds, while the tab is
// visible:
// - the job tray in the header (#job-tray) is fetched again from /console/jobs/tray;
// - tables marked data-live get their rows' state badges from the same page fetched
//   again; a row whose state changed also gets its fresh actions, and is marked
//   data-updated. Rows are matched by data-id; added or removed rows wait for a reload.
// And a drop-down marked data-autosubmit (the project switcher) sends its form at once.
(function () {
  "use strict";
  var INTERVAL_MS = 5000;

  function fetchDoc(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok || r.redirected) throw new Error("HTTP " + r.status);
      return r.text();
    }).then(function (t) {
      return new DOMParser().parseFromString(t, "text/html");
    });
  }

  function tray() {
    var t = document.getElementById("job-tray");
    if (!t) return Promise.resolve();
    return fetchDoc("/console/jobs/tray").then(function (d) {
      var n = d.getElementById("job-tray");
      if (n && n.outerHTML !== t.outerHTML) t.replaceWith(document.importNode(n, true));
    });
  }

  function badge(td) {
    var b = td && td.querySelector(".badge");
    return b ? b.textContent : null;
  }

  function rows() {
    var tables = document.querySelectorAll("table[data-live]");
    if (!tables.length) return Promise.resolve();
    return fetchDoc(location.href).then(function (d) {
      tables.forEach(function (table) {
        var fresh = d.getElementById(table.id);
        if (!fresh) return;
        fresh.querySelectorAll("tbody tr[data-id]").forEach(function (row) {
          var id = row.getAttribute("data-id");
          var cur = table.querySelector('tbody tr[data-id="' + CSS.escape(id) + '"]');
          if (!cur) return;
          var changed = false;
          for (var i = 0; i < row.cells.length && i < cur.cells.length; i++) {
            var b = badge(row.cells[i]);
            if (b !== null && b !== badge(cur.cells[i])) {
              cur.cells[i].innerHTML = row.cells[i].innerHTML;
              changed = true;
            }
          }
          if (changed) {
            var a = row.querySelector("td.actions"), ca = cur.querySelector("td.actions");
            if (a && ca) ca.innerHTML = a.innerHTML;
            cur.setAttribute("data-updated", String(Date.now()));
          }
        });
      });
    });
  }

  function tick() {
    var work = document.hidden ? Promise.resolve() : Promise.all([tray(), rows()]);
    work.catch(function () {}).then(function () { setTimeout(tick, INTERVAL_MS); });
  }
  setTimeout(tick, INTERVAL_MS);

  // A drop-down marked data-autosubmit (the project switcher) sends its form when changed;
  // without a script its button does.
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches("select[data-autosubmit]") && t.form) t.form.submit();
  });
})();
