-- view.lua — what the dashboard shows, derived from the store's rows: the view
-- model of a run (steps, progress, one card per character, one row per scene)
-- and the template environment. Pages and live SSE fragments both render
-- through here, so a fragment is always the same HTML a page load would give.
local template = require "grokspicy.template"
local store = require "grokspicy.store"
local vocab = require "grokspicy.vocab"
local resources = require "grokspicy.resources"

local concat = table.concat

local M = {}

M.STEPS = {
  { key = "ideation", label = "Story plan" },
  { key = "characters", label = "Characters" },
  { key = "keyframes", label = "Keyframes" },
  { key = "script", label = "Script" },
  { key = "videos", label = "Videos" },
  { key = "assembly", label = "Assembly" },
}

-- The statuses and their kinds are grokspicy.vocab's (core/gs_vocab.h).
M.STATUSES = vocab.statuses
local RUNNING, TERMINAL, RESUMABLE = vocab.running, vocab.terminal, vocab.resumable

local STEP_INDEX = {}
for i, s in ipairs(M.STEPS) do STEP_INDEX[s.key] = i end

function M.is_running(status) return RUNNING[status] == true end
function M.is_terminal(status) return TERMINAL[status] == true end

--- The CSS class of a status badge: one colour per kind of state. A cancel
--- someone asked for is grey; a run whose process died is amber.
function M.badge_class(status)
  if status == "complete" then return "ok" end
  if status == "failed" then return "bad" end
  if status == "cancelled" then return "muted" end
  if status == "interrupted" then return "warn" end
  if status == "pending" then return "idle" end
  return "busy"
end

--- An id-safe slug for a character name (element ids, file names).
function M.slug(name)
  local s = tostring(name or ""):lower():gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", "")
  if s == "" then s = "x" end
  return s
end

-- Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Seconds since the epoch of a stored UTC timestamp ("2026-11-26T23:31:02.120Z"), or nil.
-- Plain arithmetic: no os.time/os.date, which read the time zone on every call.
local function parse_iso(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):([%d%.]+)")
  if not y then return nil end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600
    + tonumber(mi) * 60 + tonumber(sec)
end
M.parse_iso = parse_iso

--- Now, in seconds since the epoch with milliseconds (os.time has whole seconds,
--- which made a running run's time jump by up to one).
function M.now() return parse_iso(store.now()) end

--- Wall-clock seconds from a run's start to its end (or to now while it runs).
function M.elapsed(run, now)
  local t0 = parse_iso(run.started_at)
  if not t0 then return nil end
  local t1 = parse_iso(run.completed_at)
  if not t1 then
    if not RUNNING[run.status] then t1 = parse_iso(run.updated_at) end
    t1 = t1 or now or M.now()
  end
  return math.max(0, t1 - t0)
end

-- "12:03 UTC" of a stored time (the store keeps UTC).
local function clock(iso)
  local hm = type(iso) == "string" and iso:match("T(%d%d:%d%d)")
  return hm and (hm .. " UTC") or nil
end

--- What a run's timeline (get_run's {timeline = true}: its events in order)
--- says happened: each step's state, the spans the run was owned by a
--- process (active time), and how its last attempt ended.
---
--- Steps: a status event starts a step and finishes the one before it; a step
--- never started while a later one was is "skipped"; `complete` finishes the
--- last; `error` marks the step that failed ("failed": the step its event
--- names, else the one running) and stops the one running; `cancelled` and
--- `interrupted` leave the running step "stopped". A resume (a status event
--- with resumed = true) starts a new attempt: every step is pending again.
---
--- Spans: the first opens at started_at, each resume opens one; a terminal
--- event closes it (`interrupted` at the process's last sign of life, its
--- last_seen). Returns nil when the timeline holds no step at all (runs
--- recorded without events).
function M.timeline_facts(run, now)
  local tl = run.timeline
  if type(tl) ~= "table" then return nil end
  local state, current, stop = {}, nil, nil
  local span_start = parse_iso(run.started_at)
  local last_seen = span_start
  local closed, spans, any_step = 0, span_start and 1 or 0, false
  local function close(t_end)
    if span_start and t_end then closed = closed + math.max(0, t_end - span_start) end
    span_start = nil
  end
  for _, ev in ipairs(tl) do
    local t = parse_iso(ev.created_at)
    local d = type(ev.data) == "table" and ev.data or {}
    if ev.type == "status" and d.resumed then
      if span_start then close(last_seen) end -- it ended without a word: at its last sign of life
      span_start, last_seen, spans = t, t, spans + 1
      state, current, stop = {}, nil, nil
    elseif ev.type == "status" and STEP_INDEX[d.status] then
      any_step = true
      if current and current ~= d.status then state[current] = "done" end
      for i = 1, STEP_INDEX[d.status] - 1 do
        local k = M.STEPS[i].key
        if state[k] == nil then state[k] = "skipped" end
      end
      state[d.status], current = "active", d.status
    elseif ev.type == "complete" then
      for _, s in ipairs(M.STEPS) do
        if state[s.key] == nil then
          state[s.key] = "skipped"
        elseif state[s.key] == "active" then
          state[s.key] = "done"
        end
      end
      close(t)
      current, stop = nil, { kind = "complete", at = ev.created_at }
    elseif ev.type == "error" then
      local failed = STEP_INDEX[d.step] and d.step or current
      if current and current ~= failed then state[current] = "stopped" end
      if failed then state[failed] = "failed" end
      close(t)
      stop = { kind = "failed", at = ev.created_at, reason = d.error, step = failed, scene_id = d.scene_id,
        character = d.character, asset = d.asset }
      current = nil
    elseif ev.type == "cancelled" or ev.type == "interrupted" then
      if current then state[current] = "stopped" end
      local at = ev.created_at
      if ev.type == "interrupted" then
        local seen = parse_iso(d.last_seen)
        close(seen and math.max(seen, last_seen or seen) or last_seen)
        at = d.last_seen or at
      else
        close(t)
      end
      stop = { kind = ev.type, at = at, reason = d.reason, by = d.by, step = current, noticed = ev.created_at }
      current = nil
    end
    if span_start and t and (not last_seen or t > last_seen) then last_seen = t end
  end
  if not any_step then return nil end
  local open_since
  if span_start then
    if RUNNING[run.status] then
      open_since = span_start
    else -- stopped with no event saying so (an old record): at its end, or its last sign of life
      close(parse_iso(run.completed_at) or last_seen)
    end
  end
  local active = closed + (open_since and math.max(0, (now or M.now()) - open_since) or 0)
  return { state = state, stop = stop, spans = spans, active = active, closed = closed, open_since = open_since }
end

-- "scene 2 clip", "character Fox", "scene 3 keyframe": what a failure was making.
local function target_label(stop)
  if not stop then return nil end
  if stop.scene_id then
    return stop.asset and ("scene %s %s"):format(stop.scene_id, stop.asset) or ("scene " .. stop.scene_id)
  end
  if stop.character then return ("character %s"):format(stop.character) end
  return nil
end
M.target_label = target_label

local TICKS = 10000000000 -- per USD: the ledger counts in the service's ticks

local STEP_LABELS = { plan_story = "Story plan", generate_character_sheet = "Characters",
  compose_keyframe = "Keyframes", generate_scene_video = "Videos", assemble_final_video = "Assembly" }

--- A ledger asset key as people read it: "scene:2:clip" -> "Scene 2 clip".
function M.asset_label(key)
  key = tostring(key or "")
  if key == "plan" then return "Story plan" end
  local name = key:match("^character:(.*)$")
  if name then return "Character " .. name end
  local id, what = key:match("^scene:(%d+):(%w+)$")
  if id then return ("Scene %s %s"):format(id, what) end
  return key
end

-- What the run spent, per asset and per step, from get_run's costs (the ledger).
local function cost_lines(rows, label)
  local out = {}
  for _, r in ipairs(rows or {}) do
    out[#out + 1] = { label = label(r), usd = (r.ticks or 0) / TICKS, requests = r.requests or 0,
      failed_usd = (r.failed_ticks or 0) / TICKS, failed_requests = r.failed_requests or 0,
      estimated = (r.estimated_ticks or 0) > 0 }
  end
  return out
end

function M.cost_model(run)
  local costs = run.costs or {}
  return {
    assets = cost_lines(costs.assets, function(r) return M.asset_label(r.asset) end),
    steps = cost_lines(costs.steps, function(r) return STEP_LABELS[r.step] or tostring(r.step) end),
  }
end

local function index_by(list, key)
  local t = {}
  for _, v in ipairs(list or {}) do t[v[key]] = v end
  return t
end

--- The view model of a run page, from get_run's table.
function M.run_model(run)
  local char_assets = index_by(run.character_assets, "name")
  local kf_assets = index_by(run.keyframe_assets, "scene_id")
  local video_assets = index_by(run.video_assets, "scene_id")

  local characters = {}
  for _, c in ipairs(run.characters or {}) do
    characters[#characters + 1] = {
      name = c.name, role = c.role, description = c.visual_description,
      slug = M.slug(c.name), asset = char_assets[c.name],
    }
  end
  -- Assets recorded without a plan row (a plan loaded elsewhere) still show.
  for _, a in ipairs(run.character_assets or {}) do
    local known = false
    for _, c in ipairs(characters) do if c.name == a.name then known = true end end
    if not known then
      characters[#characters + 1] = { name = a.name, slug = M.slug(a.name), asset = a,
        description = a.visual_description }
    end
  end

  local scenes = {}
  for _, s in ipairs(run.scenes or {}) do
    scenes[#scenes + 1] = {
      scene_id = s.scene_id, title = s.title, description = s.description, setting = s.setting,
      camera = s.camera, mood = s.mood, action = s.action, duration = s.duration_seconds,
      characters_present = s.characters_present or {},
      keyframe = kf_assets[s.scene_id], video = video_assets[s.scene_id],
    }
  end

  local facts = M.timeline_facts(run)
  local stop = facts and facts.stop
  if stop and stop.kind == "complete" then stop = nil end
  if not stop and TERMINAL[run.status] and run.status ~= "complete" then
    -- Recorded without a terminal event: what the row itself says.
    stop = { kind = run.status, at = run.completed_at, reason = run.error }
  end
  local failed_here = stop and stop.kind == "failed" and stop.reason or nil
  if failed_here then
    local what = target_label(stop)
    for _, c in ipairs(characters) do
      if stop.character and c.name == stop.character then c.failure = failed_here end
    end
    for _, s in ipairs(scenes) do
      if stop.scene_id and s.scene_id == stop.scene_id then
        s.failure, s.failed_asset = failed_here, stop.asset
      end
    end
    stop.target = what
  end

  -- Steps: from the timeline; without one, what the status alone tells.
  local n_steps = #M.STEPS
  local idx = STEP_INDEX[run.status]
  local steps = {}
  for i, s in ipairs(M.STEPS) do
    local state
    if facts then
      state = facts.state[s.key] or "pending"
    elseif run.status == "complete" or (idx and i < idx) then
      state = "done"
    elseif idx and i == idx then
      state = "active"
    else
      state = "pending" -- a stopped run recorded without events: nothing known
    end
    steps[i] = { key = s.key, label = s.label, state = state }
  end
  if stop then
    for _, s in ipairs(steps) do
      if s.key == stop.step then stop.step_label = s.label end
    end
  end

  -- Progress: each step is a sixth; the asset step running advances per accepted asset.
  local fraction
  if run.status == "complete" then
    fraction = 1
  elseif idx then
    local within = 0
    if run.status == "characters" and #characters > 0 then
      within = #(run.character_assets or {}) / #characters
    elseif run.status == "keyframes" and #scenes > 0 then
      within = #(run.keyframe_assets or {}) / #scenes
    elseif run.status == "videos" and #scenes > 0 then
      within = #(run.video_assets or {}) / #scenes
    end
    fraction = (idx - 1 + math.min(within, 0.95)) / n_steps
  else
    -- A stopped run keeps the bar at the steps it finished.
    local done = 0
    for _, s in ipairs(steps) do
      if s.state == "done" or s.state == "skipped" then done = done + 1 end
    end
    fraction = done / n_steps
  end

  local current
  for _, s in ipairs(steps) do
    if s.state == "active" or s.state == "failed" then current = s.label end
  end

  -- Time: wall from start to end; active is the time a process owned the run
  -- (a resumed run did not run while it lay stopped). The live clock ticks
  -- from open_since on top of the closed spans.
  local wall = M.elapsed(run)
  local active = facts and facts.active or wall
  local resumed = facts and facts.spans > 1 or false
  local t_started = parse_iso(run.started_at)
  local since = RUNNING[run.status] and (facts and facts.open_since or (not facts and t_started))

  return {
    run = run,
    id = run.id,
    heading = run.title or run.concept,
    status = run.status,
    badge = M.badge_class(run.status),
    running = RUNNING[run.status] == true,
    terminal = TERMINAL[run.status] == true,
    resumable = RESUMABLE[run.status] == true,
    progress = fraction,
    progress_pct = math.floor(fraction * 100 + 0.5),
    current_step = current,
    steps = steps,
    elapsed = wall,
    wall = wall,
    active = active,
    resumed = resumed,
    -- The live clock: seconds since the epoch the open span began, and the closed spans' sum.
    clock_since = since and ("%.3f"):format(since) or nil,
    clock_base = ("%.3f"):format(facts and facts.closed or 0),
    wall_since = RUNNING[run.status] and t_started and ("%.3f"):format(t_started) or nil,
    stop = stop,
    stop_clock = stop and clock(stop.at),
    cost = run.cost_usd or 0,
    costs = M.cost_model(run),
    characters = characters,
    scenes = scenes,
  }
end

--- The template environment, compiled templates cached for the life of the state.
local env
function M.env()
  if env then return env end
  env = template.new {
    loader = function(name)
      return resources.read("templates/" .. name)
    end,
    globals = {
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
        return (tostring(p or ""):gsub("[^A-Za-z0-9%-%._~/]", function(ch)
          return string.format("%%%02X", ch:byte())
        end))
      end,
      -- "2026-11-26T23:31:02.120Z" -> "2026-11-26 23:31" (UTC, as stored).
      when = function(iso)
        local d, hm = tostring(iso or ""):match("^(%d+%-%d+%-%d+)T(%d+:%d+)")
        return d and (d .. " " .. hm) or ""
      end,
      clip = function(s, n)
        s = tostring(s or "")
        n = n or 60
        if utf8.len(s) and utf8.len(s) > n then
          return s:sub(1, utf8.offset(s, n) - 1) .. "…"
        end
        return s
      end,
    },
  }
  return env
end

function M.render(name, ctx)
  return M.env():render(name, ctx)
end

--- HTML of the fragment a live event carries for a run page: the header and
--- whatever slot changed, each marked for an out-of-band replace by id.
function M.run_fragment(run, kind, key)
  local model = M.run_model(run)
  local parts = { M.render("partials/run_header.html", { m = model, oob = true }) }
  if kind == "plan" then
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
  elseif kind == "complete" or kind == "script" then
    parts[#parts + 1] = M.render("partials/final_video.html", { m = model, oob = true })
  end
  if model.terminal and kind ~= "plan" then
    -- The run ended: placeholders still waiting for an asset now say so.
    parts[#parts + 1] = M.render("partials/storyboard.html", { m = model, oob = true })
  end
  return table.concat(parts, "\n")
end

--- HTML of a run's row in the run list, for the list page's live updates.
function M.run_row(run, oob)
  return M.render("partials/run_row.html", { r = M.list_item(run), oob = oob })
end

-- Row HTML of finished runs, keyed by every field the row is made from: a
-- finished run's row depends on nothing else (a running one shows the time so
-- far, so it is never kept). Bounded: emptied when it reaches ROW_MEMO_MAX.
local ROW_MEMO_MAX = 1000
local row_memo, row_memo_n = {}, 0

local function row_key(run)
  local cost = run.cost_usd
  return concat({ run.id, run.status, run.updated_at or "", run.completed_at or "", run.started_at or "",
    cost and ("%.17g"):format(cost) or "", run.provider or "", run.title or "\0", run.concept or "" }, "\0")
end

--- list_item(run) plus html = its run_row.html (safe), remembered for finished runs;
--- index.html writes r.html when present instead of including the partial.
function M.list_item_html(run)
  local item = M.list_item(run)
  local key = not RUNNING[run.status] and row_key(run)
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

--- One entry of the run list, from a list_runs row.
function M.list_item(run)
  return {
    id = run.id, title = run.title, concept = run.concept, status = run.status,
    badge = M.badge_class(run.status), started_at = run.started_at, cost = run.cost_usd or 0,
    elapsed = M.elapsed(run), provider = run.provider,
  }
end

return M
