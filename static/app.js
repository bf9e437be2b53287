// The little the dashboard needs beyond htmx: a larger view of an image on
// click, and the elapsed time of a running run ticking between events.
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
  function fmt(s) {
    s = Math.max(0, Math.floor(s));
    var m = Math.floor(s / 60);
    return m > 0 ? m + "m " + String(s % 60).padStart(2, "0") + "s" : s + ".0s";
  }
  setInterval(function () {
    document.querySelectorAll("[data-started]").forEach(function (el) {
      var t0 = Date.parse(el.getAttribute("data-started"));
      if (!isNaN(t0)) el.textContent = fmt((Date.now() - t0) / 1000);
    });
  }, 1000);
})();
