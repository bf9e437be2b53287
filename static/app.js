// The little the dashboard needs beyond htmx: a larger view of an image on
// click or Enter, the run list's live rows (new ones on top, none for runs the
// page does not show), the elapsed time and the
// estimate of a running run ticking between events, the run's state on the
// tab (title and icon) and read out to screen readers, and clips held still
// for people who ask for less motion. Loaded from /static: the
// Content-Security-Policy allows no inline script or handler.
(function () {
  "use strict";
  function zoom(img) {
    var dlg = document.getElementById("zoom");
    if (!dlg) return;
    dlg.querySelector("img").src = img.src;
    dlg.querySelector(".caption").textContent = img.alt || "";
    dlg.showModal();
  }
  document.addEventListener("click", function (e) {
    var img = e.target.closest && e.target.closest("img.zoomable");
    var dlg = document.getElementById("zoom");
    if (!dlg) return;
    if (img && !img.closest("#zoom")) {
      zoom(img);
    } else if (e.target.closest && e.target.closest("#zoom")) {
      dlg.close();
    }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" && e.key !== " ") return;
    var img = e.target.closest && e.target.closest("img.zoomable");
    if (img && !img.closest("#zoom")) {
      e.preventDefault();
      zoom(img);
    }
  });

  // The tab says how the run (or the list) stands: the header carries the
  // title and icon it was rendered with; the list has a row per run.
  var lastAnnounced = null;
  function showState() {
    var head = document.getElementById("run-header");
    var title, icon, say;
    if (head) {
      title = head.getAttribute("data-tab-title");
      icon = head.getAttribute("data-icon");
      say = head.getAttribute("data-announce");
    } else if (document.getElementById("run-rows")) {
      var n = document.querySelectorAll("#run-rows tr.run-row[data-running]").length;
      title = n > 0 ? n + " running — Runs — grok-spicy" : "Runs — grok-spicy";
      icon = n > 0 ? "/static/icon-running.png" : "/favicon.ico";
    }
    if (head) notifyOnEnd(head, title);
    if (title && document.title !== title) document.title = title;
    var link = document.getElementById("favicon");
    if (link && icon && link.getAttribute("href") !== icon) link.setAttribute("href", icon);
    var live = document.getElementById("announce");
    if (live && say && say !== lastAnnounced) {
      // The first state is the page's own: only changes are read out.
      if (lastAnnounced !== null) live.textContent = say;
      lastAnnounced = say;
    }
  }

  // A browser notification when the run ends while its page is in the
  // background: asked for by the Notify button, never on load.
  // The permission is read once and after the button asks: reading it may
  // cost the browser a round trip, and this runs on every live update.
  var wasRunning = null;
  var permission = "Notification" in window ? Notification.permission : "denied";
  function notifyOnEnd(head, title) {
    var running = /icon-running/.test(head.getAttribute("data-icon") || "");
    var btn = document.getElementById("notify");
    if (btn) {
      var on = permission === "granted";
      if (btn.hidden !== (permission === "denied")) btn.hidden = permission === "denied";
      if (btn.disabled !== on) {
        btn.textContent = on ? "Notifying when done" : "Notify me";
        btn.disabled = on;
      }
    }
    if (wasRunning && !running && document.hidden && permission === "granted") {
      new Notification(title || "Run ended", { body: head.getAttribute("data-announce") || "",
        icon: head.getAttribute("data-icon") || undefined });
    }
    wasRunning = running;
  }
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("#notify");
    if (!btn || !("Notification" in window)) return;
    Notification.requestPermission().then(function (p) {
      permission = p || Notification.permission;
      showState();
    });
  });

  // Start times in the reader's own time zone; the title keeps the UTC one.
  function localTimes() {
    document.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      var p = function (n) { return String(n).padStart(2, "0"); };
      el.textContent = d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
        p(d.getHours()) + ":" + p(d.getMinutes());
      el.setAttribute("data-local", "1");
    });
  }

  // Clips loop on their own unless the system asks for less motion.
  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)");
  function holdClips() {
    if (!still || !still.matches) return;
    document.querySelectorAll("video[autoplay]").forEach(function (v) {
      v.removeAttribute("autoplay");
      v.autoplay = false;
      v.pause();
    });
  }
  // The pulse (#run-pulse): a running run's small live events send it instead
  // of the whole header; its values go where the header shows them. The
  // header renders the same pulse, so applying it after a full swap changes
  // nothing.
  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
  function applyPulse() {
    var p = document.getElementById("run-pulse");
    var head = document.getElementById("run-header");
    if (!p || !head) return;
    var pct = p.getAttribute("data-pct"), phase = p.getAttribute("data-phase") || "";
    setText(head.querySelector("#run-now .pct"), pct + "%");
    setText(head.querySelector("#run-now .doing"), p.getAttribute("data-doing") || "");
    var eta = head.querySelector("#run-now .eta"), at = p.getAttribute("data-eta-at");
    if (eta) {
      if (at) eta.setAttribute("data-eta-at", at);
      else eta.removeAttribute("data-eta-at");
      if (eta.parentNode.hidden !== !at) eta.parentNode.hidden = !at;
    }
    var bar = document.getElementById("run-progress");
    if (bar && bar.getAttribute("value") !== pct) {
      bar.setAttribute("value", pct);
      bar.textContent = pct + "%";
    }
    var badge = document.getElementById("run-status");
    if (badge && badge.lastChild && badge.lastChild.nodeType === 3) setText(badge.lastChild, phase);
    var states = (p.getAttribute("data-steps") || "").split(" ");
    head.querySelectorAll("ol.steps > li").forEach(function (li, i) {
      if (!states[i]) return;
      var st = states[i].split(":");
      if (li.className !== st[0]) li.className = st[0];
      var count = li.querySelector(".count");
      if (count && st[1]) setText(count, st[1]);
      setText(li.querySelector(".visually-hidden"), " (" + st[0] + ")");
    });
    var id = (location.pathname.match(/^\/run\/(\d+)/) || [])[1];
    if (id) {
      head.setAttribute("data-tab-title", pct + "% · " + phase + " — Run #" + id);
      head.setAttribute("data-announce", "Run " + id + ": " + phase + ", " + pct + "%");
    }
    tick();
  }

  // Once per live message (after all its swaps), per htmx request, and on load.
  function refresh() { applyPulse(); showState(); holdClips(); localTimes(); }
  document.addEventListener("htmx:sseMessage", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
  if (still && still.addEventListener) still.addEventListener("change", holdClips);
  // The run list's live rows. A "run-new" event's row goes on top of the list
  // (tbody sse-swap, afterbegin) where new runs belong: the first page,
  // unfiltered or filtered to the runs not ended; never twice (a reconnect
  // replays it). A "run" event's row replaces its own by id (hx-swap-oob); a
  // run this page does not show is left out rather than handed to htmx with
  // no row to replace.
  function listsNewRuns() {
    var q = new URLSearchParams(location.search);
    var status = q.get("status");
    return !(q.get("q") || (status && status !== "running") || (q.get("page") && q.get("page") !== "1"));
  }
  function rowIds(html) {
    var t = document.createElement("template"); // parsed inert: nothing in it runs
    t.innerHTML = html;
    return Array.prototype.map.call(t.content.querySelectorAll("tr.run-row[id]"), function (r) { return r.id; });
  }
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var rows = document.getElementById("run-rows");
    var msg = e.detail;
    if (!rows || !msg || typeof msg.data !== "string") return;
    var ids = rowIds(msg.data);
    var shown = ids.filter(function (id) { return document.getElementById(id); });
    if (msg.type === "run-new") {
      if (!listsNewRuns() || ids.length === 0 || shown.length > 0) {
        e.preventDefault();
        return;
      }
      var empty = rows.querySelector("tr.empty");
      if (empty) empty.remove();
    } else if (msg.type === "run" && shown.length === 0) {
      e.preventDefault();
    }
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
  // data-eta-at: when the run should end (seconds since the epoch), from
  // past runs; past it the estimate says so rather than count below zero.
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var t0 = parseFloat(el.getAttribute("data-since"));
      var base = parseFloat(el.getAttribute("data-base")) || 0;
      if (!isNaN(t0)) el.textContent = fmt(base + now - t0);
    });
    document.querySelectorAll("[data-eta-at]").forEach(function (el) {
      var left = parseFloat(el.getAttribute("data-eta-at")) - now;
      if (isNaN(left)) return;
      el.textContent = left >= 1 ? "about " + (left < 60 ? Math.round(left) + " s" : fmt(left)) + " left"
        : "almost done";
    });
  }
  setInterval(tick, 1000);
})();
