-- timing.lua — when a run's steps and assets ran, read from its events: the
-- bars of the run page's timeline (one time axis: steps, then each asset from
-- when it could start to when it was accepted), and the estimate of the time
-- left, from past runs' steps with the same provider (the median per step
-- kind, scaled by the plan's counts). Pure functions of store rows, except
-- history(), which reads past runs (and keeps what it measured of them).
local M = {}

-- Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Parsed timestamps (false: not one). A run page parses each of its events'
-- times several times, and a running run's page and fragments again on every
-- event; emptied when full, so it holds at most a few runs' worth.
local parsed, n_parsed, MAX_PARSED = {}, 0, 4096

--- Seconds since the epoch of a stored UTC timestamp ("2026-11-26T23:31:02.120Z"), or nil.
--- Plain arithmetic: no os.time/os.date, which read the time zone on every call.
function M.parse_iso(s)
  if type(s) ~= "string" then return nil end
  local t = parsed[s]
  if t ~= nil then return t or nil end
  local y, mo, d, h, mi, sec = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):([%d%.]+)")
  t = y and days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600
    + tonumber(mi) * 60 + tonumber(sec)
  if n_parsed >= MAX_PARSED then parsed, n_parsed = {}, 0 end
  parsed[s], n_parsed = t or false, n_parsed + 1
  return t or nil
end
local parse_iso = M.parse_iso

-- The step statuses: the running ones but pending (grokspicy.vocab).
local STEP_KEYS = {}
for status in pairs(require("grokspicy.vocab").running) do
  if status ~= "pending" then STEP_KEYS[status] = true end
end

-- The event types that move the timeline: every one but the run's plan, its
-- script, its costs and its list row (grokspicy.vocab's events).
local NOT_DRAWN = { plan = true, script = true, cost = true, run = true }
local DRAWN = {}
for type_name in pairs(require("grokspicy.vocab").event) do
  if not NOT_DRAWN[type_name] then DRAWN[type_name] = true end
end

-- The events of the run's last attempt (after its last resume): what the
-- timeline draws and what the history measures.
local function last_attempt(run)
  local tl = type(run.timeline) == "table" and run.timeline or {}
  local first = 1
  for i, ev in ipairs(tl) do
    if ev.type == "status" and type(ev.data) == "table" and ev.data.resumed then first = i end
  end
  return tl, first
end

--- The spans of the run's last attempt: steps = { [key] = {start=, stop=} }
--- (stop nil while open), assets = { [asset key] = {start=, stop=, attempts=} }
--- keyed like the ledger ("character:Name", "scene:2:keyframe", "scene:2:clip"),
--- t0 (when the attempt began), t_end (its end, nil while it runs) and
--- t_last (the newest event's time).
---
--- An asset's bar runs from when it could start to when it was accepted:
--- character sheets all start with their step; keyframes go one after another;
--- a clip starts when its scene's keyframe is accepted (flow.lua's order).
function M.spans(run)
  local tl, first = last_attempt(run)
  local steps, assets = {}, {}
  local t0 = first > 1 and parse_iso(tl[first].created_at) or parse_iso(run.started_at)
  local current, t_end, last_kf
  local kf_done = {}
  local function close_step(t)
    if current and steps[current] and not steps[current].stop then steps[current].stop = t end
  end
  for i = first, #tl do
    local ev = tl[i]
    -- Only the events that move a bar are read (cost events are most of a run's).
    local t = DRAWN[ev.type] and parse_iso(ev.created_at)
    local d = t and type(ev.data) == "table" and ev.data or {}
    if t then
      if ev.type == "status" and STEP_KEYS[d.status] then
        if d.status ~= current then
          close_step(t)
          current = d.status
          steps[current] = { start = t }
          if current == "keyframes" then last_kf = t end
        end
      elseif ev.type == "character" and d.name then
        local s = steps.characters
        assets["character:" .. d.name] = { start = s and s.start or t, stop = t, attempts = d.attempts }
      elseif ev.type == "keyframe" and d.scene_id then
        local start = last_kf or (steps.keyframes and steps.keyframes.start) or t
        assets["scene:" .. d.scene_id .. ":keyframe"] = { start = start, stop = t, attempts = d.attempts }
        kf_done[d.scene_id] = t
        last_kf = t
      elseif ev.type == "video" and d.scene_id then
        local start = kf_done[d.scene_id] or (steps.videos and steps.videos.start) or t
        assets["scene:" .. d.scene_id .. ":clip"] = { start = start, stop = t, attempts = d.attempts }
      elseif ev.type == "complete" or ev.type == "error" or ev.type == "cancelled" then
        close_step(t)
        t_end = t
      elseif ev.type == "interrupted" then
        local seen = parse_iso(d.last_seen) or t
        close_step(seen)
        t_end = seen
      end
    end
  end
  -- The newest event's time: a running run is drawn up to it (not to the
  -- clock), so a live fragment and a page load after it give the same HTML.
  local t_last = #tl >= first and parse_iso(tl[#tl].created_at) or t0
  return { t0 = t0, t_end = t_end, t_last = t_last, steps = steps, assets = assets, last_keyframe = last_kf,
    keyframe_at = kf_done }
end

--- The median of a list of numbers (sorted in place), nil when empty.
local function median(list)
  if #list == 0 then return nil end
  table.sort(list)
  local n = #list
  if n % 2 == 1 then return list[(n + 1) // 2] end
  return (list[n // 2] + list[n // 2 + 1]) / 2
end
M.median = median

--- What one step kind's work is counted in: characters by the plan's
--- characters, keyframes and videos by its scenes, the rest once per run.
function M.units(key, n_characters, n_scenes)
  if key == "characters" then return n_characters end
  if key == "keyframes" or key == "videos" then return n_scenes end
  return 1
end

-- What history() reads of a past run, per connection: a complete run whose
-- end is recorded no longer changes its steps, and every running run's page
-- asked for them again (reading each past run whole, events and all, on
-- every load). Keyed by the row's times too, so a row written again is read
-- again; emptied when full.
local measured, MAX_MEASURED = setmetatable({}, { __mode = "k" }), 256

-- A past run's finished steps {key = seconds} and its plan's counts, or nil
-- when its last attempt has no recorded end.
local function measure(conn, row)
  local kept = measured[conn]
  if not kept or kept.n >= MAX_MEASURED then
    kept = { n = 0, runs = {} }
    measured[conn] = kept
  end
  local key = ("%s|%s|%s"):format(row.id, row.completed_at, row.updated_at)
  if kept.runs[key] then return kept.runs[key] end
  local run = conn:get_run(row.id, { timeline = true })
  local sp = run and M.spans(run)
  if not (sp and sp.t_end) then return nil end
  local m = { steps = {}, nc = #(run.characters or {}), ns = #(run.scenes or {}) }
  for step, s in pairs(sp.steps) do
    if s.stop then m.steps[step] = math.max(0, s.stop - s.start) end
  end
  kept.runs[key], kept.n = m, kept.n + 1
  return m
end

--- History of past complete runs with this provider (newest first, at most
--- `limit`, default 8; never the run `exclude`): per step kind the median
--- seconds per unit and the median seconds of the whole step. nil when no
--- past run qualifies: no history, no estimate.
function M.history(conn, provider, exclude, limit)
  limit = limit or 8
  local per_unit, whole, used = {}, {}, 0
  local ok, rows = pcall(conn.list_runs, conn, { status = "complete", limit = 50 })
  if not ok or type(rows) ~= "table" then return nil end
  for _, row in ipairs(rows) do
    if used >= limit then break end
    if row.id ~= exclude and (row.provider or "") == (provider or "") then
      local m = measure(conn, row)
      if m then
        used = used + 1
        for key, secs in pairs(m.steps) do
          local u = M.units(key, m.nc, m.ns)
          per_unit[key] = per_unit[key] or {}
          whole[key] = whole[key] or {}
          if u and u > 0 then table.insert(per_unit[key], secs / u) end
          table.insert(whole[key], secs)
        end
      end
    end
  end
  if used == 0 then return nil end
  local h = { runs = used, per_unit = {}, whole = {} }
  for key, list in pairs(per_unit) do h.per_unit[key] = median(list) end
  for key, list in pairs(whole) do h.whole[key] = median(list) end
  return h
end

--- Seconds left for a running run: for each step not finished, its median
--- per unit times the plan's units (before the plan: the median whole step),
--- less the time the step running has already taken. nil without history, or
--- when the history lacks a step still to come.
function M.eta(history, steps, spans, n_characters, n_scenes, planned, now)
  if not history then return nil end
  local left = 0
  for _, s in ipairs(steps) do
    if s.state ~= "done" and s.state ~= "skipped" then
      local per, expected = history.per_unit[s.key], history.whole[s.key]
      if planned and per then
        expected = per * M.units(s.key, n_characters, n_scenes)
      end
      if not expected then return nil end
      local sp = spans.steps[s.key]
      if s.state == "active" and sp and sp.start then
        expected = math.max(expected - (now - sp.start), 0)
      end
      left = left + expected
    end
  end
  return left
end

return M
