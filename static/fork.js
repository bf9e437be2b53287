// fork.js — "Edit and re-render" on a finished run's page
// (templates/partials/run_edit.html): builds the edited plan from the run's
// plan (the form's data-plan) and the form (title, style, each character's
// description, each scene's description, prompt, camera, mood and duration;
// scenes added or removed), asks POST /api/runs/{id}/fork?dry_run=1 what would
// be made again and its list price ("Preview changes"), and POSTs the fork
// ("Re-render"), then goes to the new run's page. A 400 is shown beside the
// plan, naming the field the server names.
(function () {
  "use strict";
  function setUp() {
    var form = document.getElementById("edit-plan");
    var data = form && form.getAttribute("data-plan");
    // Once per form: a run that ends while its page is open gets the section by a live swap.
    if (!form || !data || form.dataset.ready) return;
    form.dataset.ready = "1";
    var original = JSON.parse(data);
    var scenesBox = document.getElementById("edit-scenes");
    var out = document.getElementById("fork-preview");
    // The attribute, not form.action: a field named "action" (a scene's prompt) shadows that property.
    var endpoint = form.getAttribute("action");

    function asArray(v) { return Array.isArray(v) ? v : []; }

    function clearErrors() {
      form.querySelectorAll("[data-error-for]").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    }

    function showError(field, message) {
      var p = form.querySelector('[data-error-for="' + field + '"]') || form.querySelector('[data-error-for="form"]');
      p.textContent = (p.textContent ? p.textContent + " " : "") + (p.dataset.errorFor === field ? "" : field + ": ") + message;
      p.hidden = false;
    }

    function renumber() {
      var sets = scenesBox.querySelectorAll(".edit-scene");
      sets.forEach(function (fs, i) { fs.querySelector(".scene-n").textContent = String(i + 1); });
      sets.forEach(function (fs) { fs.querySelector(".remove-scene").disabled = sets.length <= 1; });
    }

    scenesBox.addEventListener("click", function (ev) {
      var button = ev.target.closest(".remove-scene");
      if (!button) return;
      button.closest(".edit-scene").remove();
      renumber();
    });

    document.getElementById("add-scene").addEventListener("click", function () {
      var sets = scenesBox.querySelectorAll(".edit-scene");
      var last = sets[sets.length - 1];
      var copy = last.cloneNode(true);
      // A new scene: it starts from the last one's cast and setting, under a new id.
      copy.dataset.from = last.dataset.sceneId || last.dataset.from;
      delete copy.dataset.sceneId;
      copy.querySelectorAll("textarea").forEach(function (t) { t.value = ""; });
      scenesBox.appendChild(copy);
      renumber();
      copy.querySelector("textarea").focus();
    });

    // The plan as edited: the original plan with the form's values over it.
    function editedPlan() {
      var plan = JSON.parse(JSON.stringify(original));
      plan.title = document.getElementById("e-title").value;
      plan.style = document.getElementById("e-style").value;
      plan.characters = asArray(plan.characters);
      form.querySelectorAll(".edit-character").forEach(function (fs) {
        var c = plan.characters[Number(fs.dataset.index) - 1];
        if (c) c.visual_description = fs.querySelector("textarea").value;
      });
      plan.characters.forEach(function (c) { c.personality_cues = asArray(c.personality_cues); });
      var byId = {};
      var maxId = 0;
      asArray(original.scenes).forEach(function (s) { byId[s.scene_id] = s; maxId = Math.max(maxId, s.scene_id); });
      plan.scenes = [];
      scenesBox.querySelectorAll(".edit-scene").forEach(function (fs) {
        var base = byId[fs.dataset.sceneId || fs.dataset.from] || asArray(original.scenes)[0] || {};
        var s = JSON.parse(JSON.stringify(base));
        if (!fs.dataset.sceneId) {
          maxId += 1;
          s.scene_id = maxId;
          s.title = "Scene " + maxId;
        }
        s.characters_present = asArray(s.characters_present);
        ["description", "action", "camera", "mood"].forEach(function (name) {
          s[name] = fs.querySelector('[name="' + name + '"]').value;
        });
        var d = Number(fs.querySelector('[name="duration_seconds"]').value);
        s.duration_seconds = Number.isFinite(d) ? d : s.duration_seconds;
        plan.scenes.push(s);
      });
      return plan;
    }

    function post(query) {
      return fetch(endpoint + query, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ plan: editedPlan() })
      }).then(function (res) {
        return res.json().then(function (body) { return { status: res.status, body: body }; },
          function () { return { status: res.status, body: { error: "the server answered " + res.status } }; });
      });
    }

    function failed(r) {
      var errors = r.body.errors || { form: r.body.error || ("the server answered " + r.status) };
      Object.keys(errors).forEach(function (field) { showError(field, errors[field]); });
    }

    function label(a) {
      var what = a.kind === "sheet" ? "character sheet of " + a.character
        : (a.kind === "keyframe" ? "keyframe" : "clip") + " of scene " + a.scene_id;
      return what;
    }

    function showPreview(p) {
      out.textContent = "";
      var head = document.createElement("p");
      head.id = "fork-preview-summary";
      if (p.remake.length === 0) {
        head.textContent = "Nothing will be made again: every asset is reused, at no cost.";
      } else {
        // The local preview renderer bills nothing: no price to quote.
        var cost = p.provider === "local" ? ", at no cost (local preview renderer)"
          : ", about $" + p.cost_usd.toFixed(2) + " at list prices (one attempt each)";
        head.textContent = p.remake.length + " asset" + (p.remake.length === 1 ? "" : "s") +
          " will be made again" + cost + "; " + p.reuse.length + " reused for free.";
      }
      out.appendChild(head);
      if (p.remake.length) {
        var ul = document.createElement("ul");
        ul.id = "fork-remake";
        p.remake.forEach(function (a) {
          var li = document.createElement("li");
          li.textContent = label(a);
          ul.appendChild(li);
        });
        out.appendChild(ul);
      }
    }

    var previewButton = document.getElementById("preview-fork");
    previewButton.addEventListener("click", function () {
      clearErrors();
      previewButton.disabled = true;
      out.textContent = "Working out what changed…";
      post("?dry_run=1").then(function (r) {
        previewButton.disabled = false;
        if (r.status === 200) { showPreview(r.body); return; }
        out.textContent = "";
        failed(r);
      }).catch(function (e) {
        previewButton.disabled = false;
        out.textContent = "";
        showError("form", "the request failed: " + e);
      });
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors();
      var button = document.getElementById("submit-fork");
      button.disabled = true;
      post("").then(function (r) {
        if (r.status === 202 && r.body.url) {
          window.location.href = r.body.url;
          return;
        }
        button.disabled = false;
        failed(r);
      }).catch(function (e) {
        button.disabled = false;
        showError("form", "the request failed: " + e);
      });
    });

    renumber();
  }
  setUp();
  // Cheap when there is nothing new: setUp returns at once unless a fresh form arrived.
  document.body.addEventListener("htmx:oobAfterSwap", setUp);
  document.body.addEventListener("htmx:afterSettle", setUp);
})();
