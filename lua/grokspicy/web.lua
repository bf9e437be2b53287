-- grokspicy.web: the dashboard's pages and JSON API, run by grokspicy.http in Lua
-- states the server owns (one per worker thread). Reads the store, renders the
-- templates through grokspicy.view; never serves files or SSE (C does that).
-- Pages and the JSON API only read: the store marks runs whose process died
-- (the server's sweeper every few seconds, and inside a cancel or a claim).
--
-- Routes (GET and HEAD, except the two POST actions; anything else is 405 with an Allow header):
--   /                 run list: ?page=N (1..), ?status=S (one of view.STATUSES, or "running":
--                     every run not ended), ?q=text
--   /run/{id}         one run page; 404 page when missing
--   /run/{id}/script  the run's script.md rendered as a storyboard page (404 before it exists)
--   /run/{id}/attempts?asset=KEY  the body of one asset's attempts panel (HTML; KEY as view's
--                     panels name it: character:NAME, scene:N:keyframe, scene:N:clip); 400, 404
--   /compare?a=7&b=9  two runs side by side (grokspicy.compare); 400 page for a missing or bad
--                     id (or a == b), 404 page for an unknown run
--   /api              a page (HTML) that lists the JSON routes
--   /api/runs         JSON array: ?limit= (default 50, max 500), ?offset=, ?status= (as for /);
--                     each run's thumb is its first keyframe's path (or its last final frame)
--   /api/runs/{id}    JSON: the nested run of store get_run (plan_json an object), plus what its events say:
--                     active_seconds, wall_seconds, steps [{key, label, state}] and
--                     stop {kind, at, reason, by, step, scene_id, character, asset}
--                     for a run that stopped short; 404 {"error":"run 7 not found"}
--   /api/runs/{id}/bundle  a zip of the run's files (grokspicy.bundle says which), streamed by C;
--                     ?attempts=1 adds every attempt; 404 unknown run, 410 its folder is gone
--   /health           {"status":"ok"}
--   /new              the form that starts a run (grokspicy.newrun)
--   POST /api/runs    queues a run (grokspicy.newrun checks it, grokspicy.queue keeps it):
--                     202 {"id", "url"}, 400 {"error", "errors": {field: message}}
--   POST /api/runs/{id}/cancel  asks a running run to stop (runs.cancel_requested; its
--                     process stops at the next safe point), or cancels a queued one at
--                     once: 202, 404, 409 not running
--   POST /api/runs/{id}/resume  claims the run (atomically: one of many simultaneous
--                     requests wins), then starts `grok-spicy FLOW --resume id` detached,
--                     handing it the claim: 202, 404, 409 (complete, still running,
--                     already resumed), 410 (its folder was deleted), 501 (no flow script)
--   POST /api/runs/{id}/fork  queues a re-render of the run from {"plan": {...}} (and the
--                     optional fields of POST /api/runs): 202 {"id", "url", "parent_id"};
--                     ?dry_run=1: 200 {remake, reuse, cost_usd, provider}, nothing created;
--                     400 naming the field, 404 unknown run (grokspicy.fork)
--   Cancel and resume answer JSON, or for htmx (HX-Request) the fragment the button swaps in, and
--   refuse cross-site requests with 403: they need HX-Request: true, or a same-origin
--   Origin / Sec-Fetch-Site (a cross-site form cannot set either). The token, when
--   the server has one, is checked in C before any route.
-- Bad numbers or ids give 400, unknown routes 404 (JSON under /api/), never 500.
--
-- Template contexts (every page also gets token = the server's token or nil):
--   index.html  { runs = { view.list_item_html(row)... }, page =, pages =, total =, status = "" | S,
--                 q = "" | text, filters = { {value=, label=}... } (the status menu) }
--   run.html    { run = the get_run table, m = view.run_model(run) }
--   compare.html { c = compare.model(run_a, run_b) (c.a.badge, c.b.badge set) }
--   error.html  { code =, title =, message = }

local store = require "grokspicy.store"
local cjson = require "cjson"
local json_c = require "grokspicy.sorted_json"
local view = require "grokspicy.view"

local M = {}

local PAGE_SIZE = 25

local conf, db

-- Pages of finished runs, by run id: {version =, body =}. A finished run's page
-- is made from the store alone (no clock: its times stop at the end), so it is
-- valid while nothing was committed: PRAGMA data_version moves on every commit
-- of another connection, and this state's own writes empty the memo. Bounded in
-- bytes: emptied when it would pass PAGE_MEMO_BYTES.
local PAGE_MEMO_BYTES = 4 * 1024 * 1024
local page_memo, page_memo_bytes = {}, 0
local function forget_pages() page_memo, page_memo_bytes = {}, 0 end

-- Bodies of the run list and of GET /api/runs, by their query: {version =, body =},
-- kept as finished runs' pages are (data_version). A list page is kept only when
-- none of its entries moves with the clock (view.list_item_timeless). Bounded in
-- entries and bytes: emptied when it would pass LIST_MEMO_MAX or LIST_MEMO_BYTES.
local LIST_MEMO_MAX, LIST_MEMO_BYTES = 64, 4 * 1024 * 1024
local list_memo, list_memo_n, list_memo_bytes = {}, 0, 0

-- Everything kept: this state's own commits do not move its data_version.
local function forget_kept()
  forget_pages()
  list_memo, list_memo_n, list_memo_bytes = {}, 0, 0
end

local function list_kept(key, version)
  local kept = list_memo[key]
  return kept and kept.version == version and kept.body or nil
end

local function keep_list(key, version, body)
  local old = list_memo[key]
  if not old and list_memo_n >= LIST_MEMO_MAX or list_memo_bytes + #body > LIST_MEMO_BYTES then
    list_memo, list_memo_n, list_memo_bytes, old = {}, 0, 0, nil
  end
  if old then list_memo_bytes = list_memo_bytes - #old.body else list_memo_n = list_memo_n + 1 end
  list_memo[key], list_memo_bytes = { version = version, body = body }, list_memo_bytes + #body
end

--- Called once per Lua state by the server: {output_dir=, db=, token=}.
function M.init(opts)
  conf = opts or {}
  -- A small page cache: pages read the newest rows (a few pages); the rare count
  -- over the whole table would otherwise leave 2 MB cached per state.
  local conn, err = store.init_db(conf.db or ((conf.output_dir or "output") .. "/grok_spicy.db"),
    { cache_kb = 256 })
  if not conn then error("web.init: " .. err, 0) end
  db = conn
  forget_kept() -- another database's run ids
end

-- JSON ------------------------------------------------------------------------

-- cjson 2.1.0 has no array marker: empty tables under these keys (and at the top
-- of a list response) are arrays.
local ARRAY_KEYS = { characters = true, scenes = true, character_assets = true, keyframe_assets = true,
  video_assets = true, personality_cues = true, characters_present = true, issues = true, steps = true,
  remake = true, reuse = true, forks = true }

--- Encodes v with object keys sorted; as_array makes an empty top-level table "[]".
--- Each scalar is written as cjson.encode writes it (grokspicy.sorted_json, in C).
function M.json(v, as_array)
  return json_c.encode_sorted(v, as_array, ARRAY_KEYS, cjson.encode)
end

-- Responses -------------------------------------------------------------------

--- A request path as text that is always valid UTF-8: bytes of an invalid
--- sequence become U+FFFD, so an echoed path never breaks the JSON or the page.
function M.printable(s)
  if utf8.len(s) then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local ok, cp = pcall(utf8.codepoint, s, i)
    if ok then
      local ch = utf8.char(cp)
      out[#out + 1] = ch
      i = i + #ch
    else
      out[#out + 1] = "\u{FFFD}"
      i = i + 1
    end
  end
  return table.concat(out)
end

local function json(status, v, as_array)
  return { status = status, headers = { ["Content-Type"] = "application/json" }, body = M.json(v, as_array) }
end

local function html(status, body)
  return { status = status, headers = { ["Content-Type"] = "text/html; charset=utf-8" }, body = body }
end

local TITLES = { [400] = "Bad request", [404] = "Not found", [405] = "Method not allowed" }

local function error_page(code, message)
  local ok, body = pcall(view.render, "error.html", { code = code, title = TITLES[code] or "Error",
    message = message, token = conf and conf.token })
  if not ok then -- a missing or broken template must not turn a 404 into a 500
    body = ("<!doctype html><meta charset=utf-8><title>%d</title><h1>%d</h1><p>%s</p>")
      :format(code, code, require("grokspicy.template").escape(message))
  end
  return html(code, body)
end

local function fail(req, code, message)
  if req.path:sub(1, 5) == "/api/" then return json(code, { error = message }) end
  return error_page(code, message)
end

-- Parameters --------------------------------------------------------------------

-- A non-negative integer query parameter: default when absent or empty, nil + message when malformed.
local function int_param(req, name, default, min, max)
  local s = req.query[name]
  if s == nil or s == "" then return default end
  if not s:match("^%d+$") or #s > 15 then return nil, ("%s must be a non-negative integer"):format(name) end
  local n = math.tointeger(tonumber(s))
  if n < min then return nil, ("%s must be at least %d"):format(name, min) end
  if max and n > max then n = max end
  return n
end

local vocab = require "grokspicy.vocab"
local UNENDED = vocab.unended_filter
local VALID_STATUS = { [UNENDED] = true }
for _, s in ipairs(view.STATUSES) do VALID_STATUS[s] = true end

local function status_param(req)
  local s = req.query.status
  if s == nil or s == "" then return nil end
  if not VALID_STATUS[s] then return false end
  return s
end

local function parse_id(s)
  if not s or not s:match("^[1-9]%d*$") or #s > 15 then return nil end
  return math.tointeger(tonumber(s))
end

-- Handlers ------------------------------------------------------------------------

local function index(req)
  local page, err = int_param(req, "page", 1, 1)
  if not page then return fail(req, 400, err) end
  local status = status_param(req)
  if status == false then return fail(req, 400, "unknown status") end
  local q = req.query.q or ""
  local version = db:data_version() -- read first: a commit after it only makes the memo miss
  local key = ("page\0%d\0%s\0%s"):format(page, status or "", q)
  local kept = list_kept(key, version)
  if kept then return html(200, kept) end
  local filter = { status = status, q = q ~= "" and q or nil }
  local total = db:count_runs(filter)
  local pages = math.max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
  page = math.min(page, pages) -- past the end shows the last page, not "no runs yet"
  filter.limit, filter.offset = PAGE_SIZE, (page - 1) * PAGE_SIZE
  local runs, timeless = {}, true
  local places = require("grokspicy.queue").places(db)
  for i, row in ipairs(db:list_runs(filter)) do
    row.queue_place = places[row.id]
    timeless = timeless and view.list_item_timeless(row)
    -- A running run's progress is its page's (the same model): a few runs at most.
    local model
    if view.is_running(row.status) then
      local full = db:get_run(row.id, { timeline = true })
      model = full and view.run_model(full)
    end
    runs[i] = view.list_item_html(row, model)
  end
  local body = view.render("index.html", { runs = runs, page = page, pages = pages, total = total,
    status = status or "", q = q, filters = view.status_filters(status), token = conf.token })
  if timeless then keep_list(key, version, body) end
  return html(200, body)
end

local function run_page(_, id)
  local version = db:data_version() -- read first: a commit after it only makes the memo miss
  local kept = page_memo[id]
  if kept and kept.version == version then return html(200, kept.body) end
  -- The stream starts after the last event read before the page: at worst an
  -- event the page already shows comes again (swaps are idempotent), never one lost.
  local after = db:max_event_id(id)
  local run = db:get_run(id, { timeline = true })
  if not run then return error_page(404, ("Run %d not found."):format(id)) end
  if view.is_running(run.status) then
    run.history = require("grokspicy.timing").history(db, run.provider, run.id)
  end
  if run.status == "queued" then run.queue_place = require("grokspicy.queue").places(db)[id] end
  local m = view.run_model(run)
  local body = view.render("run.html", { run = run, m = m, token = conf.token, live = not m.terminal,
    after = after })
  if m.terminal then
    if page_memo_bytes + #body > PAGE_MEMO_BYTES then forget_pages() end
    if kept then page_memo_bytes = page_memo_bytes - #kept.body end
    page_memo[id], page_memo_bytes = { version = version, body = body }, page_memo_bytes + #body
  end
  return html(200, body)
end

-- A run's script.md as a storyboard page: its images are the run's files
-- under /output/ (the raw file's links are relative to the output folder).
local function script_page(_, id)
  local run = db:get_run(id)
  if not run then return error_page(404, ("Run %d not found."):format(id)) end
  local md = require "grokspicy.markdown"
  local path = run.script_path
  if type(path) ~= "string" or not md.run_file(path, id) then
    return error_page(404, ("Run %d has no script yet."):format(id))
  end
  local f = io.open((conf.output_dir or "output") .. "/" .. path, "rb")
  if not f then return error_page(404, ("The script of run %d is gone from its folder."):format(id)) end
  local text = f:read("a") or ""
  f:close()
  return html(200, view.render("script.html", { id = id, path = path, body = md.render(text, id),
    token = conf.token }))
end

local function api_runs(req)
  local limit, err = int_param(req, "limit", 50, 0, 500)
  if not limit then return fail(req, 400, err) end
  local offset, err2 = int_param(req, "offset", 0, 0)
  if not offset then return fail(req, 400, err2) end
  local status = status_param(req)
  if status == false then return fail(req, 400, "unknown status") end
  -- The rows are the store's alone (no clock): kept while nothing was committed.
  local version = db:data_version()
  local key = ("api\0%d\0%d\0%s"):format(limit, offset, status or "")
  local body = list_kept(key, version)
  if not body then
    body = M.json(db:list_runs { limit = limit, offset = offset, status = status }, true)
    keep_list(key, version, body)
  end
  return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = body }
end

local function api_run(_, id)
  local run = db:get_run(id, { timeline = true })
  if not run then return json(404, { error = ("run %d not found"):format(id) }) end
  local m = view.run_model(run)
  run.timeline = nil
  -- The plan as the object it is, not a string holding JSON.
  if type(run.plan_json) == "string" then
    local ok, plan = pcall(cjson.decode, run.plan_json)
    if ok and type(plan) == "table" then run.plan_json = plan end
  end
  run.active_seconds, run.wall_seconds = m.active, m.wall
  run.steps = {}
  for i, s in ipairs(m.steps) do run.steps[i] = { key = s.key, label = s.label, state = s.state } end
  if m.stop then
    run.stop = { kind = m.stop.kind, at = m.stop.at, reason = m.stop.reason, by = m.stop.by, step = m.stop.step,
      scene_id = m.stop.scene_id, character = m.stop.character, asset = m.stop.asset }
  end
  return json(200, run)
end

-- Every file of a run worth keeping, as one zip streamed by C (grokspicy.bundle
-- says what and under which names; core/http_bundle.c what may go in).
local function api_bundle(req, id)
  local a = req.query.attempts
  if a ~= nil and a ~= "" and a ~= "0" and a ~= "1" then
    return json(400, { error = "attempts must be 0 or 1" })
  end
  local run = db:get_run(id)
  if not run then return json(404, { error = ("run %d not found"):format(id) }) end
  local bundle = require "grokspicy.bundle"
  local plan = run.plan_json
  if type(plan) == "table" then plan = M.json(plan) end
  local name = bundle.filename(run)
  return { status = 200, headers = { ["Content-Type"] = "application/zip",
    ["Content-Disposition"] = ('attachment; filename="%s"'):format(name), ["Cache-Control"] = "no-store" },
    zip = bundle.spec(run, { attempts = a == "1", plan_json = type(plan) == "string" and plan or nil }) }
end

-- Two runs side by side (grokspicy.compare): /compare?a=7&b=9.
local function compare_page(req)
  local ids = {}
  for _, k in ipairs { "a", "b" } do
    local raw = req.query[k]
    if raw == nil or raw == "" then
      return error_page(400, "Pick two runs to compare: /compare?a=7&b=9 (" .. k .. " is missing).")
    end
    ids[k] = parse_id(raw)
    if not ids[k] then
      return error_page(400, ("%s must be a run number (1, 2, ...), not '%s'."):format(k, M.printable(raw)))
    end
  end
  if ids.a == ids.b then return error_page(400, ("a and b are both run %d: pick two runs."):format(ids.a)) end
  local ra, rb = db:get_run(ids.a), db:get_run(ids.b)
  if not ra or not rb then
    return error_page(404, ("Run %d not found."):format(not ra and ids.a or ids.b))
  end
  local c = require("grokspicy.compare").model(ra, rb)
  c.a.badge, c.b.badge = view.badge_class(ra.status), view.badge_class(rb.status)
  return html(200, view.render("compare.html", { c = c, token = conf.token }))
end

local function api_page()
  return html(200, view.render("api.html", { statuses = view.STATUSES, unended = UNENDED, token = conf.token }))
end

local function health()
  return json(200, { status = "ok" })
end

-- Actions -----------------------------------------------------------------------

-- A state-changing request must come from our own pages: htmx sends HX-Request
-- (a custom header: a cross-site form cannot, and a cross-site fetch would need
-- a CORS preflight we never grant); browsers send Origin and Sec-Fetch-Site.
local function same_origin(req)
  local h = req.headers or {}
  local site = h["sec-fetch-site"]
  if site and site ~= "same-origin" and site ~= "none" then return false end
  if h["hx-request"] == "true" or site == "same-origin" then return true end
  local origin, host = h.origin, h.host
  return origin ~= nil and host ~= nil and (origin == "http://" .. host or origin == "https://" .. host)
end

local function is_htmx(req)
  return (req.headers or {})["hx-request"] == "true"
end

local function actions_fragment(run, pending)
  return view.render("partials/run_actions.html", { m = view.run_model(run), pending = pending })
end

local function api_cancel(req, id)
  -- A run whose process died cannot be cancelled: request_cancel marks it interrupted first.
  forget_kept() -- this connection writes: data_version does not see its own commits
  local run = db:get_run(id)
  if not run then return json(404, { error = ("run %d not found"):format(id) }) end
  -- A queued run has no process to ask: it is cancelled here, unless it just started.
  if require("grokspicy.queue").cancel(db, id) then
    run = db:get_run(id)
    if is_htmx(req) then return html(202, actions_fragment(run)) end
    return json(202, { run_id = id, status = run.status })
  end
  local ok = db:request_cancel(id)
  if not ok then
    run = db:get_run(id) or run -- as the store left it (a dead run's status is interrupted now)
    return json(409, { error = ("run %d is %s: nothing to cancel"):format(id, run.status), status = run.status })
  end
  if is_htmx(req) then return html(202, actions_fragment(run, "cancelling")) end
  return json(202, { run_id = id, status = "cancelling" })
end

-- HTTP status of each reason a claim is refused; the rest are 409.
local REFUSED = { missing = 404, gone = 410 }

-- The run is claimed here, in one transaction, before anything is spawned: of
-- many simultaneous requests one wins and the others get 409. The winner's
-- lock goes to the new process as its fd 3 (the lock belongs to the open file,
-- so it is held throughout: this process lets go only once the child has it),
-- and the child adopts the claim (resume.take with GROK_SPICY_OWNER_FD).
local function api_resume(req, id)
  local resume = require "grokspicy.resume"
  local store_lib = require "grokspicy.store"
  -- A run whose process just died reads interrupted once the claim has decided so (the store).
  forget_kept() -- this connection writes: data_version does not see its own commits
  local after = db:max_event_id(id) -- before the run: the new stream starts after it
  local run = db:get_run(id)
  if not run then return json(404, { error = resume.refusal(nil, id) }) end
  if not conf.flow_script then
    return json(501, { error = "this server knows no flow script to resume with: set GROK_SPICY_FLOW" })
  end
  local sys = require "grokspicy.sys"
  local exe, xerr = sys.exe_path()
  if not exe then return json(500, { error = xerr }) end
  local out_dir = conf.output_dir or "output"
  local ok, why, reason = resume.take(db, id, out_dir)
  if not ok then
    local now = db:get_run(id)
    return json(REFUSED[reason] or 409, { error = why, status = now and now.status, reason = reason })
  end
  local argv = { exe, conf.flow_script, "--resume", tostring(id), "--output-dir", out_dir, "-q" }
  if conf.db then
    argv[#argv + 1] = "--db"
    argv[#argv + 1] = conf.db
  end
  -- A run queued from the dashboard keeps the budget it was given.
  local budget = require("grokspicy.queue").request_of(out_dir, id).budget
  if type(budget) == "number" then
    argv[#argv + 1] = "--budget"
    argv[#argv + 1] = ("%.10g"):format(budget)
  end
  -- Its output goes to a log beside the run's files (.log is never served).
  local pid, err = sys.spawn_detached(argv, ("%s/runs/%d/resume.log"):format(out_dir, id),
    { fd = store_lib.owner_fd(id), env = { [resume.OWNER_FD_ENV] = "3" } })
  store_lib.release_run(id)
  if not pid then
    -- Nothing runs it: say so on the run instead of leaving it claimed.
    db:update_run(id, { status = "failed", error = "resume could not start: " .. tostring(err) })
    return json(500, { error = err })
  end
  if is_htmx(req) then
    local model = view.run_model(run) -- the run as it stood: the live stream brings what follows
    return html(202, view.render("partials/run_live.html", { m = model, live = true, after = after,
      token = conf.token }) .. "\n" .. view.render("partials/run_actions.html", { m = model, pending = "resuming",
      oob = true }))
  end
  return json(202, { run_id = id, pid = pid, status = "resuming" })
end

-- A run asked for from the dashboard (grokspicy.newrun): 202 and the queued
-- run's id and page, or 400 with every problem under its field's name.
local function new_page()
  return html(200, view.render("new.html", { token = conf.token, p = require("grokspicy.newrun").provider_note(),
    max_scenes = (require("grokspicy.plan").max_counts()), max_refs = select(2, require("grokspicy.plan").max_counts()),
    max_ref_mib = require("grokspicy.refs").MAX_BYTES // (1024 * 1024) }))
end

local function api_create_run(req)
  forget_kept() -- this connection writes: data_version does not see its own commits
  local newrun = require "grokspicy.newrun"
  local run_req, errors = newrun.check(req)
  if not run_req then return json(400, { error = newrun.summary(errors), errors = errors }) end
  local id, err = require("grokspicy.queue").enqueue(db, conf.output_dir or "output", run_req)
  if not id then return json(500, { error = err }) end
  -- Open run lists show it at once (their stream reads the store), before it starts.
  local run = db:get_run(id)
  if run then
    run.queue_place = require("grokspicy.queue").places(db)[id]
    pcall(db.append_event, db, { run_id = id, type = "run-new", data = { status = run.status },
      html = view.run_row(run) })
  end
  return json(202, { id = id, url = "/run/" .. id })
end

-- A re-render of run id from its edited plan (grokspicy.fork): 202 and the
-- queued run (its parent id recorded), or with ?dry_run=1 200 and what it would
-- make again and the list price of that, creating nothing; 400 naming the
-- field, 404 for an unknown run.
local function api_fork(req, id)
  forget_kept() -- this connection writes: data_version does not see its own commits
  local parent = db:get_run(id)
  if not parent then return json(404, { error = ("run %d not found"):format(id) }) end
  local fork = require "grokspicy.fork"
  local out_dir = conf.output_dir or "output"
  local run_req, errors = fork.check(req, parent, out_dir)
  if not run_req then
    return json(400, { error = require("grokspicy.newrun").summary(errors), errors = errors })
  end
  local dry = req.query.dry_run
  if dry ~= nil and dry ~= "" and dry ~= "0" then
    if dry ~= "1" then return json(400, { error = "dry_run must be 1 or 0" }) end
    local p = fork.preview_request(db, out_dir, run_req)
    return json(200, { parent_id = id, provider = p.provider, cost_usd = p.cost_usd, remake = p.remake,
      reuse = p.reuse })
  end
  local new_id, err = require("grokspicy.queue").enqueue(db, out_dir, run_req)
  if not new_id then return json(500, { error = err }) end
  return json(202, { id = new_id, url = "/run/" .. new_id, parent_id = id })
end

-- The body of one asset's attempts panel (?asset= its panel key,
-- "character:NAME", "scene:N:keyframe", "scene:N:clip"): a live event sends
-- the panel empty and the browser fetches this when it is opened.
local function attempts_part(req, id)
  local key = req.query.asset
  if type(key) ~= "string" or key == "" then return error_page(400, "Which asset? ?asset= is missing.") end
  local run = db:get_run(id, { timeline = true })
  if not run then return error_page(404, ("Run %d not found."):format(id)) end
  local m = view.run_model(run)
  local function found(p, what)
    return html(200, view.render("partials/attempts_body.html", { p = p, what = what }))
  end
  for _, c in ipairs(m.characters) do
    if c.panel and c.panel.key == key then return found(c.panel, "Character sheet of " .. c.name) end
  end
  for _, s in ipairs(m.scenes) do
    if s.keyframe_panel and s.keyframe_panel.key == key then
      return found(s.keyframe_panel, "Keyframe of scene " .. s.scene_id)
    end
    if s.video_panel and s.video_panel.key == key then return found(s.video_panel, "Clip of scene " .. s.scene_id) end
  end
  return error_page(404, ("Run %d has no attempts of %s."):format(id, M.printable(key)))
end

-- Routing: exact paths, then "/prefix/{id}" patterns.
local EXACT = { ["/"] = index, ["/api"] = api_page, ["/api/runs"] = api_runs, ["/health"] = health,
  ["/new"] = new_page, ["/compare"] = compare_page }
local WITH_ID = { { "^/run/([^/]+)$", run_page }, { "^/run/([^/]+)/script$", script_page },
  { "^/run/([^/]+)/attempts$", attempts_part },
  { "^/api/runs/([^/]+)$", api_run }, { "^/api/runs/([^/]+)/bundle$", api_bundle },
  { "^/api/runs/([^/]+)/cancel$", api_cancel, "POST" }, { "^/api/runs/([^/]+)/resume$", api_resume, "POST" },
  { "^/api/runs/([^/]+)/fork$", api_fork, "POST" } }

--- The server calls handle(req) -> {status=, headers=, body=} for every route C does not own;
--- instead of body, zip = {root=, entries=, dirs=} answers a zip C streams from that folder (grokspicy.bundle).
function M.handle(req)
  local fn, id, method
  fn = EXACT[req.path]
  if req.path == "/api/runs" and req.method == "POST" then fn, method = api_create_run, "POST" end
  if not fn then
    for _, r in ipairs(WITH_ID) do
      local raw = req.path:match(r[1])
      if raw then
        id = parse_id(raw)
        if not id then return fail(req, 400, ("bad run id '%s'"):format(M.printable(raw))) end
        fn, method = r[2], r[3]
        break
      end
    end
  end
  if not fn then return fail(req, 404, "Nothing here: " .. M.printable(req.path)) end
  if method == "POST" then
    if req.method ~= "POST" then
      local res = fail(req, 405, "method not allowed")
      res.headers.Allow = "POST"
      return res
    end
    if not same_origin(req) then
      return json(403, { error = "cross-site request refused: send HX-Request: true or a same-origin Origin" })
    end
    return fn(req, id)
  end
  if req.method ~= "GET" and req.method ~= "HEAD" then
    local res = fail(req, 405, "method not allowed")
    res.headers.Allow = req.path == "/api/runs" and "GET, HEAD, POST" or "GET, HEAD"
    return res
  end
  return fn(req, id)
end

return M
