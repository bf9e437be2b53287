// The little the dashboard needs beyond htmx: a larger view of an image on
// click, new runs on top of the run list, and the elapsed time of a running
// run ticking between events.
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
  // A new run's row has no row to replace yet (hx-swap-oob finds no target,
  // htmx drops it): on the unfiltered first page of the list it goes on top.
  document.addEventListener("htmx:oobErrorNoTarget", function (e) {
    var row = e.detail && e.detail.content;
    var rows = document.getElementById("run-rows");
    if (!rows || !row || !row.matches || !row.matches("tr.run-row")) return;
    var q = new URLSearchParams(location.search);
    if (q.get("q") || q.get("status") || (q.get("page") && q.get("page") !== "1")) return;
    if (document.getElementById(row.id)) return;
    var empty = rows.querySelector("tr.empty");
    if (empty) empty.remove();
    row.removeAttribute("hx-swap-oob");
    rows.insertBefore(row, rows.firstChild);
    if (window.htmx) window.htmx.process(row);
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
