// compare.js — the run list's Compare button: pick two runs with the row
// checkboxes, the button opens /compare?a=OLDER&b=NEWER. The picks are kept
// here by run id and put back whenever rows are replaced (live SSE updates
// re-render a row), so a running run's row keeps its tick. A third pick drops
// the first. No inline script: the server's CSP allows none.
(function () {
  "use strict";
  var bar = document.getElementById("compare-bar");
  var rows = document.getElementById("run-rows");
  if (!bar || !rows) return;
  var button = bar.querySelector("button");
  var note = bar.querySelector(".compare-note");
  var picked = []; // run ids as strings, in the order they were picked

  function sorted() {
    return picked.slice().sort(function (x, y) { return Number(x) - Number(y); });
  }

  function sync() {
    var boxes = rows.querySelectorAll("input.pick-run");
    for (var i = 0; i < boxes.length; i++) {
      var want = picked.indexOf(boxes[i].value) >= 0;
      if (boxes[i].checked !== want) boxes[i].checked = want;
    }
    button.disabled = picked.length !== 2;
    var s = sorted();
    note.textContent = picked.length === 2 ? "Runs #" + s[0] + " and #" + s[1]
      : picked.length === 1 ? "Run #" + s[0] + ": pick one more" : "Pick two runs to compare";
  }

  rows.addEventListener("change", function (e) {
    var box = e.target;
    if (!box.classList || !box.classList.contains("pick-run")) return;
    var at = picked.indexOf(box.value);
    if (box.checked && at < 0) {
      picked.push(box.value);
      if (picked.length > 2) picked.shift();
    } else if (!box.checked && at >= 0) {
      picked.splice(at, 1);
    }
    sync();
  });

  button.addEventListener("click", function () {
    if (picked.length !== 2) return;
    var s = sorted();
    window.location.href = "/compare?a=" + encodeURIComponent(s[0]) + "&b=" + encodeURIComponent(s[1]);
  });

  new MutationObserver(sync).observe(rows, { childList: true, subtree: true });
  sync();
})();
