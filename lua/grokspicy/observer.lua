-- observer.lua — what the pipeline tells the outside world at each step boundary.
--
-- PipelineObserver is the interface (the card's eight methods, plus on_status for
-- the step that begins and heartbeat for long waits); NullObserver does nothing;
-- WebObserver records the run in the store and streams it: every call updates
-- the run's rows in one short transaction, renders their fragments outside it
-- and appends its events (the SSE log) in another (see _record),
-- then rings the bus so live streams wake. Observer calls never steer or abort
-- the pipeline: each method catches its own errors and logs a warning (except
-- Ctrl+C's interrupt (an error object whose code is "interrupted"), which goes
-- on to the flow so it can cancel the run,
-- and RecordLost: the WebObserver could not record the run at all).
local store = require "grokspicy.store"

local M = {}

--- Ctrl+C: the grok-spicy host raises an error object whose code is
--- "interrupted" (core/main.c); it is told apart by that code, never by wording.
local function is_interrupt(err) return type(err) == "table" and rawget(err, "code") == "interrupted" end
M.is_interrupt = is_interrupt

--- The run's record cannot be written (disk full, I/O error, read-only
--- database, a lock held past the wait): the run stops rather than go on
--- unrecorded. The guard passes it on like Ctrl+C.
local RecordLost = {}
RecordLost.__index = RecordLost
RecordLost.__tostring = function(e) return e.message end
M.RecordLost = RecordLost

local METHODS = { "on_run_start", "on_resume", "on_status", "on_plan", "on_character", "on_keyframe",
  "on_script", "on_video", "on_charge", "on_activity", "on_complete", "on_error", "on_cancelled", "heartbeat",
  "cancel_requested" }
M.METHODS = METHODS

--- The interface: every method exists and does nothing. Subclass it.
local PipelineObserver = {}
PipelineObserver.__index = PipelineObserver
M.PipelineObserver = PipelineObserver

--- A new run for concept begins: returns its run id (0 when nothing records runs).
function PipelineObserver.on_run_start(_, _concept) return 0 end
--- An earlier run_id goes on (--resume): its record is reused, not made again.
function PipelineObserver.on_resume(_, _run_id) end
--- The run enters a step: status is one of the store's statuses ("characters", "keyframes", ...).
function PipelineObserver.on_status(_, _run_id, _status) end
--- The story plan is ready (planned, or given with --plan): a table in the plan format.
function PipelineObserver.on_plan(_, _run_id, _plan) end
--- A character sheet was accepted: asset = {name, path, score, attempts, ...}.
function PipelineObserver.on_character(_, _run_id, _asset) end
--- A scene's keyframe was accepted: asset = {scene_id, path, score, attempts, ...}.
function PipelineObserver.on_keyframe(_, _run_id, _asset) end
--- The storyboard (script.md) was written at script_path.
function PipelineObserver.on_script(_, _run_id, _script_path) end
--- A scene's clip was accepted: asset = {scene_id, path, score, attempts, ...}.
function PipelineObserver.on_video(_, _run_id, _asset) end
--- One billed request (or the settling of one), the moment its answer came:
--- {step, asset, endpoint, model, request_id, ticks, estimated, outcome,
--- detail, update}; 1 USD = 10^10 ticks.
function PipelineObserver.on_charge(_, _run_id, _charge) end
--- An attempt of a step begins a phase: {step, asset, attempt, phase} as the
--- steps report it (step "generate_scene_video", asset "scene 3", attempt 2,
--- phase "scoring"); the run page says what runs now from these.
function PipelineObserver.on_activity(_, _run_id, _activity) end
--- The run ended well: final_path is its final.mp4.
function PipelineObserver.on_complete(_, _run_id, _final_path) end
--- where (optional): what failed, {step=, scene_id=, character=, asset=} (see flow.lua).
function PipelineObserver.on_error(_, _run_id, _error, _where) end
--- by (optional): who asked, "dashboard" or "terminal".
function PipelineObserver.on_cancelled(_, _run_id, _reason, _by) end
--- Called while the run waits on work, at most every few seconds: the run is alive.
function PipelineObserver.heartbeat(_, _run_id) end
--- true when someone (the dashboard, another process) asked the run to stop.
function PipelineObserver.cancel_requested(_, _run_id) return false end

--- Makes a class whose instances fall back to PipelineObserver's no-ops.
function M.class()
  local cls = setmetatable({}, { __index = PipelineObserver })
  cls.__index = cls
  return cls
end

--- The default: run id 0, every call a no-op.
function M.NullObserver()
  return setmetatable({}, PipelineObserver)
end

local function default_warn(msg)
  io.stderr:write("warning: ", msg, "\n")
end

--- Wraps an observer so no method can raise: an error is logged and the call
--- returns nil (on_run_start returns 0, the "no run" id).
function M.guard(observer, warn)
  warn = warn or default_warn
  local guarded = {}
  for _, name in ipairs(METHODS) do
    guarded[name] = function(_, ...)
      local fn = observer[name]
      if type(fn) ~= "function" then return name == "on_run_start" and 0 or nil end
      local ok, res = xpcall(fn, debug.traceback, observer, ...)
      if not ok and getmetatable(res) == RecordLost then error(res, 0) end
      if not ok and is_interrupt(res) then
        error(res, 0) -- Ctrl+C is the flow's business, not a failed observer
      end
      if not ok then
        warn(("observer %s failed (the run goes on): %s"):format(name, tostring(res)))
        return name == "on_run_start" and 0 or nil
      end
      return res
    end
  end
  return guarded
end

-- The WebObserver ------------------------------------------------------------

local WebObserver = M.class()
M.WebObserverClass = WebObserver

-- The card's asset rows have a URL column (the provider's temporary result
-- URL); offline assets have none, so it is recorded as "".
local function with_url(asset, field)
  if asset[field] == nil then asset[field] = "" end
  return asset
end

-- A step's result carries its provider spend as `cost`; the asset rows call it
-- cost_usd. The run's cost is the ledger's (on_charge), not a sum of these.
local function asset_cost(asset)
  if asset and asset.cost_usd == nil then asset.cost_usd = asset.cost end
  return tonumber(asset and asset.cost_usd) or 0
end

--- WebObserver(conn, bus, opts): conn is a grokspicy.store connection, bus the
--- grokspicy.bus module or a bus object (nil: no live wake-ups, the store's
--- events table is still written). opts.provider names the renderer shown on
--- the run page; opts.render = false skips HTML fragments; opts.busy_wait is
--- how long (s, default 120) a write goes on retrying past the store's own
--- busy_timeout (10 s) while another process holds the database locked;
--- opts.output_dir is where runs are written: a new run's owner lock goes in
--- its folder there (without it the run is owned by pid and start time only).
function M.WebObserver(conn, bus, opts)
  opts = opts or {}
  local self = setmetatable({
    conn = conn, bus = bus, provider = opts.provider, render = opts.render ~= false, output_dir = opts.output_dir,
    view = nil, last_heartbeat = 0, warn = opts.warn or default_warn, busy_wait = opts.busy_wait or 120,
  }, WebObserver)
  if self.render then self.view = require "grokspicy.view" end
  return M.guard(self, opts.warn)
end

-- Once SQLite's own wait (busy_timeout, 10 s) has run out, each retry waits
-- at most this long inside SQLite before busy_wait is looked at again: a
-- whole busy_timeout per retry let a 3 s busy_wait last 20 s.
local SLICE_MS = 250

-- Runs fn (one store transaction) so that no event is lost in silence: a
-- write refused because another process holds the lock is tried again, in
-- slices, until busy_wait has passed (the whole wait: SQLite's busy_timeout,
-- then busy_wait, then at most one slice); one that cannot be made at all
-- raises RecordLost. A failed try rolled back, so trying again never writes twice.
function WebObserver:_write(what, fn)
  local sys = require "grokspicy.sys"
  local conn = self.conn
  local t_first = sys.monotonic()
  local since, base_ms
  local function restore() -- the connection's own wait, for the next write
    if base_ms then pcall(conn.busy_timeout, conn, base_ms) end
  end
  while true do
    local t_try = sys.monotonic()
    -- A store failure comes back as nil, message, code; anything else (Ctrl+C,
    -- a defect) is raised, after the connection's own wait is restored.
    local caught, ok, res, code = pcall(conn.try, conn, fn)
    if not caught then
      restore()
      error(ok, 0)
    end
    if ok then
      restore()
      if since then self.warn(("the database is free again: %s recorded after %.0f s"):format(what,
        sys.monotonic() - since + base_ms / 1000)) end
      return res
    end
    local locked = code == "busy"
    if locked then
      if not since then
        since = sys.monotonic() -- SQLite's own wait is over
        base_ms = conn:busy_timeout()
        self.warn(("the database is locked by another process; %s waits (up to %.0f s more)"):format(what,
          self.busy_wait))
      end
      local left = self.busy_wait - (sys.monotonic() - since)
      if left <= 0 then
        locked = false
      else
        conn:busy_timeout(math.max(1, math.min(SLICE_MS, math.ceil(left * 1000))))
      end
    end
    if not locked then -- every code store.try gives means the run cannot be recorded
      restore()
      local why = res:match("^.-:%d+: (.*)$") or res -- without the position luaL_error put first
      error(setmetatable({ message = ("cannot record the run (%s): %s%s"):format(what, why,
        since and (" (waited %.1f s)"):format(sys.monotonic() - t_first) or "")
      }, RecordLost), 0)
    end
    -- A refusal that came back at once (SQLite did not wait) must not spin.
    if sys.monotonic() - t_try < 0.01 then sys.sleep(0.02) end
  end
end

-- The writes in one short transaction; then the run as it now stands is read
-- and its fragments rendered, outside any transaction (no other process waits
-- on the write lock while templates render); then its events in a second
-- short transaction, this event included in what was rendered and stamped
-- with the time it is stored with: a page loaded later renders the same HTML.
-- A page loaded between the two shows the rows; the event still reaches its
-- stream (it starts after the events the page had). The bus is rung after the
-- commit so a woken stream always finds the rows. The list's row goes with
-- every record as a "run" event (it replaces the row by id), or as row_type
-- ("run-new": the run was just made; the list puts it on top; false: no row,
-- the record changes nothing the row shows).
function WebObserver:_record(run_id, kind, key, data, writes, row_type)
  local conn = self.conn
  if writes then self:_write(kind, function() return conn:transaction(writes) end) end
  local now = store.now()
  local run = self:_write(kind, function() return conn:get_run(run_id, { timeline = self.render }) end)
  local status = run and run.status
  local ev_data = data or { status = status }
  local row_html, html
  if self.render and run then
    run.timeline[#run.timeline + 1] = { type = kind, created_at = now, data = ev_data }
    -- Past runs' step times, for the page's estimate of the time left: read
    -- once per run (they do not change while it runs).
    if not self.history_read then
      self.history_read = true
      self.history = self:_write(kind, function()
        return require("grokspicy.timing").history(conn, run.provider, run_id)
      end)
    end
    run.history = self.history
    local model = self.view.run_model(run)
    if row_type ~= false then row_html = self.view.run_row(run, row_type == nil, model) end
    html = self.view.run_fragment(run, kind, key, model)
  end
  local id = self:_write(kind, function() return conn:transaction(function()
    if row_type ~= false then
      conn:append_event { run_id = run_id, type = row_type or "run", data = { status = status }, html = row_html,
        created_at = now }
    end
    return conn:append_event { run_id = run_id, type = kind, data = ev_data, html = html, created_at = now }
  end) end)
  if self.bus then
    -- A doorbell: the SSE server reads the rows from the store.
    self.bus.publish { type = kind, run_id = run_id, id = id }
  end
  return id
end

--- Inserts the run (status pending) and returns its id.
function WebObserver:on_run_start(concept)
  local run_id = self:_write("the new run", function() return self.conn:insert_run(concept) end)
  if self.output_dir then
    -- This process owns the run from now on: its lock is held until the run ends.
    local why
    local owned = self:_write("the run's owner", function()
      local ok, err = self.conn:own_run(run_id, require("grokspicy.resume").lock_path(self.output_dir, run_id))
      why = err
      return ok
    end)
    if not owned then
      error(setmetatable({ message = ("cannot own run %d: %s"):format(run_id, tostring(why)) }, RecordLost), 0)
    end
  end
  self:_record(run_id, "status", nil, { status = "pending" }, function(conn)
    if self.provider then conn:update_run(run_id, { provider = self.provider }) end
  end, "run-new")
  return run_id
end

-- A resumed run: the store has already made this process its owner (claim_run);
-- the dashboard hears that it goes on.
function WebObserver:on_resume(run_id)
  self:_record(run_id, "status", "resumed", { status = "pending", resumed = true }, function(conn)
    if self.provider then conn:update_run(run_id, { provider = self.provider }) end
  end)
end

--- Records the step the run entered; the page's badge and steps follow it.
function WebObserver:on_status(run_id, status)
  self:_record(run_id, "status", nil, { status = status }, function(conn)
    conn:update_run(run_id, { status = status })
  end)
end

--- Stores the plan (title, characters, scenes) and the page's storyboard skeleton.
function WebObserver:on_plan(run_id, plan)
  self:_record(run_id, "plan", nil, { title = plan.title }, function(conn)
    conn:update_run(run_id, { title = plan.title, style = plan.style, aspect_ratio = plan.aspect_ratio,
      color_palette = plan.color_palette, plan_json = plan })
    conn:insert_characters(run_id, plan.characters)
    conn:insert_scenes(run_id, plan.scenes)
  end)
end

-- Every attempt the step kept on disk ({path, score, action, issues, seconds,
-- ticks}), for the run page's attempt panel; nil when the step said nothing of them.
local function attempts_of(asset)
  local list = {}
  for _, a in ipairs(type(asset.attempts) == "table" and asset.attempts or {}) do
    if type(a) == "table" and type(a.path) == "string" then
      list[#list + 1] = { path = a.path, score = tonumber(a.score), action = a.action,
        issues = type(a.issues) == "string" and a.issues ~= "" and a.issues or nil,
        seconds = tonumber(a.seconds), ticks = math.tointeger(a.ticks) }
    end
  end
  return #list > 0 and list or nil
end

--- Records an accepted character sheet and swaps its card into the page.
function WebObserver:on_character(run_id, asset)
  self:_record(run_id, "character", asset.name, { name = asset.name, score = asset.consistency_score,
    attempts = attempts_of(asset) },
    function(conn)
      asset_cost(asset)
      conn:upsert_character_asset(run_id, with_url(asset, "portrait_url"))
    end)
end

--- Records an accepted keyframe and swaps its scene row's image.
function WebObserver:on_keyframe(run_id, asset)
  self:_record(run_id, "keyframe", asset.scene_id, { scene_id = asset.scene_id, score = asset.consistency_score,
    attempts = attempts_of(asset) },
    function(conn)
      asset_cost(asset)
      conn:upsert_keyframe_asset(run_id, with_url(asset, "keyframe_url"))
    end)
end

--- Records where script.md is; the page links it.
function WebObserver:on_script(run_id, script_path)
  self:_record(run_id, "script", nil, { script_path = script_path }, function(conn)
    conn:update_run(run_id, { script_path = script_path })
  end)
end

--- Records an accepted clip and swaps its scene row's video.
function WebObserver:on_video(run_id, asset)
  self:_record(run_id, "video", asset.scene_id, { scene_id = asset.scene_id, score = asset.consistency_score,
    attempts = attempts_of(asset) },
    function(conn)
      asset_cost(asset)
      conn:upsert_video_asset(run_id, with_url(asset, "video_url"))
    end)
end

-- What an attempt does now: the run page's "now" line and nothing else (no
-- list row: the row shows no activity).
function WebObserver:on_activity(run_id, act)
  if type(act) ~= "table" then return end
  self:_record(run_id, "activity", nil, { step = act.step, asset = act.asset, attempt = act.attempt,
    phase = act.phase }, nil, false)
end

-- The run ends in this process: after its last record (whatever became of
-- it) the owner lock goes, so a resume can claim it while this process lives on
-- (serving the dashboard, say).
local function ending(run_id, record)
  local ok, err = pcall(record)
  require("grokspicy.store").release_run(run_id)
  if not ok then error(err, 0) end
end

-- The ledger row (the run's cost is its sum) and the run page's cost lines.
function WebObserver:on_charge(run_id, charge)
  self:_record(run_id, "cost", charge.asset, { asset = charge.asset, step = charge.step, ticks = charge.ticks,
    outcome = charge.outcome, update = charge.update or nil }, function(conn)
    conn:record_charge(run_id, charge)
  end)
end

--- Marks the run complete with its final video and its end time.
function WebObserver:on_complete(run_id, final_path)
  ending(run_id, function()
    self:_record(run_id, "complete", nil, { final_video_path = final_path }, function(conn)
      conn:update_run(run_id, { status = "complete", final_video_path = final_path })
    end)
  end)
end

-- The event says what failed (where: the step, and the scene or character
-- whose asset it was), so the run page marks that step and that slot.
function WebObserver:on_error(run_id, err, where)
  local msg = tostring(err)
  local data = { error = msg }
  if type(where) == "table" then
    data.step, data.scene_id, data.character, data.asset = where.step, where.scene_id, where.character, where.asset
  end
  ending(run_id, function()
    self:_record(run_id, "error", nil, data, function(conn)
      conn:update_run(run_id, { status = "failed", error = msg })
    end)
  end)
end

-- Cancelled: every accepted asset stays. A stop someone asked for is not an
-- error: the reason and who asked go in the event, the run's error stays empty.
function WebObserver:on_cancelled(run_id, reason, by)
  local msg = tostring(reason or "cancelled")
  ending(run_id, function()
    self:_record(run_id, "cancelled", nil, { status = "cancelled", reason = msg, by = by }, function(conn)
      conn:update_run(run_id, { status = "cancelled" })
    end)
  end)
end

-- One indexed read of one column, at most every 0.25 s (the flow asks each loop turn).
function WebObserver:cancel_requested(run_id)
  local now = require("grokspicy.sys").monotonic()
  if self.cancel_seen then return true end
  if now - (self.last_cancel_check or -math.huge) < 0.25 then return false end
  self.last_cancel_check = now
  self.cancel_seen = self.conn:cancel_requested(run_id)
  return self.cancel_seen
end

-- At most one write every 5 s. The heartbeat no longer decides whether a run
-- lives (its owner lock does); it says when the run last moved.
function WebObserver:heartbeat(run_id)
  local now = os.time()
  if now - self.last_heartbeat >= 5 then
    self.last_heartbeat = now
    self:_write("heartbeat", function() return self.conn:heartbeat(run_id) end)
  end
end

return M
