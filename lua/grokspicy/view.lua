-- view.lua — what the dashboard shows, derived from the store's rows: the view
-- model of a run (steps, progress, one card per character, one row per scene)
-- and the template environment. Pages and live SSE fragments both render
-- through here, so a fragment is always the same HTML a page load would give.
local template = require "grokspicy.template"
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

M.STATUSES = { "pending", "ideation", "characters", "keyframes", "script", "videos", "assembly",
  "complete", "failed", "interrupted", "cancelled" }

local RUNNING = { pending = true, ideation = true, characters = true, keyframes = true, script = true,
  videos = true, assembly = true }
local TERMINAL = { complete = true, failed = true, interrupted = true, cancelled = true }

local STEP_INDEX = {}
for i, s in ipairs(M.STEPS) do STEP_INDEX[s.key] = i end

function M.is_running(status) return RUNNING[status] == true end
function M.is_terminal(status) return TERMINAL[status] == true end

--- The CSS class of a status badge: one colour per kind of state.
function M.badge_class(status)
  if status == "complete" then return "ok" end
  if status == "failed" then return "bad" end
  if status == "interrupted" or status == "cancelled" then return "muted" end
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

--- Seconds a run took (or has taken so far).
function M.elapsed(run, now)
  local t0 = parse_iso(run.started_at)
  if not t0 then return nil end
  local t1 = parse_iso(run.completed_at)
  if not t1 then
    if not RUNNING[run.status] then t1 = parse_iso(run.updated_at) end
    t1 = t1 or now or os.time()
  end
  return math.max(0, t1 - t0)
end

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

  -- Progress: each step is a sixth; the asset steps advance per accepted asset.
  local n_steps = #M.STEPS
  local idx = STEP_INDEX[run.status]
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
    -- Failed or stopped runs keep the bar where the work stopped.
    local done = 0
    if run.title then done = 1 end
    if #(run.character_assets or {}) > 0 then done = 2 end
    if #(run.keyframe_assets or {}) > 0 then done = 3 end
    if run.script_path then done = 4 end
    if #(run.video_assets or {}) > 0 then done = 5 end
    fraction = done / n_steps
  end

  local steps = {}
  for i, s in ipairs(M.STEPS) do
    local state = "pending"
    if run.status == "complete" or (idx and i < idx) then
      state = "done"
    elseif idx and i == idx then
      state = "active"
    elseif not idx and i <= math.floor(fraction * n_steps + 1e-9) then
      state = "done"
    elseif not idx and run.status == "failed" and i == math.floor(fraction * n_steps + 1e-9) + 1 then
      state = "failed"
    end
    steps[i] = { key = s.key, label = s.label, state = state }
  end

  local current
  for _, s in ipairs(steps) do
    if s.state == "active" or s.state == "failed" then current = s.label end
  end

  return {
    run = run,
    id = run.id,
    heading = run.title or run.concept,
    status = run.status,
    badge = M.badge_class(run.status),
    running = RUNNING[run.status] == true,
    terminal = TERMINAL[run.status] == true,
    resumable = run.status == "failed" or run.status == "interrupted" or run.status == "cancelled",
    progress = fraction,
    progress_pct = math.floor(fraction * 100 + 0.5),
    current_step = current,
    steps = steps,
    elapsed = M.elapsed(run),
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
