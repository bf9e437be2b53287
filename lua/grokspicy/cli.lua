-- cli.lua — the product's command line around a pipeline function: options,
-- the store, the observers, the dashboard server, terminal progress and exit
-- codes (0 done, 1 the run failed and its error is recorded, 2 nothing ran: bad
-- usage, a configuration that cannot work (no xAI key, a key the API refuses, an
-- output folder or database that cannot be used, a dashboard that cannot start)
-- or a run that cannot be resumed, 130 the run was cancelled: Ctrl+C or the
-- dashboard). The pipeline itself lives in a flow script (scripts/flow.lua, or
-- any copy: cli.script makes it runnable under any name); the run's machinery
-- in grokspicy.flowkit. This module never decides what the steps do; it checks
-- the step options a user passes (--set, --config) against steps.defaults().
local M = {}
local providers = require "grokspicy.provider"

M.DEFAULT_PORT = 8420
M.DEFAULT_OUTPUT = "output"
M.MAX_CONCEPT_BYTES = 4000
M.MAX_TOKEN_BYTES = 1024 -- GS_HTTP_MAX_TOKEN: the cookie carries it percent-encoded

local USAGE = [[
usage: grok-spicy FLOW "concept" [options]
       grok-spicy FLOW --plan FILE.json [options]
       grok-spicy FLOW --resume RUN_ID [options]
       grok-spicy FLOW --fork RUN_ID --plan EDITED.json [options]
       grok-spicy --web [--port N] [--host H] [--output-dir DIR] [--db PATH] [--token T]

options:
  --plan FILE          use this story plan (JSON) instead of planning one
  --resume RUN_ID      go on with a failed, interrupted or cancelled run: its plan
                       and every accepted asset whose files are whole are kept
  --fork RUN_ID        a new run from RUN_ID's edited plan (--plan): what did not
                       change is reused from earlier runs, the rest made anew;
                       it takes RUN_ID's provider and reference images unless
                       given (--provider, --ref)
  --provider NAME      auto (default), local or xai; auto uses xai when XAI_API_KEY
                       or GROK_API_KEY is set and the local preview renderer otherwise
  --output-dir DIR     where runs are written (default: output)
  --db PATH            the run database (default: <output-dir>/grok_spicy.db)
  --seed N             seed of the local preview renderer (default: 1)
  --budget USD         stop the run (failed, resumable) before a request whose
                       list price would take its spending past USD
  --ref NAME=PATH      a reference image (PNG, JPEG or WebP, at most 10 MiB) of
                       the character NAME: its sheet is drawn from it (repeatable)
  --no-voice           local preview: captions only, no spoken narration
  --no-cache           make every asset anew: reuse nothing an earlier run
                       made from the same inputs (they are still recorded)
  --scenes N           scenes to plan (default: 3; at most 12, or
                       GROK_SPICY_MAX_SCENES)
  --workers N          parallel steps (default: the number of cores)
  --set NAME=VALUE     a step option (repeatable), a key of steps.defaults():
                       --set keyframe_threshold=0.85 (or keyframe.threshold),
                       --set templates.keyframe="{style}. {setting}. ..."
  --config FILE        a Lua file returning a table of step options, e.g.
                       return { video_threshold = 0.7, templates = { ... } };
                       --set wins over it
  --serve              serve the live dashboard while the run goes on
  --port N             dashboard port (default: 8420; 0 picks a free one)
  --host H             dashboard address, an IP or a name (default: 127.0.0.1;
                       other than loopback needs a token)
  --token T            dashboard access token (or GROK_SPICY_TOKEN)
  --no-wait            with --serve: exit when the run ends instead of serving on
  --max-runs N         runs started from the dashboard that may run at once
                       (default: 2); the others wait in the queue
  -q, --quiet          only errors and the final line
  -v, --verbose        every attempt and score
  -h, --help           this help
]]
M.DEFAULT_FLOW = "scripts/flow.lua"
M.USAGE = USAGE:gsub("FLOW", M.DEFAULT_FLOW)

--- The help text as a flow script called `script` shows it.
function M.usage(script)
  return (USAGE:gsub("FLOW", (tostring(script or M.DEFAULT_FLOW):gsub("%%", "%%%%"))))
end

local function usage_error(msg)
  return nil, msg .. "\n(see --help)"
end

local VALUE_OPTS = {
  ["--plan"] = "plan", ["--provider"] = "provider", ["--output-dir"] = "output_dir", ["--db"] = "db",
  ["--seed"] = "seed", ["--scenes"] = "scenes", ["--workers"] = "workers", ["--port"] = "port",
  ["--host"] = "host", ["--token"] = "token", ["--resume"] = "resume", ["--config"] = "config",
  ["--budget"] = "budget", ["--max-runs"] = "max_runs", ["--fork"] = "fork",
}
-- Options that may be given several times: every value is kept, in order.
local LIST_OPTS = { ["--set"] = "set", ["--ref"] = "ref" }
local FLAG_OPTS = {
  ["--serve"] = "serve", ["--no-wait"] = "no_wait", ["-q"] = "quiet", ["--quiet"] = "quiet",
  ["-v"] = "verbose", ["--verbose"] = "verbose", ["--web"] = "web", ["--no-voice"] = "no_voice",
  ["--no-cache"] = "no_cache",
}
-- --scenes goes up to what a plan may hold (grokspicy.plan's maximum).
local INTEGER_OPTS = { seed = { 0, math.maxinteger }, scenes = { 1, "max_scenes" }, workers = { 1, 64 },
  port = { 0, 65535 }, resume = { 1, math.maxinteger }, max_runs = { 1, 64 }, fork = { 1, math.maxinteger } }

--- Parses flow options. Returns opts, or nil and a usage message.
function M.parse(args)
  local o = { provider = "auto", output_dir = M.DEFAULT_OUTPUT, seed = 1, scenes = 3, port = M.DEFAULT_PORT,
    host = "127.0.0.1", max_runs = 2, given = {} }
  local positional = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local key, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    key = key or a
    if key == "-h" or key == "--help" then
      o.help = true
    elseif VALUE_OPTS[key] then
      local v = inline
      if not v then
        i = i + 1
        v = args[i]
      end
      if v == nil then return usage_error(key .. " needs a value") end
      o[VALUE_OPTS[key]] = v
      o.given[VALUE_OPTS[key]] = true
    elseif LIST_OPTS[key] then
      local v = inline
      if not v then
        i = i + 1
        v = args[i]
      end
      if v == nil then return usage_error(key .. " needs a value") end
      local list = o[LIST_OPTS[key]] or {}
      list[#list + 1] = v
      o[LIST_OPTS[key]] = list
    elseif FLAG_OPTS[key] and not inline then
      o[FLAG_OPTS[key]] = true
      o.given[FLAG_OPTS[key]] = true
    elseif a == "--" then
      for j = i + 1, #args do positional[#positional + 1] = args[j] end
      break
    elseif a:sub(1, 1) == "-" and #a > 1 then
      return usage_error("unknown option '" .. a .. "'")
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  if o.help then return o end
  local max_scenes, counts_err = require("grokspicy.plan").max_counts()
  if not max_scenes then return usage_error(counts_err) end
  for key, range in pairs(INTEGER_OPTS) do
    local v = o[key]
    local hi = range[2] == "max_scenes" and max_scenes or range[2]
    if type(v) == "string" then
      local n = math.tointeger(tonumber(v))
      if not n or n < range[1] or n > hi then
        return usage_error(("--%s must be a whole number %d..%d, got '%s'"):format(key, range[1], hi, v))
      end
      o[key] = n
    end
  end
  if o.budget ~= nil then
    local ok, berr = M.check_budget(o.budget)
    if not ok then return usage_error("--budget " .. berr) end
    o.budget = ok
  end
  if o.ref then
    if o.resume then return usage_error("--resume keeps the run's reference images: give no --ref") end
    local _, max_characters = require("grokspicy.plan").max_counts()
    local refs, rerr = require("grokspicy.refs").from_args(o.ref, max_characters)
    if not refs then return usage_error(rerr) end
    o.refs = refs
  end
  if not ({ auto = true, ["local"] = true, xai = true })[o.provider] then
    return usage_error("--provider must be auto, local or xai, got '" .. tostring(o.provider) .. "'")
  end
  if #positional > 1 then
    return usage_error("one concept expected, got " .. #positional .. " arguments (quote the concept)")
  end
  o.concept = positional[1]
  if o.resume and (o.concept or o.plan) then
    return usage_error("--resume continues a recorded run: give no concept and no --plan")
  end
  if o.fork and (o.resume or o.concept or not o.plan) then
    return usage_error("--fork RUN_ID takes the edited plan: give --plan FILE, and no concept or --resume")
  end
  if not o.web and not o.resume then
    if not o.concept and not o.plan then return usage_error("a concept or --plan FILE is required") end
    if o.concept then
      if o.concept:match("^%s*$") then return usage_error("the concept is empty") end
      if #o.concept > M.MAX_CONCEPT_BYTES then
        return usage_error(("the concept is too long (%d bytes, at most %d): put a long story in a --plan file")
          :format(#o.concept, M.MAX_CONCEPT_BYTES))
      end
      if not utf8.len(o.concept) then return usage_error("the concept is not valid UTF-8") end
    end
  end
  o.token = o.token or os.getenv("GROK_SPICY_TOKEN")
  if o.token == "" then o.token = nil end
  if o.serve or o.web then
    if o.token and #o.token > M.MAX_TOKEN_BYTES then
      return usage_error(("the token is too long (%d bytes, at most %d)"):format(#o.token, M.MAX_TOKEN_BYTES))
    end
    -- A name is resolved as the server will bind it; loopback is judged on the address.
    local addr, rerr = require("grokspicy.http").resolve(o.host)
    if not addr then return usage_error("--host: " .. rerr) end
    local loopback = addr:match("^127%.%d+%.%d+%.%d+$") or addr == "::1"
    if not loopback and not o.token then
      return usage_error("--host " .. o.host .. " is reachable from other machines: set --token or GROK_SPICY_TOKEN")
    end
  end
  if o.web and (o.set or o.config) then
    return usage_error("--set and --config change a flow's steps: give them to a flow script, not --web")
  end
  if o.set or o.config then
    local step_options, serr = require("grokspicy.steps").options_from(o.config, o.set)
    if not step_options then return usage_error(serr) end
    o.step_options = step_options
  end
  o.db = o.db or (o.output_dir .. "/grok_spicy.db")
  return o
end

-- Step options ------------------------------------------------------------------

--- A resumed run's options: what its first start recorded (`kept`, from
--- runs/N/request.json) where the command line gives nothing, and its step
--- options under the ones given now, key by key. Returns o, and a warning when
--- the recorded step options no longer check (they are then left out).
function M.with_kept(o, kept)
  for _, key in ipairs { "seed", "workers", "budget" } do
    if not o.given[key] and type(kept[key]) == "number" then
      o[key] = key == "budget" and kept[key] or math.tointeger(kept[key]) or o[key]
    end
  end
  if not o.given.no_voice and kept.no_voice == true then o.no_voice = true end
  if not o.given.no_cache and kept.no_cache == true then o.no_cache = true end
  if type(kept.step_options) == "table" then
    local steps = require "grokspicy.steps"
    local valid, verr = steps.check_options(kept.step_options)
    if not valid then return o, "the run's recorded step options are left out: " .. verr end
    o.step_options = steps.merge_options(kept.step_options, o.step_options)
  end
  return o
end

M.MAX_BUDGET_USD = 1000000

--- A value as a message quotes it: a whole number read from JSON (a float
--- there) without its ".0", so "got '99'" says what was sent.
function M.shown(v)
  return tostring(type(v) == "number" and math.tointeger(v) or v)
end

--- A budget in USD as given (text or number): the number, or nil and why.
function M.check_budget(v)
  local n = tonumber(v)
  if not n or n ~= n or n <= 0 or n > M.MAX_BUDGET_USD then
    return nil, ("must be an amount in USD above 0 and at most %d, got '%s'"):format(M.MAX_BUDGET_USD, M.shown(v))
  end
  return n
end

--- ensure_dir(path) -> true | nil, why: folders the run writes must exist and be
--- writable before anything starts (made when missing, probed with a write).
local function ensure_dir(path)
  local made, reason = require("grokspicy.sys").mkdir_p(path)
  if not made then return nil, ("cannot create the output folder %s (%s)"):format(path, reason) end
  local probe = path .. "/.grok-spicy-write-test"
  local f, why = io.open(probe, "w")
  if not f then
    -- io.open's message ends with the cause (Read-only file system, Permission denied...).
    return nil, ("the output folder %s is not writable (%s)"):format(path, tostring(why):match(": ([^:]+)$") or why)
  end
  f:close()
  os.remove(probe)
  return true
end
M.ensure_dir = ensure_dir

local function fail(msg)
  io.stderr:write("grok-spicy: ", msg, "\n")
end

-- The options, or nil and the exit code: 2 after a usage error, 0 after --help
-- (which names the flow script being run).
local function options(args, script)
  local o, err = M.parse(args)
  if not o then
    fail(err)
    return nil, 2
  end
  if o.help then
    io.stdout:write(M.usage(script))
    return nil, 0
  end
  return o
end

-- The output folder and the store, ready; runs whose process is gone are
-- marked interrupted first. Returns conn and that count, or nil and a message.
local function open_store(o)
  local ok, err = ensure_dir(o.output_dir)
  if not ok then return nil, err end
  local conn, cerr = require("grokspicy.store").init_db(o.db)
  if not conn then return nil, cerr end
  return conn, conn:mark_interrupted()
end

-- The page of a run on a server, with the token query the server URL carries.
local function run_url(server, run_id)
  local url = server:url()
  local query = url:match("%?.*$") or ""
  local base = url:gsub("%?.*$", ""):gsub("/$", "")
  return ("%s/run/%d%s"):format(base, run_id, query)
end

local function readable(path)
  local f = path and io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p and p:read("l")
  if p then p:close() end
  return cwd and (cwd .. "/" .. path) or path
end

--- The flow a dashboard's Resume button runs: $GROK_SPICY_FLOW, else the flow
--- this process runs (set by main), else scripts/flow.lua beside the binary's
--- source tree ($GROK_SPICY_SOURCE_DIR, <exe>/../scripts: a build dir inside the
--- tree) or the installed copy (<exe>/../share/grok-spicy/scripts). nil: none.
function M.locate_flow()
  local env = os.getenv("GROK_SPICY_FLOW")
  if env and env ~= "" then return absolute(env) end
  local candidates = {}
  local src = os.getenv("GROK_SPICY_SOURCE_DIR")
  if src and src ~= "" then candidates[#candidates + 1] = src .. "/scripts/flow.lua" end
  local exe = require("grokspicy.sys").exe_path()
  local dir = exe and exe:match("^(.*)/[^/]+$")
  if dir then
    candidates[#candidates + 1] = dir .. "/../scripts/flow.lua"
    candidates[#candidates + 1] = dir .. "/../share/grok-spicy/scripts/flow.lua"
  end
  for _, c in ipairs(candidates) do
    if readable(c) then return absolute(c) end
  end
  return nil
end

--- Starts the dashboard server for an output dir and DB. Returns the server.
function M.start_server(o)
  local http = require "grokspicy.http"
  local server, err = http.serve { host = o.host, port = o.port, app = "grokspicy.web", output_dir = o.output_dir,
    db = o.db, token = o.token, flow_script = o.flow_script or M.locate_flow() }
  if not server then error(err, 0) end -- serve returns nil, err; callers pcall this
  return server
end

-- Serving also starts the runs the dashboard queued (grokspicy.queue).
local function serve_until_interrupted(server, o)
  local ok, err = pcall(require("grokspicy.queue").serve, server, o, fail)
  if not ok and not require("grokspicy.flowkit").is_interrupt(err) then
    fail(tostring(err))
  end
  server:stop()
end

--- `grok-spicy --web ...`: serve the dashboard only.
function M.web_main(...)
  local o, code = options { "--web", ... }
  if not o then return code end
  local conn, n = open_store(o)
  if not conn then
    fail(n)
    return 1
  end
  conn:close()
  local okserve, server = pcall(M.start_server, o)
  if not okserve then
    fail("cannot start the dashboard: " .. tostring(server))
    return 1
  end
  print(("Dashboard: %s  (runs in %s%s) — Ctrl+C to stop"):format(server:url(), o.db,
    n > 0 and (", " .. n .. " interrupted run" .. (n == 1 and "" or "s") .. " marked") or ""))
  io.stdout:flush()
  serve_until_interrupted(server, o)
  return 0
end

--- `grok-spicy scripts/flow.lua ...`: runs pipeline(concept, observer, ctx_opts).
--- script: the flow script's name, for --help.
function M.main(args, pipeline, script)
  local o, exit_code = options(args, script)
  if not o then return exit_code end
  if o.web then
    fail("--web serves the dashboard only: run it as `grok-spicy --web`, not with a flow script\n(see --help)")
    return 2
  end
  local progress = require("grokspicy.progress").new { quiet = o.quiet, verbose = o.verbose }

  -- The flow script this process runs: the one a Resume button goes on with.
  script = script or (rawget(_G, "arg") and _G.arg[0])
  if type(script) == "string" and script:match("%.lua$") and readable(script) then o.flow_script = absolute(script) end

  local plan
  if o.plan then
    local planlib = require "grokspicy.plan"
    local perr
    plan, perr = planlib.load(o.plan)
    if not plan then
      fail(perr)
      return 2
    end
    local stray = o.refs and require("grokspicy.refs").unmatched(o.refs, plan) or {}
    if #stray > 0 then
      fail(("--ref %s: the plan has no character of that name"):format(table.concat(stray, ", ")))
      return 2
    end
  end
  local conn, cerr = open_store(o)
  if not conn then
    fail(cerr)
    return 2
  end
  -- --fork: the parent must exist; the fork takes its provider, reference
  -- images, seed, voice and step options unless given, so what did not change keys (and is reused) the same.
  if o.fork then
    local parent = conn:get_run(o.fork)
    if not parent then
      fail(("cannot fork: run %d not found"):format(o.fork))
      conn:close()
      return 2
    end
    local inherited = require("grokspicy.fork").inherit(o.output_dir, parent, plan)
    if o.provider == "auto" and inherited.provider then o.provider = inherited.provider end
    if not o.refs and #inherited.refs > 0 then o.refs = inherited.refs end
    -- Its seed, voice and step options too, unless given (a --set wins key by key).
    o = M.with_kept(o, { seed = inherited.seed, no_voice = inherited.no_voice, step_options = inherited.step_options })
  end
  -- The steps judge their options' ranges (a threshold in 0..1): asked before
  -- a run is recorded, so a bad value stops here like a bad flag.
  if o.step_options then
    local okopts, oerr = pcall(function()
      require("grokspicy.steps").context({ provider = "local", workers = 1, output_dir = o.output_dir,
        options = o.step_options }):close()
    end)
    if not okopts then
      fail(tostring(oerr):gsub("^steps%.context: options%.", "step option ") .. "\n(see --help)")
      conn:close()
      return 2
    end
  end

  -- The provider's key before anything else: a missing or rejected key stops
  -- here (exit 2), before a run is recorded or claimed, or anything is paid for.
  -- A resumed run goes on with its own provider unless one is named.
  local provider_name = o.provider
  if o.resume and provider_name == "auto" then
    local before = conn:get_run(o.resume)
    provider_name = before and before.provider or provider_name
  end
  local provider, why = providers.pick(provider_name)
  if provider == "xai" then
    local okkey, kerr = require("grokspicy.xai").check()
    if not okkey then
      fail(kerr .. "; nothing was run")
      conn:close()
      return 2
    end
  end

  -- The dashboard first: a run is only claimed or started once it is up.
  local server
  if o.serve then
    local okserve, s = pcall(M.start_server, o)
    if not okserve then
      fail("cannot start the dashboard: " .. tostring(s))
      conn:close()
      return 2
    end
    server = s
  end

  -- --resume: refuse clearly, or become the run's owner before anything else
  -- (or adopt the claim a dashboard made for this process and handed over).
  local resumed
  if o.resume then
    local resume = require "grokspicy.resume"
    local rerr
    local fd_text = os.getenv(resume.OWNER_FD_ENV)
    local owner_fd = fd_text and fd_text ~= "" and math.tointeger(tonumber(fd_text)) or nil
    if fd_text and fd_text ~= "" and not owner_fd then
      rerr = ("%s must be a descriptor number, got '%s'"):format(resume.OWNER_FD_ENV, fd_text)
    else
      resumed, rerr = resume.claim(conn, o.resume, o.output_dir, owner_fd)
    end
    if not resumed then
      fail("cannot resume: " .. rerr)
      if server then server:stop() end
      conn:close()
      return 2
    end
    progress:info(("Resuming run %d: keeping %d character sheet%s, %d keyframe%s, %d clip%s"):format(o.resume,
      resumed.counts.sheets, resumed.counts.sheets == 1 and "" or "s", resumed.counts.keyframes,
      resumed.counts.keyframes == 1 and "" or "s", resumed.counts.videos, resumed.counts.videos == 1 and "" or "s"))
    local kwarn
    o, kwarn = M.with_kept(o, require("grokspicy.queue").request_of(o.output_dir, o.resume))
    if kwarn then progress:warn(kwarn) end
    local jobs = resumed.counts.pending_videos or 0
    if jobs > 0 then
      progress:info(("%d video job%s paid for before will be polled, not created again"):format(jobs,
        jobs == 1 and "" or "s"))
    end
  end

  local observer_lib = require "grokspicy.observer"
  local observer = observer_lib.WebObserver(conn, require "grokspicy.bus", {
    provider = provider,
    warn = function(msg) progress:warn(msg) end,
    -- Extra seconds a write waits on a database another process holds locked.
    busy_wait = tonumber(os.getenv("GS_DB_BUSY_WAIT") or ""),
    output_dir = o.output_dir,
  })
  progress:info(("Provider: %s%s"):format(providers.label(provider), why and (" — " .. why) or ""))
  if server then
    progress:always("Dashboard: " .. server:url())
  end

  local current_run
  local concept = resumed and resumed.concept or o.concept or (plan and plan.title) or ""
  local ok, result = pcall(pipeline, concept, observer, {
    provider = provider, seed = o.seed, output_dir = o.output_dir, scenes = o.scenes, workers = o.workers,
    voice = not o.no_voice, plan = plan, step_options = o.step_options, resume = resumed, progress = progress,
    refs = o.refs, budget = o.budget, spent = resumed and (conn:get_run(o.resume) or {}).cost_usd or 0,
    cache_db = conn, no_cache = o.no_cache,
    on_run = function(run_id)
      current_run = run_id
      if o.fork then conn:update_run(run_id, { parent_id = o.fork }) end
      -- A new run records its settings, so a resume (here or from the dashboard) keeps them.
      if not resumed then
        local okrec, rerr = require("grokspicy.queue").record_request(o.output_dir, run_id, {
          provider = provider, seed = o.seed, scenes = o.scenes, budget = o.budget, workers = o.workers,
          no_voice = o.no_voice or nil, no_cache = o.no_cache or nil, step_options = o.step_options })
        if not okrec then progress:warn("cannot record the run's settings: " .. tostring(rerr)) end
      end
      if server then progress:always(("Run %d: %s"):format(run_id, run_url(server, run_id))) end
    end,
  })
  progress:finish()
  local cancelled = not ok and type(result) == "table" and result.cancelled
  local code = (ok and result) and 0 or cancelled and 130 or 1
  if server and not o.no_wait and not cancelled then
    progress:always("Dashboard still running at " .. server:url() .. " — Ctrl+C to stop")
  end
  local run = current_run and conn:get_run(current_run)
  if run then progress:always(("Cost: $%.4f (%s)"):format(run.cost_usd or 0, providers.label(provider))) end
  -- "Done: <final.mp4>" is the last line, for people and for scripts.
  if code == 0 then
    progress:always("Done: " .. result)
  elseif cancelled then
    progress:error(("Run %s cancelled (%s); every accepted asset is kept: resume it with --resume %s")
      :format(tostring(current_run), tostring(result.message), tostring(current_run)))
  else
    progress:error("Run failed: " .. tostring(result))
  end
  if server then
    if o.no_wait or cancelled then -- after Ctrl+C the user wants the terminal back
      server:stop()
    else
      serve_until_interrupted(server, o)
    end
  end
  conn:close()
  return code
end

--- The last line of a flow script: `return require("grokspicy.cli").script(pipeline)`.
--- Run as the host's script (under any file name) it runs the command line
--- around pipeline and exits with its code; loaded any other way (require,
--- dofile from another flow) it returns pipeline.
function M.script(pipeline)
  if type(pipeline) ~= "function" then error("cli.script: the pipeline must be a function", 2) end
  local main = rawget(_G, "arg")
  local name = type(main) == "table" and main[0]
  -- Where the pipeline was written (a tail call hides the calling chunk).
  local source = debug.getinfo(pipeline, "S").source
  if type(name) == "string" and source == "@" .. name then
    os.exit(M.main(main, pipeline, name))
  end
  return pipeline
end

return M
