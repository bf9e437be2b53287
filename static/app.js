// The little the dashboard needs beyond htmx: a larger view of an image on
// click, new runs on top of the run list, and the elapsed time of a running
// run ticking between events. Loaded from /static: the Content-Security-Policy
// allows no inline script or handler.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var img = e.target.closest && e.target.closest("img.zoomable");
    var dlg = document.getElementById("zoom");
    if (!dlg) return;
    if (img) {
      dlg.querySelector("img").src = img.src;
      dlg.querySelector(".caption").textContent = img.alt || "";
      dlg.showModal();
    } else if (e.target.closest && e.target.closest("#zoom")) {
      dlg.close();
    }
  });
  // A "run" event for a run the list does not show yet carries a row
  // (hx-swap-oob) with no row to replace. Before htmx swaps, give it one: on
  // the unfiltered first page a new row on top, elsewhere a row in a hidden
  // table body (the run belongs to another page or filter). htmx would
  // otherwise drop the row and report an error.
  function listsNewRuns() {
    var q = new URLSearchParams(location.search);
    return !(q.get("q") || q.get("status") || (q.get("page") && q.get("page") !== "1"));
  }
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var rows = document.getElementById("run-rows");
    var data = e.detail && e.detail.data;
    if (!rows || typeof data !== "string" || data.indexOf("run-row-") < 0) return;
    var t = document.createElement("template"); // parsed inert: nothing in it runs
    t.innerHTML = data;
    t.content.querySelectorAll("tr.run-row[id]").forEach(function (row) {
      if (document.getElementById(row.id)) return;
      var slot = document.createElement("tr");
      slot.id = row.id;
      if (listsNewRuns()) {
        var empty = rows.querySelector("tr.empty");
        if (empty) empty.remove();
        rows.insertBefore(slot, rows.firstChild);
      } else {
        var away = document.getElementById("run-rows-elsewhere");
        if (!away) {
          away = document.createElement("tbody");
          away.id = "run-rows-elsewhere";
          away.hidden = true;
          rows.parentNode.appendChild(away);
        }
        away.appendChild(slot);
      }
    });
  });
  function fmt(s) {
    s = Math.max(0, Math.floor(s));
    var m = Math.floor(s / 60);
    return m > 0 ? m + "m " + String(s % 60).padStart(2, "0") + "s" : s + ".0s";
  }
  // A run marked interrupted (its process died) gets a bare status event with
  // no fragment: the page reloads to show the run as it now stands (Resume).
  document.addEventListener("htmx:sseMessage", function (e) {
    if (e.detail && e.detail.type === "interrupted") window.location.reload();
  });
  // data-since: when the open span began (seconds since the epoch); data-base:
  // the seconds before it (the closed spans of a resumed run).
  setInterval(function () {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var t0 = parseFloat(el.getAttribute("data-since"));
      var base = parseFloat(el.getAttribute("data-base")) || 0;
      if (!isNaN(t0)) el.textContent = fmt(base + Date.now() / 1000 - t0);
    });
  }, 1000);
})();
