-- view.lua — what the dashboard shows: the template environment, the pages'
-- and live SSE fragments' HTML, and the run list's entries. The view model of
-- a run (steps, progress, one card per character, one row per scene) is
-- grokspicy.run_model's, re-exported here. Pages and live SSE fragments both
-- render through here, so a fragment always says what a page load would.
local template = require "grokspicy.template"
local run_model = require "grokspicy.run_model"
local resources = require "grokspicy.resources"
local vocab = require "grokspicy.vocab"

local concat = table.concat

local M = {}
for k, v in pairs(run_model) do M[k] = v end

local RUNNING = vocab.running
local parse_iso = run_model.parse_iso


-- s cut to n characters (default 60) with an ellipsis.
local function clip(s, n)
  s = tostring(s or "")
  n = n or 60
  if utf8.len(s) and utf8.len(s) > n then
    return s:sub(1, utf8.offset(s, n) - 1) .. "…"
  end
  return s
end

local URL_UNSAFE = "[^A-Za-z0-9%-%._~/]"
local function percent_encode(ch) return string.format("%%%02X", ch:byte()) end

local env
--- The template environment, compiled templates cached for the life of the state.
function M.env()
  if env then return env end
  env = template.new {
    loader = function(name)
      return resources.read("templates/" .. name)
    end,
    globals = {
      kept_part = M.kept_part,
      badge_class = M.badge_class,
      slug = M.slug,
      statuses = M.STATUSES,
    },
    filters = {
      money = function(v)
        v = tonumber(v) or 0
        if v == 0 then return "$0" end
        if v < 0.01 then return "<$0.01" end
        return string.format("$%.2f", v)
      end,
      score_class = function(v)
        v = tonumber(v)
        if not v then return "none" end
        if v >= 0.8 then return "good" end
        if v >= 0.5 then return "fair" end
        return "poor"
      end,
      -- A path under /output/: each segment percent-encoded, the slashes kept.
      urlpath = function(p)
        p = tostring(p or "")
        if not p:find(URL_UNSAFE) then return p end -- most paths: nothing to encode
        return (p:gsub(URL_UNSAFE, percent_encode))
      end,
      -- "2026-11-26T23:31:02.120Z" -> "2026-11-26 23:31" (UTC, as stored).
      when = function(iso)
        local d, hm = tostring(iso or ""):match("^(%d+%-%d+%-%d+)T(%d+:%d+)")
        return d and (d .. " " .. hm) or ""
      end,
      clip = clip,
    },
  }
  return env
end

--- The HTML of template name with ctx, through env().
function M.render(name, ctx)
  return M.env():render(name, ctx)
end

-- Storyboard parts whose asset is in (a character's accepted sheet, a scene
-- with its keyframe and clip), by everything they are made from: the part's
-- table as JSON (every field, its panels and their attempts included) and
-- `ended`. A running long run's page then renders only what is still coming.
-- Bounded in bytes (keys and HTML): emptied when it would pass PART_MEMO_BYTES.
local PART_MEMO_BYTES = 4 * 1024 * 1024
local part_memo, part_memo_bytes = {}, 0
local PART_VAR = { ["partials/character_card.html"] = "c", ["partials/scene_row.html"] = "s" }

--- kept_part(name, item, ended): the HTML of the storyboard part name
--- ("partials/character_card.html" with c = item, "partials/scene_row.html" with
--- s = item), remembered by item's JSON; the templates call it for finished parts.
function M.kept_part(name, item, ended)
  local var = assert(PART_VAR[name], "kept_part: not a storyboard part")
  local ok, key = pcall(template.json, item)
  key = ok and concat({ name, tostring(ended == true), key }, "\0") or nil
  local html = key and part_memo[key]
  if not html then
    html = template.safe(M.render(name, { [var] = item, ended = ended }))
    if key then
      local size = #key + #tostring(html)
      if part_memo_bytes + size > PART_MEMO_BYTES then part_memo, part_memo_bytes = {}, 0 end
      part_memo[key], part_memo_bytes = html, part_memo_bytes + size
    end
  end
  return html
end

-- What an accepted asset's event changes while the run runs: the pulse and
-- the asset's own parts (see small_fragment).
local ASSET_PARTS = {
  character = { list = "characters", key = "name", "partials/character_media.html", "partials/character_state.html" },
  keyframe = { list = "scenes", key = "scene_id", "partials/scene_keyframe.html" },
  video = { list = "scenes", key = "scene_id", "partials/scene_clip.html" },
}

-- Each line of an SSE event costs its own "data: " on the wire; a line break
-- and the indentation after it are one space to HTML (these parts hold no <pre>).
local function one_line(html) return (html:gsub("\n%s*", " "):gsub(" $", "")) end

-- The fragment of an event that changes a few values of a running run: not
-- the header, the whole card or row and the timeline (several KB, sent to
-- every open page), but the pulse (app.js copies it into the header) and
-- the parts that changed. nil when the event needs the full fragment.
local function small_fragment(model, kind, key)
  if not model.running then return nil end
  local parts
  if kind == "activity" then
    parts = { "partials/run_pulse.html", "partials/run_activity.html" }
  elseif kind == "cost" then
    parts = { "partials/run_cost.html", "partials/run_costs.html" }
  end
  if parts then
    local ctx = { m = model, part = true, oob = true }
    for i, name in ipairs(parts) do parts[i] = M.render(name, ctx) end
    return one_line(table.concat(parts))
  end
  local asset = ASSET_PARTS[kind]
  if not asset then return nil end
  parts = { M.render("partials/run_pulse.html", { m = model, part = true }) }
  for _, item in ipairs(model[asset.list]) do
    if item[asset.key] == key then
      local ctx = { part = true, ended = false, c = item, s = item }
      for _, name in ipairs(asset) do parts[#parts + 1] = M.render(name, ctx) end
    end
  end
  return one_line(table.concat(parts))
end

--- HTML of the fragment a live event carries for a run page, each part marked
--- for an out-of-band replace by id: while the run runs, an asset's event the
--- pulse and that asset's parts, an activity the pulse and the activity list, a
--- cost the cost and the costs table; any other event, and any event of an
--- ended run, the header, whatever slot changed and the timeline.
--- model: run_model(run) when the caller has it already (the observer renders the list row from it too).
function M.run_fragment(run, kind, key, model)
  model = model or M.run_model(run)
  local small = small_fragment(model, kind, key)
  if small then return small end
  local parts = { M.render("partials/run_header.html", { m = model, oob = true }) }
  -- A resumed run's slots that failed or were not made wait again: the
  -- storyboard comes whole, as with the plan.
  if kind == "plan" or (kind == "status" and key == "resumed") then
    parts[#parts + 1] = M.render("partials/storyboard.html", { m = model, oob = true })
  elseif kind == "character" then
    for _, c in ipairs(model.characters) do
      if c.name == key then
        parts[#parts + 1] = M.render("partials/character_card.html", { c = c, oob = true, ended = model.terminal })
      end
    end
  elseif kind == "keyframe" or kind == "video" then
    for _, s in ipairs(model.scenes) do
      if s.scene_id == key then
        parts[#parts + 1] = M.render("partials/scene_row.html", { s = s, oob = true, ended = model.terminal })
      end
    end
  elseif kind == "cost" then
    parts[#parts + 1] = M.render("partials/run_costs.html", { m = model, oob = true })
  end
  if kind == "complete" or kind == "script" or model.terminal then
    parts[#parts + 1] = M.render("partials/final_video.html", { m = model, oob = true })
  end
  if model.terminal and kind ~= "plan" then
    -- The run ended: only the slots still waiting for an asset change (they
    -- now say "not made"); accepted images and playing clips stay as they are.
    for _, c in ipairs(model.characters) do
      if not c.asset or c.failure then
        parts[#parts + 1] = M.render("partials/character_card.html", { c = c, oob = true, ended = true })
      end
    end
    for _, sc in ipairs(model.scenes) do
      if not sc.keyframe or not sc.video or sc.failure then
        parts[#parts + 1] = M.render("partials/scene_row.html", { s = sc, oob = true, ended = true })
      end
    end
  end
  -- The run's end brings "Edit and re-render" (only then: a later event would reset the form).
  if model.terminal and vocab.event[kind] and vocab.event[kind].terminal then
    parts[#parts + 1] = M.render("partials/run_edit.html", { m = model, oob = true })
  end
  parts[#parts + 1] = M.render("partials/timeline.html", { m = model, oob = true })
  return table.concat(parts, "\n")
end

--- HTML of a run's row in the run list, for the list page's live updates: oob
--- marks it to replace the row of the same id ("run" events); without it the
--- row stands alone ("run-new" events put it on top). model as list_item takes it.
function M.run_row(run, oob, model)
  return M.render("partials/run_row.html", { r = M.list_item(run, model), oob = oob })
end

-- Row HTML of finished runs, keyed by every field the row is made from: a
-- finished run's row depends on nothing else (a running one shows the time so
-- far and its progress, so it is never kept). Bounded: emptied when it reaches ROW_MEMO_MAX.
local ROW_MEMO_MAX = 1000
local row_memo, row_memo_n = {}, 0

local function row_key(run)
  local cost = run.cost_usd
  return concat({ run.id, run.status, run.updated_at or "", run.completed_at or "", run.started_at or "",
    cost and ("%.17g"):format(cost) or "", run.provider or "", run.title or "\0", run.concept or "", run.error or "",
    run.thumb or "" }, "\0")
end

--- list_item(run, model) plus html = its run_row.html (safe), remembered for finished runs;
--- index.html writes r.html when present instead of including the partial.
function M.list_item_html(run, model)
  local item = M.list_item(run, model)
  -- A running run's row moves with its progress and clock, a queued one's with its place.
  local key = not RUNNING[run.status] and not run.queue_place and row_key(run)
  local html = key and row_memo[key]
  if not html then
    html = template.safe(M.render("partials/run_row.html", { r = item }))
    if key then
      if row_memo_n >= ROW_MEMO_MAX then row_memo, row_memo_n = {}, 0 end
      row_memo[key], row_memo_n = html, row_memo_n + 1
    end
  end
  item.html = html
  return item
end

-- The first keyframe, else the last clip's final frame, of a get_run table
-- (list_runs rows carry it as thumb).
local function thumb_of(run)
  if run.thumb then return run.thumb ~= "" and run.thumb or nil end
  for _, k in ipairs(run.keyframe_assets or {}) do
    if (k.keyframe_path or "") ~= "" then return k.keyframe_path end
  end
  local v = run.video_assets or {}
  for i = #v, 1, -1 do
    if (v[i].last_frame_path or "") ~= "" then return v[i].last_frame_path end
  end
  return nil
end

--- One entry of the run list, from a list_runs row or a get_run table. A
--- running run's entry has its progress (pct, phase) when model (its
--- run_model) is given, or when run is a get_run table read with its timeline.
function M.list_item(run, model)
  local running = RUNNING[run.status] == true
  if running and not model and type(run.timeline) == "table" then model = M.run_model(run) end
  return {
    thumb = thumb_of(run),
    pct = running and model and model.progress_pct or nil,
    phase = running and model and model.phase or nil,
    id = run.id, title = run.title, concept = run.concept, status = run.status,
    badge = M.badge_class(run.status), started_at = run.started_at, cost = run.cost_usd or 0,
    elapsed = M.elapsed(run), provider = run.provider, running = RUNNING[run.status] == true,
    place = run.queue_place, -- its place in the queue (web.lua sets it)
    -- Why a failed run failed: the first line of its error.
    failure = run.status == "failed" and run.error and clip(tostring(run.error):match("^[^\n]*"), 120) or nil,
    -- A running run's time ticks in the browser from its start (app.js).
    since = RUNNING[run.status] and parse_iso(run.started_at) and ("%.3f"):format(parse_iso(run.started_at)) or nil,
  }
end

return M
