// Live status where JavaScript runs (the pages work without it: links, and pages that
// refresh themselves while something changes). Every few seconds, while the tab is
// visible:
// - the job tray in the header (#job-tray) is fetched again from /console/jobs/tray;
// - live lists (a box marked data-live-rows around a table marked data-live) follow the
//   same page fetched again: rows are matched by data-id; a row whose state badge
//   changed gets its fresh cells and actions (marked data-updated), a new row is put
//   where the server placed it (marked data-added), a row the server no longer lists
//   goes, and the heading's count follows. A list that became empty, or stopped being
//   empty, is replaced whole. Nothing else on the page is touched (a half-filled form
//   stays as it is).
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

  function rowsOf(tbody) {
    var out = [];
    for (var i = 0; i < tbody.rows.length; i++) {
      if (tbody.rows[i].hasAttribute("data-id")) out.push(tbody.rows[i]);
    }
    return out;
  }

  // A row already shown: its state badges (and then its actions) as the server has them.
  function refreshRow(cur, row) {
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
  }

  // The table's rows as the fresh copy has them: gone ones removed, new ones added in
  // the server's order, the others refreshed where they are.
  function syncTable(table, fresh) {
    var tbody = table.tBodies[0], ftbody = fresh.tBodies[0];
    if (!tbody || !ftbody) return;
    var wanted = {};
    var freshRows = rowsOf(ftbody);
    freshRows.forEach(function (r) { wanted[r.getAttribute("data-id")] = true; });
    var shown = {};
    rowsOf(tbody).forEach(function (r) {
      var id = r.getAttribute("data-id");
      if (!wanted[id]) r.remove();
      else shown[id] = r;
    });
    var prev = null;
    freshRows.forEach(function (row) {
      var id = row.getAttribute("data-id");
      var cur = shown[id];
      if (cur) {
        refreshRow(cur, row);
      } else {
        cur = document.importNode(row, true);
        cur.setAttribute("data-added", String(Date.now()));
      }
      var at = prev ? prev.nextElementSibling : tbody.firstElementChild;
      if (at !== cur) tbody.insertBefore(cur, at);
      prev = cur;
    });
  }

  function rows() {
    var boxes = document.querySelectorAll("[data-live-rows]");
    if (!boxes.length) return Promise.resolve();
    return fetchDoc(location.href).then(function (d) {
      boxes.forEach(function (box) {
        var fresh = d.getElementById(box.id);
        if (!fresh) return;
        var table = box.querySelector("table[data-live]");
        var ftable = fresh.querySelector("table[data-live]");
        if (table && ftable) {
          syncTable(table, ftable);
        } else if (fresh.innerHTML !== box.innerHTML) {
          box.replaceWith(document.importNode(fresh, true));
        }
      });
      var c = document.querySelector(".head h1 .count"), fc = d.querySelector(".head h1 .count");
      if (c && fc && c.textContent !== fc.textContent) c.textContent = fc.textContent;
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
