// new.js — the New run form (templates/new.html): sends it to POST /api/runs as
// multipart/form-data, goes to the new run's page on 202, and on 400 shows
// each problem beside the field the server names (a field without its own
// place shows at the top). Adds reference rows as ref_name_N / ref_image_N.
(function () {
  "use strict";
  var form = document.getElementById("new-run");
  if (!form) return;

  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach(function (p) { p.hidden = true; p.textContent = ""; });
  }

  function showError(field, message) {
    var p = form.querySelector('[data-error-for="' + field + '"]') || form.querySelector('[data-error-for="form"]');
    p.textContent = (p.textContent ? p.textContent + " " : "") + (p.dataset.errorFor === field ? "" : field + ": ") + message;
    p.hidden = false;
  }

  var add = document.getElementById("add-ref");
  add.addEventListener("click", function () {
    var rows = form.querySelectorAll(".ref-row");
    var n = rows.length + 1;
    if (n > Number(add.dataset.max)) return;
    var row = rows[0].cloneNode(true);
    row.querySelectorAll("input").forEach(function (input) {
      input.name = input.name.replace(/_\d+$/, "_" + n);
      input.value = "";
      input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(n)));
    });
    row.querySelectorAll("[data-error-for]").forEach(function (p) {
      p.dataset.errorFor = p.dataset.errorFor.replace(/_\d+$/, "_" + n);
      p.hidden = true;
      p.textContent = "";
    });
    add.parentNode.insertBefore(row, add);
    if (n >= Number(add.dataset.max)) add.disabled = true;
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearErrors();
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (res) {
        return res.json().then(function (body) { return { status: res.status, body: body }; },
          function () { return { status: res.status, body: { error: "the server answered " + res.status } }; });
      })
      .then(function (r) {
        if (r.status === 202 && r.body.url) {
          window.location.href = r.body.url;
          return;
        }
        var errors = r.body.errors || { form: r.body.error || ("the server answered " + r.status) };
        Object.keys(errors).forEach(function (field) { showError(field, errors[field]); });
        button.disabled = false;
      })
      .catch(function (e) {
        showError("form", "the request failed: " + e);
        button.disabled = false;
      });
  });
})();
