-- queue.lua — runs started from the dashboard: they wait in the database
-- (status `queued`, in id order) and the serving process starts them, each as
-- its own `grok-spicy FLOW --resume N` process, at most max_runs at once.
-- A queued run is a row and a folder: runs/N/request.json (what was asked:
-- provider, seed, scenes, budget; a run started from the command line records
-- its settings there too, for its resumes), runs/N/refs (its reference images) and,
-- for a given plan, the run's plan_json. Starting it is a claim, as the
-- dashboard's Resume makes one (atomic: two servers never start one run
-- twice); the claim's lock is handed to the new process as its fd 3.
-- Nothing is kept in memory: a server that restarts starts what is still
-- queued, and a run cancelled while queued is marked cancelled and never starts.
local cjson = require "cjson"
local vocab = require "grokspicy.vocab"

local M = {}

M.DEFAULT_MAX_RUNS = 2
M.REQUEST_FILE = "request.json"
M.TICK_S = 0.5 -- how often the serving process looks for a free slot

local function run_dir(output_dir, id) return ("%s/runs/%d"):format(output_dir, id) end

local function write_file(path, text)
  local f, why = io.open(path, "wb")
  if not f then return nil, why end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then return nil, werr or cerr end
  return true
end

--- Queues a run. req = {concept=, plan= (validated table or nil), provider=
--- (a name, not "auto"), seed=, scenes=, budget= (or nil), refs= (list from
--- grokspicy.refs, or nil), parent_id= (a fork's parent run, or nil), step_options=,
--- no_voice= (recorded for the run's start, as a command-line run records its own)}.
--- Returns the run id, or nil and a message (nothing is left queued then).
function M.enqueue(db, output_dir, req)
  local concept = req.concept or (req.plan and req.plan.title) or ""
  local id
  local ok, err = pcall(function()
    db:transaction(function()
      id = db:insert_run(concept)
      local fields = { status = "queued", provider = req.provider, parent_id = req.parent_id }
      if req.plan then
        fields.plan_json = req.plan
        fields.title, fields.style = req.plan.title, req.plan.style
        fields.aspect_ratio, fields.color_palette = req.plan.aspect_ratio, req.plan.color_palette
      end
      db:update_run(id, fields)
    end)
  end)
  if not ok then return nil, "cannot queue the run: " .. tostring(err) end
  -- The folder before the run can start: a claim needs it (its lock lives there).
  local function undo(msg)
    db:update_run(id, { status = "failed", error = msg })
    return nil, msg
  end
  local dir = run_dir(output_dir, id)
  local dok, derr = require("grokspicy.cli").ensure_dir(dir)
  if not dok then return undo(derr) end
  if req.refs and #req.refs > 0 then
    local saved, rerr = require("grokspicy.refs").save(output_dir, ("runs/%d"):format(id), req.refs)
    if not saved then return undo(rerr) end
  end
  local wok, werr = write_file(dir .. "/" .. M.REQUEST_FILE, cjson.encode {
    provider = req.provider, seed = req.seed, scenes = req.scenes, budget = req.budget,
    step_options = req.step_options, no_voice = req.no_voice,
  })
  if not wok then return undo("cannot write the run's request: " .. tostring(werr)) end
  return id
end

--- Records what a run was started with (runs/N/request.json: provider, seed,
--- scenes, budget, workers, no_voice, no_cache, step_options), written whole or not at
--- all, so a later --resume or Resume button goes on with the same settings.
--- Returns true, or nil and a message.
function M.record_request(output_dir, id, req)
  local made, merr = require("grokspicy.sys").mkdir_p(run_dir(output_dir, id))
  if not made then return nil, merr end
  local path = run_dir(output_dir, id) .. "/" .. M.REQUEST_FILE
  local ok, why = write_file(path .. ".part", cjson.encode(req))
  if not ok then
    os.remove(path .. ".part")
    return nil, why
  end
  return os.rename(path .. ".part", path)
end

--- What a queued run asked for ({} when the file is gone or unreadable).
function M.request_of(output_dir, id)
  local f = io.open(run_dir(output_dir, id) .. "/" .. M.REQUEST_FILE, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local ok, t = pcall(cjson.decode, text)
  return ok and type(t) == "table" and t or {}
end

--- The queued runs, oldest first: { {id=, place=}... } (place 1 starts next).
function M.waiting(db)
  local rows = db:list_runs { status = "queued", limit = 100000 }
  table.sort(rows, function(a, b) return a.id < b.id end)
  local out = {}
  for i, r in ipairs(rows) do out[i] = { id = r.id, place = i } end
  return out
end

--- run id -> its place in the queue (1 starts next).
function M.places(db)
  local places = {}
  for _, w in ipairs(M.waiting(db)) do places[w.id] = w.place end
  return places
end

--- Cancels run id if it is still queued (in one transaction with the check:
--- a run the queue just started is left to the usual cancel). Returns true
--- when it was queued and is cancelled now.
function M.cancel(db, id)
  local was_queued = false
  db:transaction(function()
    local run = db:get_run(id)
    if run and run.status == "queued" then
      db:update_run(id, { status = "cancelled" })
      was_queued = true
    end
  end)
  if was_queued then -- the event the run page and the list hear it by
    require("grokspicy.observer").WebObserver(db, require "grokspicy.bus", { busy_wait = 5 })
      :on_cancelled(id, "cancelled from the dashboard while queued", "dashboard")
  end
  return was_queued
end

--- How many runs have a process working on them.
function M.running_count(db)
  local n = 0
  for s in pairs(vocab.running) do n = n + db:count_runs { status = s } end
  return n
end

-- Numbers as the CLI reads them back (no exponent, no trailing noise).
local function num_arg(v)
  if math.type(v) == "integer" then return tostring(v) end
  return ("%.10g"):format(v)
end

--- Starts queued run id: claims it and spawns the flow with its request.
--- conf = {output_dir=, db=, flow_script=}. Returns the pid, or nil and why.
function M.start(db, conf, id)
  local resume = require "grokspicy.resume"
  local store_lib = require "grokspicy.store"
  local sys = require "grokspicy.sys"
  local exe, xerr = sys.exe_path()
  if not exe then return nil, xerr end
  local out_dir = conf.output_dir or "output"
  local ok, why = resume.take(db, id, out_dir)
  if not ok then return nil, why end
  local req = M.request_of(out_dir, id)
  local argv = { exe, conf.flow_script, "--resume", tostring(id), "--output-dir", out_dir, "-q" }
  local function add(...) for _, a in ipairs { ... } do argv[#argv + 1] = a end end
  if conf.db then add("--db", conf.db) end
  if type(req.provider) == "string" then add("--provider", req.provider) end
  if math.tointeger(req.seed) then add("--seed", num_arg(math.tointeger(req.seed))) end
  if math.tointeger(req.scenes) then add("--scenes", num_arg(math.tointeger(req.scenes))) end
  if type(req.budget) == "number" then add("--budget", num_arg(req.budget)) end
  local pid, err = sys.spawn_detached(argv, run_dir(out_dir, id) .. "/run.log",
    { fd = store_lib.owner_fd(id), env = { [resume.OWNER_FD_ENV] = "3" } })
  store_lib.release_run(id)
  if not pid then
    db:update_run(id, { status = "failed", error = "the run could not start: " .. tostring(err) })
    return nil, err
  end
  return pid
end

--- Starts queued runs, oldest first, while fewer than max_runs run. Returns
--- how many it started; a run that cannot start is marked failed with why.
function M.dispatch(db, conf, max_runs, warn)
  local started = 0
  local free = (max_runs or M.DEFAULT_MAX_RUNS) - M.running_count(db)
  for _, w in ipairs(M.waiting(db)) do
    if free <= 0 then break end
    local pid, err = M.start(db, conf, w.id)
    if pid then
      started, free = started + 1, free - 1
    elseif warn then
      warn(("queued run %d did not start: %s"):format(w.id, tostring(err)))
    end
  end
  return started
end

--- Serves until the server stops (or an interrupt is raised), starting queued
--- runs as slots free up. o = {output_dir=, db=, flow_script=, max_runs=}.
function M.serve(server, o, warn)
  local conn = assert(require("grokspicy.store").init_db(o.db))
  local conf = { output_dir = o.output_dir, db = o.db,
    flow_script = o.flow_script or require("grokspicy.cli").locate_flow() }
  local ok, err = pcall(function()
    repeat
      if conf.flow_script then
        local dok, derr = pcall(M.dispatch, conn, conf, o.max_runs, warn)
        if not dok then
          if require("grokspicy.flowkit").is_interrupt(derr) then error(derr, 0) end
          if warn then warn("the queue: " .. tostring(derr)) end
        end
      end
    until server:wait(M.TICK_S)
  end)
  conn:close()
  if not ok then error(err, 0) end
end

return M
