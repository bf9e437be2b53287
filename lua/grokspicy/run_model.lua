-- run_model.lua — a run as the dashboard shows it, derived from the store's rows:
-- the statuses and steps, times, progress, costs, what runs now, and the view
-- model of a run page (one card per character, one row per scene, the
-- timeline). Pure functions of store rows and the clock; grokspicy.view
-- re-exports them beside the templates that render them.
local store = require "grokspicy.store"
local vocab = require "grokspicy.vocab"

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

-- Each step's share of the progress bar, in percent (a typical run's time).
local WEIGHT = { ideation = 5, characters = 20, keyframes = 25, script = 2, videos = 40, assembly = 8 }

local STEP_INDEX = {}
for i, s in ipairs(M.STEPS) do STEP_INDEX[s.key] = i end

--- Whether a run with this status is still working (grokspicy.vocab.running).
function M.is_running(status) return RUNNING[status] == true end
--- Whether a run with this status has ended (grokspicy.vocab.terminal).
function M.is_terminal(status) return TERMINAL[status] == true end

--- The CSS class of a status badge: one colour per kind of state. A cancel
--- someone asked for is grey; a run whose process died is amber.
function M.badge_class(status)
  if status == "complete" then return "ok" end
  if status == "failed" then return "bad" end
  if status == "cancelled" then return "muted" end
  if status == "interrupted" then return "warn" end
  if status == "pending" or status == "queued" then return "idle" end
  return "busy"
end

--- The run list's status menu, {value=, label=} in order: every run not ended
--- (grokspicy.vocab.unended_filter), then the queue and the ends. A step's
--- name is still a valid ?status= (a run's status between its steps), listed
--- only while it is the chosen one.
function M.status_filters(chosen)
  local out = { { value = vocab.unended_filter, label = vocab.unended_filter .. " (not ended)" } }
  for _, s in ipairs(M.STATUSES) do
    if not RUNNING[s] or s == chosen then out[#out + 1] = { value = s, label = s } end
  end
  return out
end

--- An id-safe slug for a character name (element ids, file names).
function M.slug(name)
  local s = tostring(name or ""):lower():gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", "")
  if s == "" then s = "x" end
  return s
end

local timing = require "grokspicy.timing"
local parse_iso = timing.parse_iso
--- grokspicy.timing.parse_iso: seconds since the epoch of a stored timestamp.
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

--- Whether a run's list entry is made from the store alone: false while it runs
--- (its progress and elapsed time move) or when elapsed would fall back to now.
function M.list_item_timeless(run)
  if RUNNING[run.status] then return false end
  return not parse_iso(run.started_at) or parse_iso(run.completed_at) ~= nil or parse_iso(run.updated_at) ~= nil
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

--- The run page's cost lines: {assets = {...}, steps = {...}}, each with label, USD and
--- whether an estimate is in it.
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

-- The attempts of one asset for its panel: from its event (every attempt the
-- step kept on disk, with its score, the vision check's issues, its time and
-- what it cost) or, for a run recorded before events carried them, the
-- accepted one alone. `path` is the accepted file.
local function attempt_list(recorded, path, score)
  local out = {}
  if type(recorded) == "table" and #recorded > 0 then
    for i, a in ipairs(recorded) do
      local p = type(a) == "table" and a.path or nil
      if type(p) == "string" and p ~= "" then
        out[#out + 1] = { n = i, path = p, score = a.score, action = a.action, accepted = p == path,
          video = p:match("%.mp4$") ~= nil, issues = type(a.issues) == "string" and a.issues or nil,
          seconds = tonumber(a.seconds), usd = math.tointeger(a.ticks) and a.ticks / TICKS or nil }
      end
    end
  elseif path and path ~= "" then
    out[1] = { n = 1, path = path, score = score, accepted = true, video = path:match("%.mp4$") ~= nil }
  end
  return out
end

local function pct_byte(ch) return ("%%%02X"):format(ch:byte()) end

-- One asset's panel: its attempts, what the ledger says it cost, how long it
-- took, and where its body is served alone (src: a live event sends the panel empty).
local function panel(run_id, key, asset, path, spans, ledger)
  if not asset then return nil end
  local sp = spans.assets[key]
  local spent = ledger[key]
  return {
    key = key,
    src = ("/run/%d/attempts?asset=%s"):format(run_id, (key:gsub("[^A-Za-z0-9%-%._~:]", pct_byte))),
    attempts = attempt_list(sp and sp.attempts, path, asset.consistency_score),
    seconds = sp and sp.stop and (sp.stop - sp.start) or nil,
    usd = spent and (spent.ticks or 0) / TICKS or nil,
    requests = spent and spent.requests or 0,
    failed_requests = spent and spent.failed_requests or 0,
    note = not asset.reused_from and asset.note or nil,
    reused_from = asset.reused_from,
  }
end

-- What each step kind's attempt is called on the run page, from the asset
-- the steps name ("scene 3", a character's name).
local ACTIVITY_LABEL = {
  generate_character_sheet = function(asset) return "sheet of " .. asset end,
  compose_keyframe = function(asset) return "keyframe " .. (asset:match("^scene (%d+)$") or asset) end,
  generate_scene_video = function(asset) return "clip " .. (asset:match("^scene (%d+)$") or asset) end,
}
-- The accepted-asset events, as the activity key they end.
local ENDS_ACTIVITY = {
  character = function(d) return d.name and ("generate_character_sheet:" .. d.name) end,
  keyframe = function(d) return d.scene_id and ("compose_keyframe:scene " .. d.scene_id) end,
  video = function(d) return d.scene_id and ("generate_scene_video:scene " .. d.scene_id) end,
}

--- What runs now, from the timeline's activity events (each attempt's phase
--- as the steps report it) since the run last began: one entry per asset still
--- being made, in the order they began, {label=, attempt=, phase=, text=}
--- ("clip 3, attempt 2, scoring"). An asset's accepted event ends its entry;
--- the run's end ends them all.
function M.activities(run)
  local tl = type(run.timeline) == "table" and run.timeline or {}
  local acts, order = {}, {}
  for _, ev in ipairs(tl) do
    local d = type(ev.data) == "table" and ev.data or {}
    if ev.type == "activity" then
      local label = ACTIVITY_LABEL[d.step] and type(d.asset) == "string" and ACTIVITY_LABEL[d.step](d.asset)
      if label and type(d.phase) == "string" then
        local key = d.step .. ":" .. d.asset
        if not acts[key] then order[#order + 1] = key end
        acts[key] = { label = label, attempt = math.tointeger(d.attempt), phase = d.phase }
      end
    elseif ENDS_ACTIVITY[ev.type] then
      local key = ENDS_ACTIVITY[ev.type](d)
      if key then acts[key] = nil end
    elseif ev.type == "complete" or ev.type == "error" or ev.type == "cancelled" or ev.type == "interrupted"
      or (ev.type == "status" and d.resumed) then
      acts, order = {}, {}
    end
  end
  local out = {}
  for _, key in ipairs(order) do
    local a = acts[key]
    if a then
      acts[key] = nil -- a key listed twice (ended, then begun again) shows once
      a.text = ("%s, attempt %d, %s"):format(a.label, a.attempt or 1, a.phase)
      out[#out + 1] = a
    end
  end
  return out
end

-- What the run is doing right now, in words: parallel work said as parallel.
local function doing_now(status, n)
  if status == "pending" then return "Waiting to start" end
  if status == "ideation" then return "Planning the story" end
  local parts = {}
  if status == "characters" then
    parts[1] = ("Drawing character sheets: %d of %d done"):format(n.chars_done, n.chars)
  elseif status == "keyframes" then
    parts[1] = ("Drawing keyframe %d of %d"):format(math.min(n.kf_done + 1, n.scenes), n.scenes)
  elseif status == "script" then
    parts[1] = "Writing the script"
  elseif status == "videos" then
    parts[1] = "Waiting for the clips"
  elseif status == "assembly" then
    return "Joining the clips into the final video"
  end
  if status == "keyframes" or status == "script" or status == "videos" then
    if n.clips_rendering > 0 then
      parts[#parts + 1] = ("%d clip%s rendering"):format(n.clips_rendering, n.clips_rendering == 1 and "" or "s")
    end
    parts[#parts + 1] = ("%d of %d clips done"):format(n.clips_done, n.clips)
  end
  return concat(parts, " · ")
end

-- The timeline's rows: each step that began, and under it each asset, as a
-- bar on one axis from the attempt's start to its end (or now). x and w are
-- thousandths of the axis (the SVG's viewBox is 1000 wide).
local function timeline_rows(m, spans, now)
  local t0 = spans.t0
  if not t0 then return nil end
  local t1 = spans.t_end or (m.running and now) or spans.t_last or t0
  local span = math.max(t1 - t0, 0.001)
  local rows = {}
  local function bar(label, kind, state, start, stop, attempts)
    local open = stop == nil
    stop = stop or t1
    local x = math.max(0, math.min(1000, math.floor((start - t0) / span * 1000 + 0.5)))
    local w = math.max(3, math.floor((stop - start) / span * 1000 + 0.5))
    if x + w > 1000 then x = math.max(0, 1000 - w) end
    rows[#rows + 1] = { label = label, row = kind, state = open and "open" or state, x = x, w = w,
      seconds = math.max(0, stop - start), open = open, attempts = attempts }
  end
  local function asset_bar(label, key, start_if_open)
    local sp = spans.assets[key]
    if sp then
      local n = type(sp.attempts) == "table" and #sp.attempts or nil
      bar(label, "asset", "done", sp.start, sp.stop, n and n > 1 and n or nil)
    elseif start_if_open and m.running then
      bar(label, "asset", "open", start_if_open, nil)
    end
  end
  for _, s in ipairs(m.steps) do
    local sp = spans.steps[s.key]
    if sp then
      bar(s.label, "step", s.state, sp.start, sp.stop)
    elseif s.key == "videos" then
      -- Clips start as their keyframe is accepted, before their step begins:
      -- a heading of their own, so the overlap with the keyframes shows.
      for _, sc in ipairs(m.scenes) do
        if spans.keyframe_at[sc.scene_id] or spans.assets["scene:" .. sc.scene_id .. ":clip"] then
          rows[#rows + 1] = { label = "Clips", row = "heading" }
          break
        end
      end
    end
    if s.key == "characters" and sp then
      for _, c in ipairs(m.characters) do
        asset_bar(c.name, "character:" .. c.name, s.state == "active" and not c.asset and sp.start)
      end
    elseif s.key == "keyframes" and sp then
      local next_open = s.state == "active"
      for _, sc in ipairs(m.scenes) do
        local open_at
        if next_open and not sc.keyframe then
          open_at, next_open = spans.last_keyframe or sp.start, false
        end
        asset_bar(("Scene %s keyframe"):format(sc.scene_id), "scene:" .. sc.scene_id .. ":keyframe", open_at)
      end
    elseif s.key == "videos" then
      for _, sc in ipairs(m.scenes) do
        asset_bar(("Scene %s clip"):format(sc.scene_id), "scene:" .. sc.scene_id .. ":clip",
          not sc.video and spans.keyframe_at[sc.scene_id])
      end
    end
  end
  return { rows = rows, span = span, half = span / 2 }
end

--- The view model of a run page, from get_run's table.
function M.run_model(run)
  -- An asset the result cache reused says so in its note (grokspicy.cache):
  -- the page links the run that made it instead of calling it a vision check.
  for _, list in ipairs { run.character_assets or {}, run.keyframe_assets or {}, run.video_assets or {} } do
    for _, a in ipairs(list) do a.reused_from = M.reused_from(a.note) end
  end
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

  -- What the plan asks for and what is accepted, per step with assets. A
  -- skipped keyframe (empty path) has no clip to wait for.
  local chars_done, kf_done, kf_skipped, clips_done = 0, 0, 0, 0
  for _, c in ipairs(characters) do if c.asset then chars_done = chars_done + 1 end end
  for _, s in ipairs(scenes) do
    if s.keyframe then
      kf_done = kf_done + 1
      if s.keyframe.keyframe_path == "" then kf_skipped = kf_skipped + 1 end
    end
    if s.video then clips_done = clips_done + 1 end
  end
  local planned = #scenes > 0
  local counts = planned and {
    characters = { done = chars_done, total = #characters },
    keyframes = { done = kf_done, total = #scenes },
    videos = { done = clips_done, total = #scenes - kf_skipped },
  } or {}
  for _, s in ipairs(steps) do
    local c = counts[s.key]
    if c then s.count = ("%d/%d"):format(c.done, c.total) end
  end

  -- Progress: each step's share of a typical run, a step with assets filled
  -- per accepted asset whatever the status says (clips are made while the
  -- keyframes still are). Counts only grow, so the bar never jumps back.
  local fraction
  if run.status == "complete" then
    fraction = 1
  else
    local sum = 0
    for _, s in ipairs(steps) do
      local w, c = WEIGHT[s.key], counts[s.key]
      if s.state == "done" or s.state == "skipped" then
        sum = sum + w
      elseif c and c.total > 0 then
        sum = sum + w * math.min(c.done / c.total, 1)
      end
    end
    fraction = math.min(sum / 100, 0.99)
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

  -- The panels, the timeline, what runs now, the estimate, the tab's title and icon.
  local spans = timing.spans(run)
  local ledger = {}
  for _, r in ipairs((run.costs or {}).assets or {}) do ledger[r.asset] = r end
  for _, c in ipairs(characters) do
    c.panel = panel(run.id, "character:" .. c.name, c.asset, c.asset and c.asset.portrait_path, spans, ledger)
  end
  for _, sc in ipairs(scenes) do
    sc.keyframe_panel = panel(run.id, "scene:" .. sc.scene_id .. ":keyframe", sc.keyframe,
      sc.keyframe and sc.keyframe.keyframe_path, spans, ledger)
    sc.video_panel = panel(run.id, "scene:" .. sc.scene_id .. ":clip", sc.video, sc.video and sc.video.video_path,
      spans, ledger)
  end
  -- "Now" for the timeline and the estimate is the newest event's time: the
  -- page then renders the same HTML as the event's fragment did (the browser
  -- ticks the estimate on from there).
  local now = spans.t_last or M.now()
  local running = RUNNING[run.status] == true
  local clips_rendering = 0
  if running then
    for _, sc in ipairs(scenes) do
      if sc.keyframe and sc.keyframe.keyframe_path ~= "" and not sc.video then clips_rendering = clips_rendering + 1 end
    end
  end
  local phase = run.status
  if run.status == "keyframes" and clips_rendering > 0 then phase = "keyframes + videos" end
  if vocab.waiting[run.status] and run.queue_place then
    phase = ("%s · #%d in the queue"):format(run.status, run.queue_place)
  end
  local eta
  if running and run.history then
    eta = timing.eta(run.history, steps, spans, #characters, #scenes, planned, now)
  end
  local pct = math.floor(fraction * 100 + 0.5 + 1e-9) -- 0.575 * 100 is 57.4999…
  local tab_title, icon
  if running then
    tab_title, icon = ("%d%% · %s — Run #%d"):format(pct, phase, run.id), "running"
  elseif run.status == "complete" then
    tab_title, icon = ("✓ Run #%d — %s"):format(run.id, run.title or run.concept or ""), "complete"
  elseif run.status == "failed" then
    tab_title, icon = ("✗ Run #%d — %s"):format(run.id, run.title or run.concept or ""), "failed"
  else
    tab_title = ("■ Run #%d %s — %s"):format(run.id, run.status, run.title or run.concept or "")
  end
  local final_length = 0
  for _, v in ipairs(run.video_assets or {}) do final_length = final_length + (tonumber(v.duration) or 0) end
  local failure_line, failure_more
  if stop and stop.kind == "failed" then
    local reason = tostring(stop.reason or run.error or "no reason recorded")
    failure_more = reason:find("\n", 1, true) ~= nil
    local at = clock(stop.at)
    failure_line = ("Run failed%s%s%s: %s"):format(stop.step_label and (" in " .. stop.step_label) or "",
      stop.target and (" (" .. stop.target .. ")") or "", at and (" at " .. at) or "", reason:match("^[^\n]*"))
  end

  return {
    run = run,
    id = run.id,
    heading = run.title or run.concept,
    status = run.status,
    badge = M.badge_class(run.status),
    running = RUNNING[run.status] == true,
    terminal = TERMINAL[run.status] == true,
    resumable = RESUMABLE[run.status] == true,
    queued = vocab.waiting[run.status] == true, queue_place = run.queue_place, -- set by web.lua
    progress = fraction,
    progress_pct = pct,
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
    counts = counts,
    phase = phase,
    doing = running and doing_now(run.status, { chars_done = chars_done, chars = #characters, kf_done = kf_done,
      scenes = #scenes, clips_done = clips_done, clips = #scenes - kf_skipped, clips_rendering = clips_rendering })
      or nil,
    activities = running and M.activities(run) or {},
    eta = eta,
    eta_at = eta and ("%.3f"):format(now + eta) or nil,
    tab_title = tab_title,
    icon = icon,
    final_length = final_length,
    failure_line = failure_line,
    failure_more = failure_more,
    timeline = timeline_rows({ steps = steps, characters = characters, scenes = scenes, running = running }, spans,
      now),
    -- A fork's parent and the runs made from this one (grokspicy.fork).
    parent_id = run.parent_id,
    forks = type(run.forks) == "table" and #run.forks > 0 and run.forks or nil,
    -- A finished run with its plan can be edited and re-rendered.
    edit_plan = TERMINAL[run.status] and M.plan_of(run) or nil,
    duration_min = require("grokspicy.plan").MIN_DURATION, duration_max = require("grokspicy.plan").MAX_DURATION,
  }
end

--- The run an asset was reused from (its note "reused from run #N"), or nil.
function M.reused_from(note)
  return type(note) == "string" and math.tointeger(tonumber(note:match("^reused from run #(%d+)$"))) or nil
end

--- The run's story plan as a table (plan_json decoded), or nil.
function M.plan_of(run)
  local p = run.plan_json
  if type(p) == "string" then
    local ok, t = pcall(require("cjson").decode, p)
    p = ok and t or nil
  end
  if type(p) ~= "table" or type(p.characters) ~= "table" or type(p.scenes) ~= "table" then return nil end
  return p
end

return M
